"""TRL's and verl's names (grpo.core.config.Foreign): each accepted one gives the TrainConfig of
this project's name, as a `grpo train` flag and as a grid key; the ones with no equal are refused
in one line saying what to use; docs/compatibility.md lists every option and every name accepted."""

import re
from pathlib import Path

import pytest

from grpo.cli import build_parser, main
from grpo.cli.train import config_from_args
from grpo.core.config import CONFIG_FIELDS, FIELDS, FOREIGN, TrainConfig, in_own_terms
from grpo.errors import FieldError, UsageError
from grpo.experiment.grids import parse_grid

TRANSFORMER = {"policy": "transformer"}
# (foreign key, its value, field, the value in this project's terms, the other fields the field needs)
ACCEPTED = [
    ("beta", 0.04, "kl_penalty", 0.04, {}),
    ("kl_loss_coef", 0.001, "kl_penalty", 0.001, {}),
    ("kl_loss_type", "low_var_kl", "kl_estimator", "k3", {"kl_penalty": 0.1}),
    ("kl_loss_type", "kl", "kl_estimator", "k1", {"kl_penalty": 0.1}),
    ("kl_loss_type", "mse", "kl_estimator", "k2", {"kl_penalty": 0.1}),
    ("kl_estimator", "low_var_kl", "kl_estimator", "k3", {"kl_penalty": 0.1}),
    ("clip_ratio", 0.2, "epsilon", 0.2, {"loss_mode": "clipped"}),
    ("clip_ratio_low", 0.1, "epsilon_low", 0.1, {"loss_mode": "clip_higher"}),
    ("clip_ratio_high", 0.3, "epsilon_high", 0.3, {"loss_mode": "clip_higher"}),
    ("num_iterations", 3, "steps_per_epoch", 3, {}),
    ("ppo_epochs", 2, "steps_per_epoch", 2, {}),
    ("num_generations", 4, "responses", 4, {}),
    ("learning_rate", 0.01, "lr", 0.01, {}),
    ("loss_type", "grpo", "loss_agg", "seq_mean_token_mean", TRANSFORMER),
    ("loss_type", "dapo", "loss_agg", "token_mean", TRANSFORMER),
    ("loss_type", "bnpo", "loss_agg", "token_mean", TRANSFORMER),
    ("loss_type", "dr_grpo", "loss_agg", "seq_mean_token_sum_norm", TRANSFORMER),
    ("loss_agg_mode", "token-mean", "loss_agg", "token_mean", TRANSFORMER),
    ("loss_agg_mode", "seq-mean-token-mean", "loss_agg", "seq_mean_token_mean", TRANSFORMER),
    ("loss_agg_mode", "seq-mean-token-sum-norm", "loss_agg", "seq_mean_token_sum_norm", TRANSFORMER),
    ("loss_agg", "seq-mean-token-mean", "loss_agg", "seq_mean_token_mean", TRANSFORMER),
    ("max_completion_length", 12, "max_response_length", 12, TRANSFORMER),
    ("use_kl_in_reward", "true", "kl_placement", "reward", {"kl_penalty": 0.1}),
    ("use_kl_in_reward", "false", "kl_placement", "loss", {"kl_penalty": 0.1}),
    ("use_bias_correction_kl", "true", "kl_estimator", "k3_corrected", {"kl_penalty": 0.1}),
    ("use_bias_correction_kl", "false", "kl_estimator", "k3", {"kl_penalty": 0.1}),
    ("kl_loss_type", "k3+", "kl_estimator", "k3_plus", {"kl_penalty": 0.1}),
    ("kl_loss_type", "abs", "kl_estimator", "abs", {"kl_penalty": 0.1}),
    ("scale_rewards", "batch", "deltas_mode", "group_mean_batch_std", {}),
    ("adv_estimator", "opo", "deltas_mode", "opo", {}),
    ("delta", 2.0, "clip_ratio_c", 2.0, {"loss_mode": "clipped"}),
    ("tau_neg", 1.2, "sapo_temperature_neg", 1.2, {"loss_mode": "sapo"}),
]
REFUSED = [  # (foreign key, value, what the one-line error must say to use)
    ("kl_coef", 0.1, "use kl_penalty with kl_placement reward"), ("num_train_epochs", 3, "epochs counts rollouts"),
    ("total_epochs", 3, "epochs counts rollouts"), ("loss_type", "cispo", "use loss_mode cispo and loss_agg token_mean"),
    ("loss_type", "seq_mean_token_mean", "choose from grpo, dapo, bnpo, dr_grpo"),
    ("loss_agg_mode", "seq-mean-token-sum", "the nearest is seq_mean_token_sum_norm"),
    ("kl_loss_type", "full", "this project has no full-vocabulary KL"),
]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_of(**flags) -> TrainConfig:
    argv = [text for name, value in flags.items() for text in (flag(name), str(value))]
    return config_from_args(build_parser("train").parse_args(["train", *argv]))


def grid_configs(**keys) -> list[TrainConfig]:
    text = "[grid]\n" + "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in keys.items())
    return parse_grid("g", text).configs()


@pytest.mark.parametrize("key, value, field, ours, needs", ACCEPTED, ids=[f"{c[0]}={c[1]}" for c in ACCEPTED])
def test_each_accepted_name_gives_the_config_of_this_projects_name(key, value, field, ours, needs):
    expected = TrainConfig(**needs, **{field: ours})
    assert config_of(**needs, **{key: value}) == config_of(**needs, **{field: ours}) == expected
    assert grid_configs(**needs, **{key: value}) == grid_configs(**needs, **{field: ours}) == [expected]
    assert grid_configs(**needs, **{key: [value]}) == [expected]  # an axis: each value translated


@pytest.mark.parametrize("key, value, advice", REFUSED, ids=[f"{c[0]}={c[1]}" for c in REFUSED])
def test_names_with_no_equal_are_refused_in_one_line_saying_what_to_use(key, value, advice, train_refusal):
    for argv in ([flag(key), str(value)], ["--steps-per-epoch", "1", flag(key), str(value)]):  # first or after another
        err = train_refusal(argv)
        assert err.startswith(f"grpo train: error: {flag(key)} '{value}': ") and advice in err
    with pytest.raises(FieldError, match=re.escape(f"grid 'g': [grid] {key} ") + ".*" + re.escape(advice)):
        grid_configs(**{key: value})


def test_a_field_named_twice_in_a_grid_is_refused():
    with pytest.raises(UsageError, match="both name kl_penalty; keep one"):
        grid_configs(kl_penalty=0.1, beta=0.2)


def test_beta_notes_the_kl_scaling_and_a_refused_value_is_named_as_typed(capsys, train_refusal):
    assert main(["train", "--beta", "0.1", "--epochs", "1", "--steps-per-epoch", "1", "--quiet"]) == 0
    assert "note: --beta is kl_penalty: with kl_reduction 'sum'" in capsys.readouterr().err
    refused = train_refusal(["--loss-type", "dapo"])  # loss_agg needs the transformer
    assert refused.startswith("grpo train: error: --loss-type 'dapo': does not apply to policy 'seed'")


def compatibility_rows() -> dict[str, str]:
    """docs/compatibility.md's option table: the grpo option (first cell, in backquotes) -> its row."""
    text = (Path(__file__).parents[2] / "docs" / "compatibility.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return {re.match(r"\| `(\w+)`", row).group(1): row for row in rows}


def test_the_compatibility_table_lists_every_option_and_every_name_accepted():
    rows = compatibility_rows()
    assert set(rows) == set(CONFIG_FIELDS)
    for name, (field, _) in FOREIGN.items():
        assert f"`{name}`" in rows[field], f"{name} missing from the row of {field}"
    for spec in FIELDS.values():
        for alias in spec.metadata["foreign"]:
            for value in alias.values:
                assert f"`{value}`" in rows[spec.name], f"{alias.name} value {value} missing from the row of {spec.name}"


def test_a_toml_boolean_for_verls_use_kl_in_reward_is_a_placement():
    assert in_own_terms("use_kl_in_reward", True) == ("kl_placement", "reward", "")
    assert in_own_terms("use_kl_in_reward", [False, True]) == ("kl_placement", ["loss", "reward"], "")
    grid = parse_grid("g", "[grid]\nkl_penalty = 0.1\nuse_kl_in_reward = [true, false]\n")
    assert [c.kl_placement for c in grid.configs()] == ["reward", "loss"]
