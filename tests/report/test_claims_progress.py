"""`grpo claims` says its progress as lines in a log: configurations read (grpo.progress) and a
line per claim with its verdict."""

import dataclasses

from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

from grpo import register_claim
from grpo.cli import main
from grpo.experiment.canaries import CLAIMS


def test_claims_says_each_claim_and_counts_the_configurations_read(tmp_path, capsys):
    """The `sequence` preset's two claims on a tiny grid of its axes (12 configurations, 2 seeds, 2 epochs)."""
    text = "\n".join(["seeds = 2", "[grid]", 'policy = "transformer"', 'task = "variable"', "task_length = 3",
                      "task_prompts = 4", "task_heldout = 4", "max_response_length = 5", 'reward_fn = "sort_distance"',
                      "responses = 4", "epochs = 2", "steps_per_epoch = 1", "epsilon = 0.2", "dim = 8", "heads = 2",
                      'loss_agg = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"]',
                      'loss_mode = ["clipped", "clip_higher"]', 'deltas_mode = ["normalized_rewards", "centered_rewards"]'])
    build_results(tmp_path / "results", "seq", text + "\n")
    (tmp_path / "seq.toml").write_text(text + "\n")
    register_claim(dataclasses.replace(CLAIMS["dapo-sequence"], name="dapo-seq", grid=str(tmp_path / "seq.toml")))
    try:
        assert main(["claims", "dapo-seq", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 0
    finally:
        CLAIMS.unregister("dapo-seq")
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[-2].startswith("configurations read: 12/12 config (100%)")
    assert lines[-1].startswith("grpo claims: 1/1 dapo-seq: ") and " over 2 seeds, p 1 before Holm, MDE " in lines[-1]
