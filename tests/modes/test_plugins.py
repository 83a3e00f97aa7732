"""Plugins: the example package installed for real (pip, entry points) and modes registered
in-process, validated, listed, trained and swept on real Ray like the built-ins."""

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from grpo import TrainConfig, register, train
from grpo.cli import main
from grpo.errors import UsageError
from grpo.experiment.grids import load_grid
from grpo.experiment.provenance import code_fingerprint
from grpo.experiment.store import scan, trial_info, write_trial
from grpo.modes.catalogue import refresh, registries
from grpo.modes.deltas import DELTAS
from grpo.modes.losses import LOSSES
from grpo.sweep.run import run_sweep

EXAMPLE = Path(__file__).parents[2] / "examples" / "grpo-rank-deltas"
BUILT_IN_DELTAS = ["rewards", "centered_rewards", "normalized_rewards", "max_rewards", "rloo", "batch_normalized",
                   "group_mean_batch_std", "reinforce_plus_plus", "reinforce_plus_plus_baseline", "opo", "gpg",
                   "grpo_passk", "remax", "optimal_token_baseline"]


def add_site(site: Path, monkeypatch) -> None:
    """Put `site` on this process's path and on PYTHONPATH (Ray workers started later inherit
    it), then re-discover the entry points; monkeypatch undoes both."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    refresh()


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    """The example plugin installed by pip (no index, no network) into a folder of its own."""
    root = tmp_path_factory.mktemp("example-plugin")
    source, site = root / "source", root / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))  # the build
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(source)], check=True, capture_output=True)  # writes beside its source
    return site


@pytest.fixture
def example_plugin(example_site, monkeypatch):
    add_site(example_site, monkeypatch)
    yield example_site
    refresh()  # the next use re-discovers, after monkeypatch has removed the site
    sys.modules.pop("grpo_rank_deltas", None)


def top_half(rewards):
    """A deltas mode registered in-process: 1 for responses at or above their group's median
    reward, else 0."""
    return (rewards >= rewards.median(-1, keepdim=True).values).float()


def fake_plugin(tmp_path: Path, group: str, line: str) -> Path:
    """A package's installed metadata declaring one entry point, and nothing else."""
    info = tmp_path / "fake_plugin-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{line}\n")
    return tmp_path


def test_plugin_modes_follow_the_built_ins_with_their_package(example_plugin):
    assert list(DELTAS) == [*BUILT_IN_DELTAS, "centered_ranks"]
    assert DELTAS.origin("centered_ranks") == "grpo-rank-deltas==0.1.0"
    assert DELTAS.origin("rloo") == "built-in"
    rewards = torch.tensor([[[1.0, 6.0, 2.0, 2.0]]])  # ranks 0, 3, 1.5, 1.5 of 0..3
    assert DELTAS["centered_ranks"](rewards).flatten().tolist() == [-0.5, 0.5, 0.0, 0.0]


def test_an_unknown_mode_is_one_line_naming_built_ins_and_plugins(example_plugin, capsys):
    assert main(["train", "--deltas", "centered_rank"]) == 2
    error = capsys.readouterr().err
    assert error == (f"grpo train: error: --deltas 'centered_rank': unknown choice; choose from {', '.join(BUILT_IN_DELTAS)},"
                     " centered_ranks\n")


def test_help_lists_a_plugin_with_its_docstring_and_package(example_plugin, capsys):
    assert main(["train", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    plugin = ("centered_ranks: ES fitness shaping: the response's rank in its group, scaled to [-0.5, 0.5] (ties share)."
              " [grpo-rank-deltas==0.1.0] --loss-mode")
    assert plugin in help_text
    assert help_text.index(f"{BUILT_IN_DELTAS[-1]}: ") < help_text.index(plugin)  # after the last built-in deltas mode


def test_plugins_declare_the_group_they_need_and_the_options_they_read(example_plugin):
    """centered_ranks declares min_group = 2; a loss declares the clip options it reads, with its
    defaults."""
    with pytest.raises(UsageError, match="responses 1: deltas_mode 'centered_ranks' needs at least 2 responses"):
        TrainConfig(deltas_mode="centered_ranks", responses=1)

    def wide_clipped(log_probs, old_log_probs, deltas, config):
        """clip_higher with a wider default trust region."""
        return LOSSES["clip_higher"](log_probs, old_log_probs, deltas, config)

    wide_clipped.options = {"epsilon_low": 0.3, "epsilon_high": 0.5}
    register("losses")(wide_clipped)
    try:
        config = TrainConfig(loss_mode="wide_clipped")
        assert (config.epsilon_low, config.epsilon_high) == (0.3, 0.5)
        assert TrainConfig(loss_mode="wide_clipped", epsilon_high=0.7).epsilon_high == 0.7
        with pytest.raises(UsageError, match="epsilon_high 0.7: does not apply to loss_mode 'naive'; only clip_higher,"
                                             " cispo, geo_mean, clip_cov, wide_clipped read it"):
            TrainConfig(loss_mode="naive", epsilon_high=0.7)
    finally:
        LOSSES.unregister("wide_clipped")


def test_built_ins_declare_their_facts_as_the_attributes_a_plugin_declares():
    """No side table: each built-in's facts are attributes of its function, of the facts its
    group lists; the accessors read them."""
    for registry in registries().values():
        for name, fn in registry.built_ins.items():
            declared = {fact for fact in vars(fn) if not fact.startswith("_") and fact != "__wrapped__"}
            assert declared <= set(registry.facts), (registry.group, name, declared)
    assert LOSSES.fact("clipped", "options") == {"epsilon": 0.01, "clip_ratio_c": 0.0} and LOSSES.fact("naive", "options") == {}
    assert LOSSES.fact("naive", "reads_old_log_probs") is False and LOSSES.fact("clipped", "reads_old_log_probs") is True
    assert all(LOSSES.fact(name, "sliced") for name in LOSSES.built_ins)
    assert DELTAS.fact("rloo", "min_group") == 2 and DELTAS.fact("rewards", "min_group") == 1
    assert registries()["kl_estimators"].fact("k3_corrected", "reads_old_log_probs") is True


def test_a_plugin_declares_every_fact_a_built_in_can_and_no_other(tmp_path):
    """A plugin KL estimator that declares reads_old_log_probs is called with the rollout's
    log-probs (before, only the built-in k3_corrected could be); a loss that declares it False
    gets None; an unknown fact is one error naming the group's facts."""
    seen = []

    def k1_weighted(log_probs, ref_log_probs, old_log_probs):
        """k1 x the ratio to the rollout policy."""
        seen.append(old_log_probs is not None)
        return torch.exp(log_probs - old_log_probs) * (log_probs - ref_log_probs)

    loss_saw_old = []

    def log_prob_only(log_probs, old_log_probs, deltas, config):
        """REINFORCE, noting whether it got old log-probs."""
        loss_saw_old.append(old_log_probs is not None)
        return LOSSES["naive"](log_probs, old_log_probs, deltas, config)

    register("kl_estimators", reads_old_log_probs=True)(k1_weighted)
    register("losses", reads_old_log_probs=False)(log_prob_only)
    try:
        assert train(TrainConfig(loss_mode="log_prob_only", epochs=2), [0])["loss"].notna().all()
        assert loss_saw_old and not any(loss_saw_old)  # the rollout's log-probs are skipped
        records = train(TrainConfig(loss_mode="log_prob_only", kl_penalty=0.1, kl_estimator="k1_weighted", epochs=2), [0])
        assert seen and all(seen) and (records["kl"].iloc[1:] != 0).all()  # kept for the estimator that reads them
    finally:
        LOSSES.unregister("log_prob_only")
        registries()["kl_estimators"].unregister("k1_weighted")
    facts = "min_group, reads_mask, reads_rollout, token_level"
    with pytest.raises(UsageError, match=f"^deltas modes declare no fact 'min_groups'; choose from {facts}$"):
        register("deltas", min_groups=2)


def test_grpo_train_runs_a_plugin_mode(example_plugin, tmp_path, capsys):
    out = tmp_path / "ranks.parquet"
    assert main(["train", "--deltas", "centered_ranks", "--seeds", "2", "--epochs", "3", "--quiet", "--out", str(out)]) == 0
    records = pd.read_parquet(out)
    assert set(records["deltas_mode"]) == {"centered_ranks"} and sorted(set(records["seed"])) == [0, 1]
    expected = train(TrainConfig(deltas_mode="centered_ranks", epochs=3), [0, 1])
    pd.testing.assert_frame_equal(records[expected.columns], expected, check_dtype=False, check_categorical=False)


@pytest.mark.e2e
def test_sweep_runs_entry_point_and_in_process_modes_on_ray_workers(example_plugin, tmp_path):
    """Ray workers find the installed plugin through its entry point, and receive the mode
    registered in this process; the records equal in-process training; the run info names
    each plugin's origin."""
    register("deltas", "top_half")(top_half)
    try:
        grid = tmp_path / "plugins.toml"
        grid.write_text('seeds = 2\n[grid]\ndeltas_mode = ["centered_ranks", "top_half", "rloo"]\nepochs = 3\nsteps_per_epoch = 2\n')
        outcome = run_sweep(str(grid), tmp_path / "results", progress=False, num_cpus=2)
        assert (outcome.trials, outcome.failed, outcome.missing) == (3, [], [])
        for config in load_grid(str(grid)).configs():
            (info_path,) = (outcome.results_dir / "trials" / config.config_id).glob("*.json")
            info = json.loads(info_path.read_text())
            assert info["status"] == "ok", info["error"]
            deltas = registries()["deltas"]
            assert info["plugins"] == {
                "centered_ranks": {"centered_ranks": f"grpo-rank-deltas==0.1.0 code {deltas.code_fingerprint('centered_ranks')}"},
                "top_half": {"top_half": f"test_plugins.top_half (in-process) code {deltas.code_fingerprint('top_half')}"},
                "rloo": {}}[config.deltas_mode]
            runs = pd.read_parquet(outcome.results_dir / "runs.parquet")
            named = runs[runs.config_id == config.config_id].plugins.iloc[0]
            if config.deltas_mode == "rloo":
                assert pd.isna(named)  # built-in: no plugin to name
            else:
                assert named == f"{config.deltas_mode} {info['plugins'][config.deltas_mode]}"
            swept = pd.read_parquet(outcome.results_dir / "records", filters=[("config_id", "==", config.config_id)])
            expected = train(config, [0, 1])
            pd.testing.assert_frame_equal(swept[expected.columns], expected, check_dtype=False, check_categorical=False)
    finally:
        registries()["deltas"].unregister("top_half")


@pytest.mark.e2e
def test_the_example_plugins_own_tests_pass(example_site):
    """What the plugin's author runs: its tests in a fresh interpreter that finds it installed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(example_site), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                            env=env, capture_output=True, text=True, cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "5 passed" in result.stdout


def test_a_plugin_that_fails_to_import_is_one_line_naming_its_entry_point(tmp_path, monkeypatch, capsys):
    add_site(fake_plugin(tmp_path, "grpo.losses", "broken = no_such_module:loss"), monkeypatch)
    try:
        assert "broken" in list(LOSSES)  # listed without importing it
        expected = ("cannot load plugin 'broken = no_such_module:loss' (grpo.losses, fake-plugin 0.0.1):"
                    " ModuleNotFoundError: No module named 'no_such_module'")
        with pytest.raises(UsageError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            TrainConfig(loss_mode="broken")
        assert main(["train", "--loss", "broken"]) == 2
        assert capsys.readouterr().err == f"grpo train: error: {expected}\n"
        assert main(["train", "--help"]) == 0  # the help still shows, the broken mode saying why
        assert f"broken: {expected}" in " ".join(capsys.readouterr().out.split())
        assert main(["train", "--loss", "naive", "--epochs", "1", "--quiet"]) == 0  # other modes are unaffected
    finally:
        monkeypatch.undo()
        refresh()


def test_a_plugin_cannot_take_a_built_in_name(tmp_path, monkeypatch):
    add_site(fake_plugin(tmp_path, "grpo.losses", "naive = elsewhere:naive"), monkeypatch)
    try:
        with pytest.raises(UsageError, match="plugin 'naive = elsewhere:naive' .* takes the name of a built-in mode of grpo.losses"):
            list(LOSSES)
        with pytest.raises(UsageError, match="losses mode 'clipped' exists already"):
            register("losses", "clipped")(lambda log_probs, old_log_probs, deltas, config: None)
    finally:
        monkeypatch.undo()
        refresh()


@pytest.mark.parametrize("name", ["a|b", "with space", "", "-leading", "tab\tname"])
def test_a_mode_name_that_would_break_tables_or_files_is_refused(name):
    with pytest.raises(UsageError, match="letters, digits"):
        register("deltas", name)(lambda rewards: rewards)
    assert name not in registries()["deltas"]


def other_top_half(rewards):
    """keep the best half of each group, as top_half, written otherwise."""
    return torch.where(rewards >= rewards.median(-1, keepdim=True).values, rewards, 0.0)


def test_results_of_other_plugin_code_are_refused(tmp_path):
    """A mode changed in place (same name, other code) after its results were written: the
    folder is refused in one line naming the plugin, as results of other grpo code are."""
    results = tmp_path / "results"
    register("deltas", "top_half")(top_half)
    try:
        config = TrainConfig(deltas_mode="top_half", epochs=2, steps_per_epoch=2)
        info = trial_info(config, [0], "ok", wall_s=0.1, node="here")
        write_trial(results, config, [0], train(config, [0]), info)
        assert scan(results, code_fingerprint()).done_seeds(config.config_id) == {0}  # the same code: trusted
        registries()["deltas"].unregister("top_half")
        register("deltas", "top_half")(other_top_half)
        with pytest.raises(UsageError, match=r"holds results of other plugin code \(top_half: test_plugins.top_half"
                                             r" \(in-process\) code \w+ there, test_plugins.other_top_half"):
            scan(results, code_fingerprint())
    finally:
        registries()["deltas"].unregister("top_half")


def test_an_entry_points_fingerprint_is_its_source_file(example_plugin):
    deltas = registries()["deltas"]
    source = Path(inspect.getsourcefile(deltas["centered_ranks"])).read_bytes()
    assert deltas.code_fingerprint("centered_ranks") == hashlib.sha256(source).hexdigest()[:12]
    assert deltas.code_fingerprint("rloo") is None  # built-ins: grpo's own fingerprint covers them


@pytest.mark.e2e
def test_a_folder_that_shadows_a_plugin_on_the_workers_is_refused_in_one_line(example_plugin, tmp_path, monkeypatch, capsys):
    """Ray puts the driver's working directory first on its workers' path: a package there named
    like the plugin's module would run other code on the workers only. The sweep refuses before
    training, in one line naming the plugin."""
    shadow = tmp_path / "cwd" / "grpo_rank_deltas"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("def centered_ranks(rewards):\n    return rewards * 0\n")
    (tmp_path / "shadow.toml").write_text('seeds = 1\n[grid]\ndeltas_mode = "centered_ranks"\nepochs = 1\nsteps_per_epoch = 1\n')
    monkeypatch.chdir(tmp_path / "cwd")
    code = main(["sweep", str(tmp_path / "shadow.toml"), "--results", str(tmp_path / "results"), "--quiet", "--num-cpus", "1"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "imports plugin centered_ranks as grpo-rank-deltas==0.1.0 code" in err and "run from another folder" in err
    assert not list((tmp_path / "results" / "shadow").glob("trials/*/*"))  # nothing trained


def scalar_deltas(rewards):
    """a deltas mode that returns one number for the whole batch: it would tie the seeds."""
    return rewards.mean()


def in_place_rewards(prompts, responses):
    """a reward that overwrites its input with the ideal responses, then rates the first token."""
    first = (responses[..., 0] == 0).float()
    responses[:] = prompts.sort(-1).values[:, None, :]
    return first


def raising_loss(log_probs, old_log_probs, deltas, config, mask=None):
    """a loss that raises."""
    raise RuntimeError("the plugin's own bug")


@pytest.mark.parametrize("group, fn, field, named", [
    ("deltas", scalar_deltas, "deltas_mode", "deltas plugin 'scalar_deltas' (test_plugins.scalar_deltas (in-process)) returned"
                                             " shape []; it must return float deltas [seed batch response], one per reward of"
                                             " shape [2, 3, 10]"),
    ("losses", raising_loss, "loss_mode", "losses plugin 'raising_loss' (test_plugins.raising_loss (in-process)) raised"
                                          " RuntimeError: the plugin's own bug"),
])
def test_a_plugin_that_breaks_its_contract_is_one_line_naming_it(group, fn, field, named, capsys):
    register(group)(fn)
    try:
        assert main(["train", f"--{field.replace('_', '-')}", fn.__name__, "--seeds", "2", "--epochs", "1"]) == 2
        err = capsys.readouterr().err  # the progress display's frames, then one line
        assert err.splitlines()[-1] == f"grpo train: error: {named}" and "Traceback" not in err
    finally:
        registries()[group].unregister(fn.__name__)


def test_a_plugin_cannot_change_what_other_metrics_read():
    """A reward that writes into the responses it is given sees a copy: the success metric and
    every later step read the sampled responses as they were (were it not a copy, every response
    would count as sorted). Its records equal those of the same reward without the write."""
    def pure_rewards(prompts, responses):
        """the same reward without the write."""
        return (responses[..., 0] == 0).float()

    register("rewards", "in_place_rewards")(in_place_rewards)
    register("rewards", "pure_rewards")(pure_rewards)
    try:
        mutating = train(TrainConfig(reward_fn="in_place_rewards", epochs=3), [0, 1])
        pure = train(TrainConfig(reward_fn="pure_rewards", epochs=3), [0, 1])
        pd.testing.assert_frame_equal(mutating.drop(columns=["config_id", "reward_fn"]),  # the two columns that name it
                                      pure.drop(columns=["config_id", "reward_fn"]), check_exact=True)
    finally:
        registries()["rewards"].unregister("in_place_rewards")
        registries()["rewards"].unregister("pure_rewards")
