"""`grpo train` and the `grpo` command: flags generated from TrainConfig, refused input as one
line naming the flag as typed, the accepted seed forms; one end-to-end run in a subprocess."""

import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from grpo.cli import build_parser, main
from grpo.cli.train import config_from_args, summary
from grpo.core.config import CONFIG_FIELDS, FIELDS, FOREIGN, TrainConfig
from grpo.core.schema import COLUMNS, EVAL_METRICS, SUMMARY_METRICS
from grpo.core.seeds import parse_seeds
from grpo.core.train import train
from grpo.errors import FieldError


def test_train_end_to_end_writes_records_and_prints_a_summary(tmp_path):
    """The one true end-to-end run; `-X importtime` lists every module it imported: a run of
    `grpo train` (which imports all that its --help does) loads no plotting or Ray code."""
    out = tmp_path / "run.parquet"
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "grpo", "train", "--seeds", "3", "--epochs", "5",
                           "--steps-per-epoch", "2", "--loss", "clipped", "--kl", "0.1", "--out", str(out), "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert {"grpo.core.train", "grpo.core.seeds", "torch", "pandas"} <= imported  # the listing is complete
    assert not {"seaborn", "scipy", "matplotlib", "ray"} & imported
    records = pd.read_parquet(out)
    assert len(records) == 3 * 5 * 2 and sorted(records.seed.unique()) == [0, 1, 2]
    assert set(records.loss_mode) == {"clipped"} and set(records.kl_penalty) == {0.1}
    # the task columns describe the seed task that was trained, not the random task's defaults
    assert records[["task_length", "task_vocab", "task_prompts", "task_heldout"]].drop_duplicates().values.tolist() == [
        [3, 5, 3, 122]]
    assert set(records.config_id) == {TrainConfig(loss_mode="clipped", kl_penalty=0.1, epochs=5,
                                                  steps_per_epoch=2).config_id}
    summary = {line.split()[0] for line in done.stdout.splitlines()[2:5]}
    assert summary == {"reward_frac", "sorted_frac", "greedy_train_acc"} and "30 rows" in done.stdout
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_train_without_out_imports_no_pandas_and_prints_the_seed_means():
    """Without --out, `grpo train` never imports pandas or pyarrow (about 0.5 s of a process,
    bench/test_process.py); its summary is the seed-mean of the first and last epoch, as pandas
    computes it from the records (to the 3 decimals printed)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "grpo", "train", "--seeds", "3", "--epochs", "4",
                           "--loss", "clipped", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" in imported and not {"pandas", "pyarrow"} & imported
    records = train(TrainConfig(loss_mode="clipped", epochs=4), range(3))
    per_epoch = records.groupby("epoch")[list(SUMMARY_METRICS)].mean()
    summary = done.stdout.splitlines()[2:2 + len(SUMMARY_METRICS)]
    printed = {line.split()[0]: [float(value) for value in line.split()[1:]] for line in summary}
    assert list(printed) == list(SUMMARY_METRICS)
    for name, (start, end) in printed.items():
        assert start == pytest.approx(per_epoch[name].iloc[0], abs=5e-4) and end == pytest.approx(per_epoch[name].iloc[-1], abs=5e-4)


def test_summary_starts_each_metric_at_its_first_recorded_epoch():
    """With eval_every 3 the eval metrics are recorded at epochs 2 and 5 (the last) only: their
    start is epoch 2's seed-mean, not a mean of nothing, and no warning is raised."""
    records = train(TrainConfig(epochs=6, eval_every=3), range(2))
    columns = {name: records[name].to_numpy() for name in ["epoch", *SUMMARY_METRICS]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        printed = summary(columns).splitlines()[1:]
    per_epoch = records.groupby("epoch")[list(SUMMARY_METRICS)].mean()
    for line, name in zip(printed, SUMMARY_METRICS, strict=True):
        start, end = (float(value) for value in line.split()[1:])
        first = 2 if name in EVAL_METRICS else 0
        assert start == pytest.approx(per_epoch[name].loc[first], abs=5e-4)
        assert end == pytest.approx(per_epoch[name].loc[5], abs=5e-4)


def test_summary_of_a_metric_never_finite_is_nan():
    """A metric with no finite value (a plugin's reward whose best is 0: reward_frac 0 / 0) prints
    nan, beside the others' numbers."""
    columns = {"epoch": np.repeat(np.arange(3), 2), **{name: np.ones(6) for name in SUMMARY_METRICS}}
    columns[SUMMARY_METRICS[0]] = np.full(6, np.nan)
    lines = summary(columns).splitlines()[1:]
    assert lines[0].split()[1:] == ["nan", "nan"] and lines[1].split()[1:] == ["1.000", "1.000"]


def test_grpo_alone_prints_the_commands_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: grpo") and all(name in err for name in ("train", "sweep", "report", "bench"))


def help_flags(capsys) -> set[str]:
    """Every option string of `grpo train --help`, read from the option lines (not by substring)."""
    assert main(["train", "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    options = [line.split("  ")[1] if line.startswith("  ") else "" for line in lines]
    return {flag for option in options if option.startswith("-") for flag in re.findall(r"(?<![\w-])--?[\w-]+", option)}


def test_help_has_one_flag_per_grid_key_plus_the_aliases(capsys):
    expected = {"--" + name.replace("_", "-") for name in CONFIG_FIELDS}
    expected |= {"--reward", "--deltas", "--loss", "--kl", "--seeds", "--device", "--out", "--quiet", "-h", "--help"}
    expected |= {alias.flag for _, alias in FOREIGN.values() if not alias.instead}  # TRL's and verl's names
    assert help_flags(capsys) == expected


def test_help_of_each_choice_is_its_registry_docstring_first_line(capsys):
    main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for spec in FIELDS.values():
        for choice, function in (spec.metadata["choices"] or {}).items():
            assert f"{choice}: {function.__doc__.strip().splitlines()[0]}" in text


def config_of(*argv) -> TrainConfig:
    return config_from_args(build_parser("train").parse_args(["train", *argv]))


def test_aliases_and_grid_key_flags_give_the_same_config():
    short = config_of("--loss", "clipped", "--kl", "0.1", "--deltas", "rloo", "--reward", "exact_match")
    long = config_of("--loss-mode", "clipped", "--kl-penalty", "0.1", "--deltas-mode", "rloo", "--reward-fn", "exact_match")
    assert short == long == TrainConfig(loss_mode="clipped", kl_penalty=0.1, deltas_mode="rloo", reward_fn="exact_match")
    assert config_of() == TrainConfig()


def test_errors_name_the_flag_as_typed():
    for typed in ("--kl", "--kl-penalty"):
        with pytest.raises(FieldError, match=f"^{typed} -0.1: must be non-negative$"):
            config_of(typed, "-0.1")
    with pytest.raises(FieldError, match="^--loss 'ppo': unknown choice; choose from naive, "):
        config_of("--loss", "ppo")


@pytest.mark.parametrize("spec, seeds", [
    (3, (0, 1, 2)), ("3", (0, 1, 2)), ("3,7,9", (3, 7, 9)), ("10-12", (10, 11, 12)), ("4-4", (4,)), ([4, 2], (4, 2)),
    ("0,5", (0, 5)),
])
def test_accepted_seed_forms(spec, seeds):
    assert parse_seeds(spec) == seeds


@pytest.mark.parametrize("spec", [0, -1, "0", "-2", "a,b", "1,1", "5-2", "1-2-3", "", [], [1, 1], [-1], [1.5], True,
                                  2.5, "all", None])
def test_refused_seed_forms(spec):
    with pytest.raises(FieldError, match=re.escape(f"--seeds {spec!r}:")):
        parse_seeds(spec, "--seeds")


def test_the_seeds_given_are_the_seeds_trained(tmp_path, capsys):
    out = tmp_path / "r.parquet"
    assert main(["train", "--seeds", "7,3", "--epochs", "1", "--steps-per-epoch", "1", "--quiet", "--out", str(out)]) == 0
    assert pd.read_parquet(out).seed.tolist() == [7, 3]
    assert "2 seed(s)" in capsys.readouterr().out


def test_grpo_train_returns_what_out_writes(tmp_path):
    """`grpo.train()` and `grpo train --out` give the same records: the same columns in the same
    order (the metrics of COLUMNS, then every field of the configuration), types and values."""
    out = tmp_path / "r.parquet"
    flags = ["--seeds", "5,2", "--epochs", "2", "--steps-per-epoch", "2", "--loss", "clipped", "--kl", "0.05"]
    assert main(["train", *flags, "--quiet", "--out", str(out)]) == 0
    config = TrainConfig(loss_mode="clipped", kl_penalty=0.05, epochs=2, steps_per_epoch=2)
    returned = train(config, [5, 2])
    assert list(returned.columns) == [*COLUMNS, *CONFIG_FIELDS] and len(returned.columns) > len(COLUMNS)
    pd.testing.assert_frame_equal(returned, pd.read_parquet(out), check_exact=True)


TRAIN = ["train", "--epochs", "1", "--quiet"]
MALFORMED_TRAIN = [
    (["--loss", "ppo"], "--loss 'ppo'"), (["--loss-mode", ""], "--loss-mode ''"), (["--deltas", "zscore"], "'zscore'"),
    (["--reward", "bleu"], "--reward 'bleu'"), (["--task", "tsp"], "--task 'tsp'"), (["--epochs", "0"], "--epochs 0"),
    (["--epochs", "-3"], "--epochs -3"), (["--epochs", "ten"], "--epochs 'ten'"), (["--epochs", "2.5"], "--epochs '2.5'"),
    (["--steps-per-epoch", "0"], "--steps-per-epoch 0"), (["--responses", "0"], "--responses 0"),
    (["--task", "random", "--task-seed", "99999999999999999999"], "--task-seed 99999999999999999999: must lie in [0, 2^63 - 1"),
    (["--responses", "1", "--deltas", "normalized_rewards"], "normalized_rewards"),
    (["--responses", "1", "--deltas", "centered_rewards"], "centered_rewards"),
    (["--dim", "100000"], "--dim 100000"), (["--responses", "100000000"], "--responses 100000000"),
    (["--responses", "1", "--deltas", "batch_normalized"], "batch_normalized"), (["--dim", "0"], "--dim 0"),
    (["--lr", "nan"], "--lr nan"), (["--lr", "0"], "--lr 0.0"), (["--lr=-1e-3"], "--lr -0.001"),
    (["--lr", "fast"], "--lr 'fast'"), (["--loss", "clipped", "--epsilon", "0"], "--epsilon 0.0"),
    (["--loss", "gspo", "--epsilon", "1.5"], "--epsilon 1.5"), (["--epsilon", "nan"], "--epsilon nan"),
    (["--loss", "cispo", "--epsilon-low", "1.5"], "--epsilon-low 1.5"),
    (["--loss", "clip_higher", "--epsilon-high", "0"], "--epsilon-high 0.0"),
    (["--kl", "-0.1"], "--kl -0.1"), (["--kl", "inf"], "--kl inf"), (["--kl", "lots"], "--kl 'lots'"),
    (["--kl", "0.1", "--ref-period", "0"], "--ref-period 0"), (["--kl", "0.1", "--kl-reduction", "max"], "'max'"),
    (["--seeds", "0"], "--seeds '0'"), (["--seeds", "-2"], "'-2'"), (["--seeds", "a,b"], "'a,b'"),
    (["--seeds", "1,1"], "'1,1'"), (["--seeds", "5-2"], "'5-2'"),
    (["--task", "random", "--task-length", "2", "--task-vocab", "2"], "2^2"),
    (["--task", "random", "--task-vocab", "1"], "--task-vocab 1"), (["--task", "random", "--task-length", "0"], "--task-length 0"),
    (["--task", "random", "--task-prompts", "0"], "--task-prompts 0"), (["--task", "random", "--task-seed", "-1"], "--task-seed -1"),
    (["--device", "tpu"], "--device 'tpu': unknown device; choose from cpu, cuda"), (["--device", "cuda:x"], "--device 'cuda:x'"),
    (["--out", "records.csv"], "--out 'records.csv': must name a .parquet file"),
    (["--out", "plain_file/records.parquet"], "plain_file"), (["--frobnicate"], "--frobnicate"),
    # options that do not apply to the chosen task, loss or KL setting: refused, saying why
    (["--task-vocab", "3"], "--task-vocab 3: does not apply to task 'seed' (length 3, vocab 5, 3 prompts, 122 held out)"),
    (["--task-seed", "4"], "--task-seed 4: does not apply to task 'seed'"),
    (["--loss", "clipped", "--epsilon-high", "0.3"], "--epsilon-high 0.3: does not apply to loss_mode 'clipped'"),
    (["--epsilon", "0.2"], "--epsilon 0.2: does not apply to loss_mode 'naive'; only clipped, gspo, gspo_token, luspo read it"),
    (["--loss", "cispo", "--epsilon", "0.2"], "does not apply to loss_mode 'cispo'"),
    (["--kl-estimator", "k1"], "--kl-estimator 'k1': does not apply: kl_penalty is 0"),
    (["--kl-reduction", "mean"], "--kl-reduction 'mean': does not apply"), (["--ref-period", "3"], "--ref-period 3"),
    (["--kl", "0.1", "--kl-placement", "rewards"], "--kl-placement 'rewards': unknown choice; choose from loss, reward"),
    (["--kl-placement", "reward"], "--kl-placement 'reward': does not apply: kl_penalty is 0"),
    (["--kl", "0.1", "--kl-placement", "reward", "--kl-reduction", "mean"], "does not apply to kl_placement 'reward'"),
    (["--kl", "0.1", "--use-kl-in-reward", "yes"], "--use-kl-in-reward 'yes': unknown choice; choose from true, false"),
    (["--dynamic-sampling", "-1"], "--dynamic-sampling -1: must be at least 0 (0: off)"),
    (["--dynamic-sampling", "2.5"], "--dynamic-sampling '2.5': must be an integer"),
    (["--kl", "0.1", "--kl-estimator", "k4"], "--kl-estimator 'k4': unknown choice; choose from k1, k2, k3, k3_corrected"),
]


@pytest.mark.parametrize("args, named", MALFORMED_TRAIN, ids=[" ".join(a) for a, _ in MALFORMED_TRAIN])
def test_malformed_train_input(tmp_path, monkeypatch, capsys, args, named):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain_file").write_text("not a folder")
    code = main([*TRAIN, *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain_file"]
