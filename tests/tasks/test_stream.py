import torch

from grpo.tasks.prompts import HELDOUT_SHARE, PromptStream, is_reserved, stream_generators, stream_task
from grpo.tasks.sequences import pad_token, prompt_lengths


def rows(tensor):
    return {tuple(row) for row in tensor.tolist()}


def test_the_stream_never_emits_a_held_out_prompt():
    """Property over many draws: 64 seeds x 200 rollouts x 16 prompts, no reserved prompt and
    none of the held-out set; the held-out set is all reserved."""
    task = stream_task(2, 5, 4, 16, 256, seed=0)
    assert task.heldout.shape == (256, 5) and is_reserved(task.heldout, 4).all()
    heldout = rows(task.heldout)
    generators = stream_generators(range(64), "rollouts")
    drawn = torch.cat([task.stream.draw(generators).flatten(0, 1) for _ in range(200)])  # [draws pos]
    assert not is_reserved(drawn, 4).any()
    assert not rows(drawn) & heldout
    assert len(rows(drawn)) > 400  # the stream does range over the prompt space (4^2 + ... + 4^5 = 1360 prompts)


def test_the_rule_reserves_about_one_prompt_in_share_at_every_length():
    for length in range(2, 7):
        everything = torch.cartesian_prod(*[torch.arange(5)] * length)  # [5^length length]
        padded = torch.cat([everything, torch.full((len(everything), 7 - length), pad_token(5))], 1)
        share = is_reserved(padded, 5).float().mean().item()
        assert abs(share - 1 / HELDOUT_SHARE) < 0.5 / HELDOUT_SHARE + 1 / len(everything) ** 0.5, (length, share)


def test_draws_have_the_stream_law_and_are_each_seeds_own():
    stream = PromptStream(2, 6, 5, 4096)
    prompts = stream.draw(stream_generators([3], "rollouts"))[0]
    lengths = prompt_lengths(prompts, 5)
    counts = torch.bincount(lengths, minlength=7)[2:].float() / len(prompts)
    assert (counts - 0.2).abs().max() < 0.03  # lengths uniform over 2..6
    real = prompts[prompts != pad_token(5)]
    assert set(real.unique().tolist()) == set(range(5))
    again = stream.draw(stream_generators([3], "rollouts"))[0]
    assert torch.equal(prompts, again)  # the same seed and label: the same stream, whatever else is stacked
    stacked = stream.draw(stream_generators([7, 3], "rollouts"))
    assert torch.equal(stacked[1], prompts) and not torch.equal(stacked[0], prompts)
    assert not torch.equal(stream.draw(stream_generators([3], "warm start"))[0], prompts)
