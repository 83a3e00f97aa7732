"""The claims registry: a malformed claim refused in one line, the built-ins checked against
their grids, and a plugin's claim (a real entry point, and one registered in-process) run by
`grpo claims` on a sweep's results."""

import sys
from pathlib import Path

import pytest

from grpo import register_claim
from grpo.cli import main
from grpo.errors import UsageError
from grpo.experiment.canaries import CANARIES, CLAIMS
from grpo.experiment.claims import Claim, Mechanism, check_against_grid

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
from test_report import build_results  # noqa: E402  tests/report/test_report.py: a results folder trained in-process

TINY = "\n".join(["seeds = 3", "[grid]", 'policy = "transformer"', 'task = "variable"', "task_length = 3",
                  "task_prompts = 4", "task_heldout = 4", "max_response_length = 6", 'reward_fn = "exact_match"',
                  "responses = 4", "epochs = 3", "steps_per_epoch = 2", "epsilon = 0.2", "dim = 8", "heads = 2",
                  'loss_mode = ["clipped", "clip_higher"]']) + "\n"
CLIP = Mechanism("upper clip binding", column="clip_high_frac")


def tiny_claim(name: str, grid: str, **changes) -> Claim:
    fields = dict(name=name, statement="clip-higher keeps entropy higher", grid=grid, metric="entropy",
                  treatment={"loss_mode": "clip_higher"}, baseline={"loss_mode": "clipped"}, predicted=1,
                  mechanism=CLIP, citation="Yu et al. 2025, arXiv 2503.14476", paper_note="no comparable number")
    return Claim(**{**fields, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"metric": "entropie"}, "claim 'bad': metric 'entropie': not a record column; choose from loss, kl,"),
    ({"baseline": {"loss_mode": "clip_higher"}}, "claim 'bad': treatment and baseline are the same levels"
                                                 " {'loss_mode': 'clip_higher'}: nothing is contrasted"),
    ({"predicted": 2}, "claim 'bad': predicted 2: choose 1 (treatment higher), -1 (treatment lower) or 0 (equal)"),
    ({"summary": "measured"}, "claim 'bad': summary 'measured': give a mechanism with a measure"),
    ({"paper_note": " "}, "claim 'bad': paper_note: give a non-empty text"),
    ({"held": {"loss_mode": "naive"}}, "claim 'bad': axes ['loss_mode'] are both contrasted and held"),
    ({"treatment": {"loss_mod": "gspo"}}, "claim 'bad': axis 'loss_mod': not a configuration field; choose from"),
    ({"summary": "last"}, "claim 'bad': summary 'last': choose from final, run, samples, asymptote, measured"),
    ({"mechanism": "clip_high_frac"}, "claim 'bad': mechanism: give a grpo.experiment.claims.Mechanism, got str"),
    ({"name": "a claim"}, "claim 'a claim': name: use letters, digits"),
])
def test_a_malformed_claim_is_refused_in_one_line(changes, message):
    with pytest.raises(UsageError) as refused:
        tiny_claim(changes.pop("name", "bad"), "smoke", **changes)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_mechanism_is_a_column_or_a_function():
    with pytest.raises(UsageError, match="^mechanism 'x': give exactly one of column"):
        Mechanism("x")
    with pytest.raises(UsageError, match="^mechanism column 'clip': not a record column"):
        Mechanism("x", column="clip")
    with pytest.raises(UsageError, match="^mechanism measure 'no colon': give a function or 'module:function'$"):
        Mechanism("x", measure="no colon")


def test_the_registry_refuses_a_claim_its_grid_cannot_answer(tmp_path):
    grid = tmp_path / "tiny.toml"
    grid.write_text(TINY)
    with pytest.raises(UsageError, match=r"^claim 'gspo-tiny': grid 'tiny' has no configuration with the treatment's"
                                         r" levels \{'loss_mode': 'gspo'\}$"):
        register_claim(tiny_claim("gspo-tiny", str(grid), treatment={"loss_mode": "gspo"}))
    with pytest.raises(UsageError, match="^claim 'dr-grpo-both' exists already \\(built-in\\); choose another name$"):
        register_claim(tiny_claim("dr-grpo-both", str(grid)))
    assert "gspo-tiny" not in CLAIMS


def test_every_built_in_claim_names_levels_its_grid_has():
    for name in CLAIMS.built_ins:
        check_against_grid(CLAIMS[name])
    assert [claim.name for claim in CLAIMS.chosen(["canaries"])] == [claim.name for claim in CANARIES]
    with pytest.raises(UsageError, match="^unknown claim .dr-grpo.; choose from canaries, rlvr, dr-grpo-aggregation,"):
        CLAIMS.chosen(["dr-grpo"])


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("claims")
    build_results(root / "results", "tiny", TINY)
    (root / "tiny.toml").write_text(TINY)
    return root


def plugin_site(root, grid) -> None:
    """A package installed as pip installs it: its module and its dist-info declaring the claim."""
    site = root / "site"
    (site / "tiny_claims").mkdir(parents=True)
    (site / "tiny_claims" / "__init__.py").write_text(
        "from grpo import Claim, Mechanism\n"
        f"CLAIM = Claim('tiny-entropy', 'clip-higher keeps entropy higher', {str(grid)!r}, 'entropy',"
        " {'loss_mode': 'clip_higher'}, {'loss_mode': 'clipped'}, 1, Mechanism('upper clip', column='clip_high_frac'),"
        " 'Yu et al. 2025', 'no comparable number')\n")
    info = site / "tiny_claims-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-claims\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[grpo.claims]\ntiny-entropy = tiny_claims:CLAIM\n")
    return site


def test_grpo_claims_runs_a_plugin_claim_from_its_entry_point(tiny_results, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(plugin_site(tiny_results, tiny_results / "tiny.toml")))
    CLAIMS.refresh()
    try:
        assert CLAIMS.origin("tiny-entropy") == "tiny-claims==0.1"
        out = tiny_results / "report-plugin"
        assert main(["claims", "tiny-entropy", "--results", str(tiny_results / "results"), "--out", str(out)]) == 0
        printed = capsys.readouterr()
        assert "grpo claims: 1/1 tiny-entropy: " in printed.err and f"wrote {out / 'report.md'}" in printed.out
        text = (out / "report.md").read_text()
        assert "## tiny-entropy: clip-higher keeps entropy higher" in text and "over 3 seeds" in text
        assert (out / "tiny-entropy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        CLAIMS.refresh()
        sys.modules.pop("tiny_claims", None)


def test_grpo_claims_runs_a_claim_registered_in_process_and_lists_missing_sweeps(tiny_results, capsys):
    register_claim(tiny_claim("tiny-in-process", str(tiny_results / "tiny.toml")))
    try:
        out = tiny_results / "report-in-process"
        assert main(["claims", "tiny-in-process", "dapo-sequence", "--results", str(tiny_results / "results"),
                     "--out", str(out)]) == 1  # a claim not run: incomplete
        err = capsys.readouterr().err
        assert "grpo claims: 2/2 dapo-sequence: not run (claim 'dapo-sequence': no sweep of its grid in" in err
        assert "incomplete: 1 claim(s) not run (dapo-sequence)" in err
        text = (out / "report.md").read_text()
        assert "| dapo-sequence | not run |" in text and "## tiny-in-process:" in text
    finally:
        CLAIMS.unregister("tiny-in-process")
