"""Answers that survive tuning: sensitivity cells, tuning on seeds kept apart, and a verdict on every
finding. Results are built in-process (grpo.train and the sweep's own trial files) where a Ray
sweep adds nothing; tests/sweep/test_sweep.py runs the two phases under Ray."""

import numpy as np
import pandas as pd
import pytest

from grpo.cli import main
from grpo.core.config import TrainConfig
from grpo.core.train import train
from grpo.experiment.grids import DEFAULT_CELL, TUNED_CELL, load_grid, parse_grid
from grpo.experiment.provenance import code_fingerprint
from grpo.experiment.results import final_epochs, open_results
from grpo.experiment.store import scan, trial_info, write_runs, write_trial
from grpo.experiment.tuning import objective_table, select, tuned_cell, tuning_success
from grpo.report import load
from grpo.report._stats import RESAMPLES
from grpo.report.grid import compute, verdict, with_robustness
from grpo.report.grid._confirm import with_confirmation

STUDY = """seeds = 6
[grid]
deltas_mode = ["rewards", "centered_rewards"]
loss_mode = ["naive", "clipped"]
epochs = 20
steps_per_epoch = 2

[sensitivity]
lr = [1e-3, 1e-2]
epsilon = [0.2]

[tuning]
lr = [1e-3, 1e-2, 3e-2]
seeds = "100-103"
"""


def fill(folder, grid, plan, records=None) -> None:
    """Train (or take from `records(config, seeds)`) what `plan` lacks, as a sweep's trials would store it."""
    found = scan(folder, code_fingerprint())
    for config, seeds in plan:
        lacking = tuple(s for s in seeds if s not in found.done_seeds(config.config_id))
        if lacking:
            made = records(config, lacking) if records else train(config, lacking)
            write_trial(folder, config, lacking, made, trial_info(config, lacking, "ok", wall_s=0.0))
    write_runs(folder, grid, plan, scan(folder, code_fingerprint()))


def build_study(root, name: str, text: str, records=None):
    """A results folder of a grid with cells and tuning, made in-process in the sweep's two phases."""
    grid = parse_grid(name, text)
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "grid.toml").write_text(text)
    fill(folder, grid, grid.plan(), records)
    if grid.tuning:
        selection = select(objective_table(tuning_success(open_results(folder), grid), grid), grid)
        fill(folder, grid, grid.plan(tuned_cell(grid, selection)), records)
    return folder


def analysed(folder):
    data = load(open_results(folder))
    return with_confirmation(with_robustness(compute(data), data), data)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    folder = build_study(root, "study", STUDY)
    assert main(["report", str(folder), "--out", str(root / "reports")]) == 0
    return folder, root / "reports" / "study", analysed(folder)


def test_cells_follow_the_applicability_rule_and_share_the_seeds():
    grid = parse_grid("g", STUDY)
    cells = grid.cells()
    assert list(cells) == [DEFAULT_CELL, "lr 0.01", "epsilon 0.2"]  # lr 1e-3 is the default cell itself
    default = cells[DEFAULT_CELL]
    for default_id, config in cells["epsilon 0.2"].items():  # epsilon changes the clipped rows only
        own = default[default_id]
        assert (config == own) == (own.loss_mode == "naive") and config.lr == own.lr
    assert {config.lr for config in cells["lr 0.01"].values()} == {0.01}
    plan = dict(grid.plan())
    assert all(set(seeds) >= set(grid.seeds) for config, seeds in plan.items()
               if any(config in cell.values() for cell in cells.values()))
    tuning_only = [config for config, seeds in plan.items() if config.lr == 0.03]
    assert tuning_only and all(plan[config] == (100, 101, 102, 103) for config in tuning_only)  # never on evaluation seeds
    assert len(plan) == 4 + 4 + 2 + 4  # cells: default, lr 0.01, epsilon 0.2 (clipped only); candidate lr 0.03


def test_the_same_seed_starts_from_the_same_weights_in_every_cell():
    """Effects are paired across cells: seed s draws the same initial weights and first rollout
    whatever the learning rate or clip range of its cell."""
    cells = [TrainConfig(epochs=1, steps_per_epoch=2, loss_mode="clipped", **values)
             for values in ({}, {"lr": 1e-2}, {"lr": 3e-4}, {"epsilon": 0.2})]
    initial = [train(config, [0, 1, 2]).query("step == 0").set_index("seed") for config in cells]
    for records in initial[1:]:
        np.testing.assert_array_equal(records.entropy, initial[0].entropy)
        np.testing.assert_array_equal(records.mean_reward, initial[0].mean_reward)
    later = [train(config, [0]).query("step == 1").entropy.item() for config in cells[:2]]
    assert later[0] != later[1]  # and the cells do train differently


@pytest.mark.parametrize("text, named", [
    ('seeds = 10\n[grid]\n[tuning]\nlr = [1e-3]\nseeds = "8-12"\n', "[tuning] seeds overlap the evaluation seeds on 2"
                                                                     " seed(s) (8, 9)"),
    ('[grid]\n[tuning]\nlr = [1e-3]\n', "[tuning] needs its own seeds"),
    ('seeds = 10\nconfirm = "5-14"\n[grid]\n', "confirm seeds overlap the evaluation seeds on 5 seed(s) (5, 6, 7, 8, 9)"),
    ('seeds = 10\nconfirm = "100-109"\n[grid]\n[tuning]\nlr = [1e-3]\nseeds = "108-120"\n',
     "confirm seeds overlap the tuning seeds on 2 seed(s) (108, 109)"),
    ('[grid]\n[tuning]\nlr = [1e-3]\nseeds = "5-6"\nper = "loss_mode"\n', "per 'loss_mode': choose 'configuration'"),
    ('[grid]\nloss_mode = ["naive"]\n[sensitivity]\nloss_mode = ["clipped"]\n', "is an axis of [grid] already"),
    ('[grid]\n[sensitivity]\nlr = 0.1\n', "must be a non-empty list"),
    ('[grid]\n[sensitivity]\nrate = [0.1]\n', "unknown key 'rate' in [sensitivity]"),
    ('[grid]\n[sensitivity]\nepsilon = [0.2]\n', "epsilon applies to no configuration"),
    ('[grid]\n[sensitivity]\nlr = [-1.0]\n', "lr -1.0: must be positive"),
])
def test_bad_sensitivity_and_tuning_tables(tmp_path, capsys, text, named):
    (tmp_path / "bad.toml").write_text(text)
    code = main(["sweep", str(tmp_path / "bad.toml"), "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and named in err
    assert [p.name for p in tmp_path.iterdir()] == ["bad.toml"]  # nothing written


def test_vary_adds_sensitivity_cells_to_a_preset(tmp_path, capsys):
    grid = load_grid("smoke", {"lr": [3e-4, 1e-2], "responses": [4]})
    assert list(grid.cells()) == [DEFAULT_CELL, "lr 0.0003", "lr 0.01", "responses 4"]
    assert parse_grid("smoke", grid.text).sensitivity == grid.sensitivity  # kept beside the results as text
    assert load_grid(str(_with_text(tmp_path, STUDY)), {"responses": [4]}).sensitivity == {
        "lr": [1e-3, 1e-2], "epsilon": [0.2], "responses": [4]}
    for argument, named in (("lr", "give FIELD=VALUE"), ("lr=", "give FIELD=VALUE"), ("lr=0.1,,1", "give FIELD=VALUE"),
                            ("rate=0.1", "unknown key 'rate'")):
        assert main(["sweep", "smoke", "--vary", argument, "--results", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert named in err and len(err.strip().splitlines()) == 1
    assert main(["sweep", str(tmp_path / "g.toml"), "--vary", "lr=0.1", "--results", str(tmp_path / "r")]) == 2
    assert "varies lr already" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _with_text(folder, text):
    (folder / "g.toml").write_text(text)
    return folder / "g.toml"


TUNING = """seeds = 2
[grid]
loss_mode = ["naive", "clipped"]
kl_penalty = [0.0, 0.1]
[tuning]
lr = [1e-3, 1e-2, 3e-2]
per = "loss_mode"
seeds = "10-13"
"""


def test_the_default_cell_is_named_by_its_tuned_value_without_sensitivity_cells():
    """A grid with [tuning] and no [sensitivity]: the default cell is `lr 0.003` (the value held
    fixed, which the findings are stated at), not nameless."""
    from types import SimpleNamespace

    from grpo.report.grid._robustness import _own_values
    grid = parse_grid("g", '[grid]\nlr = 3e-3\n[tuning]\nlr = [1e-3, 3e-3]\nseeds = "100-101"\n')
    configs = pd.DataFrame({"lr": [0.003, 0.003, 0.001]})  # two default-cell configurations, one tuned to 1e-3
    assert _own_values(SimpleNamespace(study=SimpleNamespace(grid=grid), configs=configs)) == {"lr": 0.003}


def test_selection_on_a_hand_made_tuning_table():
    """Per loss_mode, the candidate with the highest mean over the arm's configurations and the
    tuning seeds; a diverged run (NaN) counts 0; an exact tie goes to the first listed; a choice at
    an end of the candidates is named; an arm with a run absent cannot choose."""
    grid = parse_grid("g", TUNING)
    candidates = grid.candidates()  # per candidate: default config_id -> its configuration
    arms = grid.arms()
    success = {}  # (config_id, seed) -> success
    made = {("naive", 0): [0.2, 0.2, 0.2, 0.2], ("naive", 1): [0.3, 0.5, 0.4, np.nan],  # lr 0.01: 0.3 (NaN -> 0)
            ("naive", 2): [0.4, 0.4, 0.4, 0.4],  # lr 0.03: 0.4, the best: the highest candidate
            ("clipped", 0): [0.3, 0.3, 0.1, 0.1], ("clipped", 1): [0.1, 0.3, 0.3, 0.1],  # a tie at 0.2: lr 0.001 wins
            ("clipped", 2): [0.0, 0.0, 0.0, 0.0]}
    for (arm, index), scores in made.items():
        for offset, default_id in enumerate(arms[arm]):  # the arm's two kl settings: the same scores, shifted
            config = candidates[index][default_id]
            success |= {(config.config_id, seed): score + (0.1 if offset else -0.1) if np.isfinite(score) else score
                        for seed, score in zip(grid.tuning.seeds, scores)}
    success = pd.Series(success)
    table = objective_table(success, grid)
    assert table.shape == (6, 4) and table.loc[("naive", 1)].tolist() == pytest.approx([0.3, 0.5, 0.4, 0.0])
    chosen = select(table, grid).set_index("arm")
    assert chosen.loc["naive", "chosen"] == "lr 0.03" and chosen.loc["naive", "edge"] == "lr highest"
    assert chosen.loc["naive", "objective"] == pytest.approx(0.4) and chosen.loc["naive", "tied"] == ""
    assert chosen.loc["clipped", "chosen"] == "lr 0.001" and chosen.loc["clipped", "tied"] == "lr 0.01"
    assert chosen.loc["clipped", "edge"] == ""  # a tie: the order of listing chose it, no edge is named
    tuned = tuned_cell(grid, chosen.reset_index())
    assert {config.lr for config in tuned.values() if config.loss_mode == "naive"} == {0.03}
    absent = select(objective_table(success.drop(success.index[0]), grid), grid).set_index("arm")
    assert absent.loc["naive", "choice"] == -1 and absent.loc["clipped", "chosen"] == "lr 0.001"


def test_selection_stability_counts_the_bootstrap_winners(study):
    """Each arm's win shares over the resampled tuning seeds sum to 1, and the chosen candidate's
    share is its stability; recomputed by hand from the tuning runs' records."""
    folder, _, tables = study
    tuning = tables.robustness.tuning
    wins = tuning.filter(like="wins ")
    np.testing.assert_allclose(wins.sum(axis=1), 1.0)
    grid = parse_grid("study", STUDY)
    records = pd.read_parquet(folder / "records").astype({"config_id": str})
    window = records[(records.epoch >= 20 - final_epochs(20)) & records.seed.isin(grid.tuning.seeds)]
    success = window.groupby(["config_id", "seed"]).sorted_frac.mean()  # no run diverged here
    for row, (default_id, _) in zip(tuning.itertuples(), grid.cell({}).items()):
        means = [success.loc[candidate[default_id].config_id].mean() for candidate in grid.candidates()]
        assert row.chosen == ["lr 0.001", "lr 0.01", "lr 0.03"][int(np.argmax(means))]
        assert row.objective == pytest.approx(max(means))
        if tuning["tied with"].iloc[row.Index]:  # tied with another candidate: stability undefined
            assert np.isnan(row.stability)
        else:
            assert row.stability == pytest.approx(wins.iloc[row.Index][f"wins {row.chosen}"])
    assert (wins * RESAMPLES).round(6).apply(lambda column: column.map(float.is_integer)).all().all()


def test_one_holm_adjusted_p_per_contrast_across_effects_and_robustness(study):
    """robustness.csv: every finding in every cell. The default cell's tests carry the p_holm of
    effects.csv (their family: the main effects); the other cells' applicable tests are one
    family, adjusted by hand here; a cell's difference equals the per-seed differences of that
    cell's own runs; the simultaneous interval excludes 0 exactly where the test is decisive."""
    folder, report, tables = study
    rows = pd.read_csv(report / "robustness.csv")
    effects = pd.read_csv(report / "effects.csv")
    assert list(rows.columns[:10]) == ["factor", "level", "reference", "cell", "outcome", "difference", "low", "high",
                                      "low_holm", "high_holm"]
    assert set(rows.cell) == {DEFAULT_CELL, "lr 0.01", "epsilon 0.2", TUNED_CELL}
    assert len(rows) == 2 * 4  # two main effects (no decisive interaction) x four cells
    default = rows[rows.cell == DEFAULT_CELL].merge(effects, on=["factor", "level"], suffixes=("", "_effects"))
    assert len(default) == len(effects) and (default.family == "main effects").all()
    np.testing.assert_array_equal(default.p_holm, default.p_holm_effects)
    others = rows[(rows.cell != DEFAULT_CELL) & (rows.outcome != "not applicable")]
    assert (others.family == "other cells").all() and rows[rows.outcome == "not applicable"].p_holm.isna().all()
    p = others.p.to_numpy()
    order = np.argsort(p, kind="stable")
    by_hand = np.maximum.accumulate(np.minimum(1, (len(p) - np.arange(len(p))) * p[order]))
    np.testing.assert_allclose(others.p_holm.to_numpy()[order], by_hand)
    tested = rows[rows.p_holm.notna()]
    assert (tested.decisive == (tested.p_holm < 0.05)).all()
    assert ((tested.low_holm > 0) | (tested.high_holm < 0)).tolist() == tested.decisive.tolist()
    assert ((tested.low_holm <= tested.low + 1e-3) | tested.decisive).all()  # at least as wide as the raw one
    records = pd.read_parquet(folder / "records").astype({"config_id": str})
    window = records[(records.epoch >= 18) & records.seed.isin(range(6))]
    success = window.groupby(["config_id", "seed"]).sorted_frac.mean()
    cell = parse_grid("study", STUDY).cell({"lr": 1e-2})
    configs = parse_grid("study", STUDY).cell({})
    pairs = [(cell[i].config_id, cell[j].config_id) for i in configs for j in configs
             if configs[i].loss_mode == "clipped" and configs[j].loss_mode == "naive"
             and configs[i].deltas_mode == configs[j].deltas_mode]
    per_seed = np.mean([success.loc[a].to_numpy() - success.loc[b].to_numpy() for a, b in pairs], axis=0)
    clipped = rows[(rows.level == "clipped") & (rows.cell == "lr 0.01")].iloc[0]
    assert clipped.difference == pytest.approx(per_seed.mean())


def test_the_report_opens_with_the_held_values_and_carries_the_robustness(study):
    _, report, tables = study
    text = (report / "report.md").read_text()
    head = text.split("## Findings")[0]
    assert "- **Held fixed**: lr 0.001, epsilon 0.01 (read by clipped only), responses 10, epochs 20 × 2 steps, dim 10" in head
    assert "`tuned` (lr tuned per configuration on seeds 100–103)" in head
    assert "## Robustness" in text and "### Tuning on seeds kept apart" in text
    effects = pd.read_csv(report / "effects.csv")
    assert effects.verdict.isin(["robust", "conditional", "unconfirmed", "not detected", "untested"]).all()
    assert {"sensitivity_lr.png", "sensitivity_epsilon.png"} <= {p.name for p in report.glob("*.png")}
    assert "](sensitivity_lr.png)" in text and (report / "tuning.csv").is_file()


def test_verdicts_on_constructed_rows():
    def rows(*cells):  # (cell, difference, outcome)
        frame = pd.DataFrame(cells, columns=["cell", "difference", "outcome"]).set_index("cell")
        return frame.assign(decisive=frame.outcome == "decisive")

    robust = verdict(rows(("default", 0.1, "decisive"), ("lr 0.01", 0.2, "decisive"), ("tuned", 0.1, "not applicable")))
    assert robust == {"verdict": "robust", "flips": "", "vanishes": "", "not_detected": "", "not_applicable": "tuned"}
    flipped = verdict(rows(("default", 0.1, "decisive"), ("lr 0.01", -0.2, "decisive"), ("tuned", 0.01, "vanishes")))
    assert flipped == {"verdict": "conditional", "flips": "lr 0.01", "vanishes": "tuned", "not_detected": "",
                       "not_applicable": ""}
    assert verdict(rows(("default", 0.1, "decisive"), ("lr 0.01", 0.0, "vanishes")))["verdict"] == "conditional"
    unconfirmed = verdict(rows(("default", 0.1, "decisive"), ("lr 0.01", 0.05, "not detected")))
    assert unconfirmed["verdict"] == "unconfirmed" and unconfirmed["not_detected"] == "lr 0.01"
    elsewhere = verdict(rows(("default", 0.0, "vanishes"), ("lr 0.01", 0.08, "decisive"), ("lr 0.0003", -0.01, "not detected")))
    assert elsewhere["verdict"] == "conditional" and elsewhere["vanishes"] == "default"
    assert verdict(rows(("default", 0.1, "not detected"), ("lr 0.01", -0.1, "vanishes")))["verdict"] == "not detected"
    untested = verdict(rows(("default", 0.1, "decisive"), ("epsilon 0.2", 0.1, "not applicable")))
    assert untested["verdict"] == "untested" and untested["not_applicable"] == "epsilon 0.2"
    assert verdict(rows(("default", 0.1, "decisive"), ("lr 0.01", 0.1, "decisive"),
                        ("tuned", np.nan, "decisive")))["verdict"] == "robust"  # not measured: not applicable


CONSTRUCTED = """seeds = 16
confirm = "200-211"
[grid]
deltas_mode = ["rewards", "centered_rewards", "normalized_rewards"]
loss_mode = ["naive", "unclipped"]
epochs = 2
steps_per_epoch = 1

[sensitivity]
lr = [1e-2]

[tuning]
lr = [1e-2]
seeds = "100-101"
"""
EFFECTS = {  # (field, level) -> its success effect at lr 1e-3 and at lr 1e-2
    ("deltas_mode", "centered_rewards"): (0.3, 0.2),  # robust
    ("deltas_mode", "normalized_rewards"): (0.3, 0.0),  # conditional: vanishes (by equivalence) at lr 0.01
    ("loss_mode", "unclipped"): (0.2, -0.2),  # conditional: flips at lr 0.01
}


def constructed_records(config: TrainConfig, seeds) -> pd.DataFrame:
    """Real records of `config` whose sorted_frac is set to a chosen success: 0.2 plus EFFECTS
    plus a per-seed block effect and a little noise per run (less at lr 1e-2, so a zero effect there
    is bounded within the margin set at lr 1e-3)."""
    records = train(config, seeds)
    cell = 0 if config.lr == 1e-3 else 1
    effect = sum(sizes[cell] for (field, level), sizes in EFFECTS.items() if getattr(config, field) == level)
    noise = np.random.default_rng(int(config.config_id, 16) % 2**32).normal(0, 0.02 if cell == 0 else 0.002, len(seeds))
    success = {seed: 0.2 + effect + 0.1 * (seed % 3) + noise[i] for i, seed in enumerate(seeds)}
    return records.assign(sorted_frac=records.seed.map(success).astype(np.float32))


def test_each_verdict_on_constructed_records(tmp_path):
    folder = build_study(tmp_path, "constructed", CONSTRUCTED, constructed_records)
    tables = analysed(folder)
    verdicts = tables.effects.set_index("level").verdict
    assert verdicts.to_dict() == {"centered_rewards": "robust", "normalized_rewards": "conditional",
                                  "unclipped": "conditional"}
    effects = tables.effects.set_index("level")
    assert effects.flips["unclipped"] == "lr 0.01" and effects.vanishes["normalized_rewards"] == "lr 0.01"
    assert (effects.not_applicable == "tuned").all()  # every arm chose lr 0.01: the tuned cell repeats its runs
    rows = tables.robustness.rows.set_index(["level", "cell"])
    assert rows.loc[("normalized_rewards", "lr 0.01")].p_equivalence < 0.05
    assert rows.loc[("normalized_rewards", "lr 0.01")].margin == pytest.approx(effects.mde["normalized_rewards"])
    from grpo.report.grid import narrative

    text = narrative(tables, [])
    flip = tables.robustness.rows.query("level == 'unclipped' and cell == 'lr 0.01'").iloc[0]
    assert flip.difference == pytest.approx(-0.2, abs=0.02) and flip.decisive
    assert "unclipped +0.200" in text and f"(at lr 0.001; **conditional**: flips at lr 0.01 ({flip.difference:+.3f} [" in text
    margin = tables.robustness.rows.query("level == 'normalized_rewards' and cell == 'lr 0.01'").margin.iloc[0]
    assert f"(at lr 0.001; **conditional**: vanishes at lr 0.01 (within ±{margin:.3f}); not applicable: tuned)" in text
    assert "(**robust**: decisive with one sign in every cell that changes its arms; not applicable: tuned)" in text
    # confirmation: the default cell again on 12 fresh seeds, each decisive finding measured there
    confirmed = tables.confirmation.set_index("level")
    assert set(confirmed.index) == {"centered_rewards", "normalized_rewards", "unclipped"}
    assert (confirmed.confirmed == "holds").all() and (confirmed.confirm_pairs == 12).all()
    assert confirmed.confirm_difference["unclipped"] == pytest.approx(0.2, abs=0.03)
    assert "**Confirmation on fresh seeds** (12 seeds never evaluated nor tuned on" in text
    assert "- **Confirmation**: the default cell trained again on 12 fresh seeds" in text
    assert tables.seeds == list(range(16))  # the fresh seeds stay out of every other statistic


NOISY = """seeds = 8
[grid]
deltas_mode = ["rewards", "centered_rewards"]
epochs = 2
steps_per_epoch = 1

[sensitivity]
lr = [1e-2]
"""


def noisy_records(config: TrainConfig, seeds) -> pd.DataFrame:
    """Real records whose success differs between the arms by 0.06 ± 0.1 (the sign alternating
    by seed): about 1.7 standard errors, neither decisive nor bounded within its MDE (0.106)."""
    records = train(config, seeds)
    treated = config.deltas_mode == "centered_rewards"
    success = {seed: 0.3 + 0.05 * (seed % 3) + treated * (0.06 + 0.1 * (-1) ** seed) for seed in seeds}
    return records.assign(sorted_frac=records.seed.map(success).astype(np.float32))


def test_an_effect_neither_decisive_nor_equivalent_is_not_detected(tmp_path):
    tables = analysed(build_study(tmp_path, "noisy", NOISY, noisy_records))
    effect = tables.effects.iloc[0]
    assert effect.difference == pytest.approx(0.06, abs=1e-6) and not effect.decisive
    assert effect.mde == pytest.approx(2.8016 * np.std([0.16, -0.04] * 4, ddof=1) / np.sqrt(8), rel=1e-3)
    assert effect.verdict == "not detected" and effect.not_detected == "default; lr 0.01" and effect.vanishes == ""
    rows = tables.robustness.rows
    assert (rows.outcome == "not detected").all() and (rows.p_equivalence > 0.05).all()



NUMERIC = """seeds = 8
[grid]
entropy_coeff = [0.0, 0.05]
top_entropy_quantile = [1.0, 0.5]
epochs = 2
steps_per_epoch = 1

[sensitivity]
lr = [1e-2]
"""


def test_a_grid_of_numeric_axes_only_gets_its_verdicts(tmp_path):
    """Float levels (entropy_coeff 0.05) carry their robustness verdict beside a decisive
    interaction's string level, as the levels of mode axes do."""
    def records(config, seeds):
        made = train(config, seeds)
        bonus, selected = config.entropy_coeff > 0, config.top_entropy_quantile < 1
        success = {seed: 0.2 + 0.2 * bonus + 0.1 * selected + 0.1 * (bonus and selected) + 0.05 * (seed % 3)
                   for seed in seeds}
        return made.assign(sorted_frac=made.seed.map(success).astype(np.float32))

    tables = analysed(build_study(tmp_path, "numeric", NUMERIC, records))
    assert tables.effects.set_index("level").verdict.to_dict() == {0.05: "robust", 0.5: "robust"}
    assert (tables.interactions.verdict == "robust").all()
