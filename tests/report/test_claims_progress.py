"""`grpo claims` shows its progress (configurations read) as lines in a log (grpo.progress)."""

from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

from grpo.cli import main


def test_claims_counts_the_configurations_read(tmp_path, capsys):
    """`grpo claims` on a tiny `sequence`-like grid (12 configurations, 2 seeds, 2 epochs)."""
    text = "\n".join(["seeds = 2", "[grid]", 'policy = "transformer"', 'task = "variable"', "task_length = 3",
                      "task_prompts = 4", "task_heldout = 4", "max_response_length = 5", 'reward_fn = "sort_distance"',
                      "responses = 4", "epochs = 2", "steps_per_epoch = 1", "epsilon = 0.2", "dim = 8", "heads = 2",
                      'loss_agg = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"]',
                      'loss_mode = ["clipped", "clip_higher"]', 'deltas_mode = ["normalized_rewards", "centered_rewards"]'])
    folder = build_results(tmp_path, "seq", text + "\n")
    assert main(["claims", str(folder), "--out", str(tmp_path / "reports")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[-1].startswith("configurations read: 12/12 config (100%)")
