"""Losses and KL: gradients against theory, the trust region, and the seed document's ratio defect."""

import math

import pytest
import torch

from grpo.core.config import TrainConfig
from grpo.modes.losses import KL_ESTIMATORS, KL_PLACEMENTS, KL_REDUCTIONS, LOSSES
from grpo.testing import assert_ratio_gradient_equals_naive


@pytest.mark.parametrize("mode", [mode for mode in LOSSES if mode not in ("naive", "luspo")])
def test_ratio_gradient_equals_naive_at_old_policy(mode):
    """At theta = theta_old, r = 1 and grad r = grad log pi: the naive gradient (for gspo the
    sequence ratio's gradient is the mean over positions, which the naive mean also takes;
    cispo's detached weight is 1, as vespo's phi(1) and sapo's gate slope; geo_mean's geometric
    mean has the mean's gradient; clip_cov here with no candidate token; luspo, L x this:
    tests/modes/test_mechanisms.py)."""
    no_cut = TrainConfig(loss_mode="clip_cov", clip_cov_lb=1e3, clip_cov_ub=1e4) if mode == "clip_cov" else None
    assert_ratio_gradient_equals_naive(mode, no_cut)


def test_seed_ratio_flips_the_gradient():
    """The seed document's `log_probs / old_log_probs` at theta_old has gradient grad(log pi) / log pi_old:
    log-probs are negative, so every token is pushed the wrong way."""
    log_probs = torch.log(torch.tensor([[[[0.2, 0.5, 0.9]]]])).requires_grad_()
    old = log_probs.detach().clone()
    deltas = torch.tensor([[[1.0]]])
    LOSSES["naive"](log_probs, None, deltas, TrainConfig()).loss.sum().backward()
    naive = log_probs.grad.clone()
    log_probs.grad = None
    (-(log_probs / old) * deltas[..., None]).mean().backward()
    assert (naive * log_probs.grad < 0).all()


@pytest.mark.parametrize("mode", ["clipped", "clip_higher"])
def test_trust_region_equals_ppos_minimum_form(mode):
    """The loss as one ``where`` gives the values and gradients of PPO's written form,
    -mean(min(r * delta, clip(r) * delta)), on ratios on both sides of the region and deltas of
    both signs (and zero)."""
    config = TrainConfig(loss_mode=mode)
    low, high = (config.epsilon, config.epsilon) if mode == "clipped" else (config.epsilon_low, config.epsilon_high)
    generator = torch.Generator().manual_seed(3)
    old = torch.zeros(4, 3, 10, 3)
    log_probs = (0.5 * torch.randn(old.shape, generator=generator)).requires_grad_()  # ratios 0.2 .. 5
    deltas = torch.randn(4, 3, 10, generator=generator)
    deltas[0, 0] = 0.0
    terms = LOSSES[mode](log_probs, old, deltas, config)
    ours = torch.autograd.grad(terms.loss.sum(), log_probs)[0]
    ratio = torch.exp(log_probs - old)
    written = -torch.minimum(ratio * deltas[..., None], ratio.clamp(1 - low, 1 + high) * deltas[..., None]).mean((1, 2, 3))
    theirs = torch.autograd.grad(written.sum(), log_probs)[0]
    assert torch.equal(terms.loss, written.detach())
    assert torch.equal(ours, theirs)
    assert (terms.clip_low > 0).all() and (terms.clip_high > 0).all() and (terms.clip_low + terms.clip_high < 1).all()


def test_clipped_gradient_vanishes_outside_trust_region_in_delta_direction():
    eps = 0.1
    old = torch.zeros(1, 1, 4, 1)
    # ratios 1.5, 1.5, 0.5, 0.5 against deltas +1, -1, -1, +1
    log_probs = torch.log(torch.tensor([1.5, 1.5, 0.5, 0.5])).view(1, 1, 4, 1).requires_grad_()
    deltas = torch.tensor([[[1.0, -1.0, -1.0, 1.0]]])
    terms = LOSSES["clipped"](log_probs, old, deltas, TrainConfig(loss_mode="clipped", epsilon=eps))
    terms.loss.sum().backward()
    grad = log_probs.grad.flatten()
    assert grad[0] == 0 and grad[2] == 0  # left the region the way its delta pushes: clipped
    # inside the min, the unclipped term: d(-r * delta / 4) / d log pi = -r * delta / 4
    torch.testing.assert_close(grad[1], torch.tensor(1.5 / 4))
    torch.testing.assert_close(grad[3], torch.tensor(-0.5 / 4))
    assert terms.clip_high.item() == 0.25 and terms.clip_low.item() == 0.25


def test_losses_by_hand():
    log_probs = torch.log(torch.tensor([0.5, 0.25])).view(1, 1, 1, 2)
    old = torch.log(torch.tensor([0.25, 0.25])).view(1, 1, 1, 2)
    deltas = torch.tensor([[[2.0]]])
    naive = LOSSES["naive"](log_probs, None, deltas, TrainConfig()).loss.item()
    assert naive == pytest.approx(-(math.log(0.5) + math.log(0.25)))
    unclipped = LOSSES["unclipped"](log_probs, old, deltas, TrainConfig(loss_mode="unclipped")).loss.item()
    assert unclipped == pytest.approx(-(2 * 2 + 1 * 2) / 2)
    clipped = LOSSES["clipped"](log_probs, old, deltas, TrainConfig(loss_mode="clipped", epsilon=0.2)).loss.item()
    assert clipped == pytest.approx(-(1.2 * 2 + 1 * 2) / 2)


def test_losses_keep_seeds_independent():
    """Seed s's loss depends on seed s's inputs only."""
    log_probs, old, deltas = -torch.rand(3, 2, 4, 5), -torch.rand(3, 2, 4, 5), torch.randn(3, 2, 4)
    for mode in LOSSES:
        base = LOSSES[mode](log_probs, old, deltas, TrainConfig(loss_mode=mode)).loss
        changed = log_probs.clone()
        changed[1] -= 1.0
        other = LOSSES[mode](changed, old, deltas, TrainConfig(loss_mode=mode)).loss
        assert base[0] == other[0] and base[2] == other[2] and base[1] != other[1]


def kl_sum(estimator):
    """An estimator reduced as the seed document reduces it: summed over positions. -> [seed]"""
    return lambda log_probs, ref: KL_REDUCTIONS["sum"](KL_ESTIMATORS[estimator](log_probs, ref))


def test_kl_reductions_by_hand():
    tokens = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]])  # [seed=1 batch=1 response=2 pos=3]
    assert KL_REDUCTIONS["sum"](tokens).tolist() == [(6 + 15) / 2]
    assert KL_REDUCTIONS["mean"](tokens).tolist() == [21 / 6]


def test_k3_by_hand_and_non_negative():
    kl_k3 = kl_sum("k3")
    p = torch.log(torch.tensor([0.5, 0.4])).view(1, 1, 1, 2)
    q = torch.log(torch.tensor([0.25, 0.4])).view(1, 1, 1, 2)
    assert kl_k3(p, q).item() == pytest.approx(0.5 - math.log(0.5) - 1)
    assert kl_k3(p, p).item() == 0
    log_probs, ref = -torch.rand(4, 3, 5, 6) * 3, -torch.rand(4, 3, 5, 6) * 3
    assert (kl_k3(log_probs, ref) >= 0).all()


def test_kl_estimators_against_the_exact_kl():
    """Monte Carlo over tokens drawn from pi: k1 and k3 are unbiased for KL(pi || pi_ref);
    k2 is biased but agrees to second order for nearby distributions; k3 is never negative."""
    pi = torch.tensor([0.5, 0.3, 0.2])
    ref = torch.tensor([0.4, 0.35, 0.25])
    exact = (pi * (pi / ref).log()).sum().item()
    tokens = torch.multinomial(pi, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    log_probs, ref_log_probs = pi.log()[tokens].view(1, 1, -1, 1), ref.log()[tokens].view(1, 1, -1, 1)
    estimates = {name: kl_sum(name)(log_probs, ref_log_probs).item() for name in ("k1", "k2", "k3")}
    assert estimates["k1"] == pytest.approx(exact, rel=0.1)
    assert estimates["k3"] == pytest.approx(exact, rel=0.05)
    assert estimates["k2"] == pytest.approx(exact, rel=0.15)
    far = torch.tensor([0.05, 0.05, 0.9])  # far apart, k2's bias shows
    exact_far = (pi * (pi / far).log()).sum().item()
    k2_far = kl_sum("k2")(log_probs, far.log()[tokens].view(1, 1, -1, 1)).item()
    assert abs(k2_far - exact_far) > 0.1 * exact_far
    token_k3 = KL_ESTIMATORS["k3"](-torch.rand(1, 1, 1000, 1) * 5, -torch.rand(1, 1, 1000, 1) * 5)  # per token
    assert (token_k3 >= 0).all()


def test_k3_corrected_by_hand():
    """r x k3 with r = pi / pi_old: pi 0.5, pi_ref 0.25, pi_old 0.4 -> 1.25 x (0.5 - log 0.5 - 1);
    its gradient in log pi is r k3 + r (1 - pi_ref / pi) = 1.25 x (0.5 - log 0.5 - 1 + 0.5)."""
    p = torch.tensor(math.log(0.5)).view(1, 1, 1, 1).requires_grad_()
    q, old = torch.tensor(math.log(0.25)).view(1, 1, 1, 1), torch.tensor(math.log(0.4)).view(1, 1, 1, 1)
    value = KL_ESTIMATORS["k3_corrected"](p, q, old)
    assert value.item() == pytest.approx(1.25 * (0.5 - math.log(0.5) - 1), rel=1e-6)
    value.sum().backward()
    assert p.grad.item() == pytest.approx(1.25 * (0.5 - math.log(0.5) - 1 + 0.5), rel=1e-6)
    same = KL_ESTIMATORS["k3_corrected"](p.detach(), q, p.detach())  # at pi = pi_old: k3 itself
    assert same.item() == KL_ESTIMATORS["k3"](p.detach(), q).item()


def test_k3_corrected_is_exact_in_expectation_off_policy_where_k3_is_not():
    """Tokens drawn from pi_old != pi, weighted exactly by pi_old over the vocabulary:
    E_old[k3_corrected] = KL(pi || pi_ref) and E_old[grad k3_corrected] = grad KL(pi || pi_ref)
    (autograd of the exact KL in pi's logits); plain k3 misses both."""
    logits = torch.tensor([0.3, -0.2, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    old = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    log_pi = logits.log_softmax(-1)
    exact = (log_pi.exp() * (log_pi - ref.log())).sum()
    exact_grad, = torch.autograd.grad(exact, logits, retain_graph=True)
    view = lambda t: t.view(1, 1, 4, 1)  # noqa: E731 - every vocabulary entry as one response of one token
    for name, unbiased in (("k3_corrected", True), ("k3", False)):
        args = (view(log_pi), view(ref.log())) + ((view(old.log()),) if name == "k3_corrected" else ())
        expected = (old * KL_ESTIMATORS[name](*args).flatten()).sum()  # E over tokens drawn from pi_old
        grad, = torch.autograd.grad(expected, logits, retain_graph=True)
        assert (expected.item() == pytest.approx(exact.item(), rel=1e-12)) is unbiased
        assert torch.allclose(grad, exact_grad, rtol=1e-10, atol=1e-12) is unbiased


def test_clip_higher_is_asymmetric():
    """DAPO: with eps_low 0.2 and eps_high 0.28 a ratio of 1.25 with a positive delta still has a
    gradient (symmetric 0.2 would clip it), and 0.75 with a negative delta is clipped."""
    config = TrainConfig(loss_mode="clip_higher")  # DAPO's 0.2 / 0.28 by default
    log_probs = torch.log(torch.tensor([1.25, 0.75])).view(1, 1, 2, 1).requires_grad_()
    deltas = torch.tensor([[[1.0, -1.0]]])
    terms = LOSSES["clip_higher"](log_probs, torch.zeros(1, 1, 2, 1), deltas, config)
    terms.loss.sum().backward()
    assert log_probs.grad.flatten().tolist() == pytest.approx([-1.25 / 2, 0.0])
    assert (terms.clip_low.item(), terms.clip_high.item()) == (0.5, 0.0)
    symmetric = log_probs.detach().clone().requires_grad_()
    LOSSES["clipped"](symmetric, torch.zeros(1, 1, 2, 1), deltas, TrainConfig(loss_mode="clipped", epsilon=0.2)).loss.sum().backward()
    assert symmetric.grad.flatten().tolist() == [0.0, 0.0]


def test_gspo_clips_whole_sequences():
    """Two 2-token sequences, delta +1: log-ratios (0.3, -0.3) average to ratio 1 (kept, both
    tokens get gradient), (0.3, 0.1) to exp(0.2) > 1.01 (the whole sequence is clipped)."""
    log_probs = torch.tensor([[0.3, -0.3], [0.3, 0.1]]).view(1, 1, 2, 2).requires_grad_()
    terms = LOSSES["gspo"](log_probs, torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2), TrainConfig(loss_mode="gspo"))
    terms.loss.sum().backward()
    grad = log_probs.grad[0, 0]
    assert (grad[0] != 0).all() and (grad[1] == 0).all()
    assert terms.clip_high.item() == 0.5


def test_cispo_keeps_every_tokens_gradient_with_a_clipped_weight():
    """With the sources' defaults (no lower bound, ratio cap 5) a ratio of 8 is clipped to 5 and
    still passes -5 * delta / n to its log-prob; a ratio of 0.1 is not clipped at all. With DAPO's
    0.2 / 0.28 the same ratios are clipped to 1.28 and 0.8."""
    ratios = torch.tensor([8.0, 0.1, 1.0])
    for config, weights, clipped in [(TrainConfig(loss_mode="cispo"), [5.0, 0.1, 1.0], (0, 1 / 3)),
                                     (TrainConfig(loss_mode="cispo", epsilon_low=0.2, epsilon_high=0.28), [1.28, 0.8, 1.0],
                                      (1 / 3, 1 / 3))]:
        log_probs = ratios.log().view(1, 1, 3, 1).requires_grad_()
        terms = LOSSES["cispo"](log_probs, torch.zeros(1, 1, 3, 1), torch.ones(1, 1, 3), config)
        terms.loss.sum().backward()
        assert log_probs.grad.flatten().tolist() == pytest.approx([-w / 3 for w in weights])
        assert (terms.clip_low.item(), terms.clip_high.item()) == pytest.approx(clipped)


def test_kl_in_reward_subtracts_the_coefficient_times_each_responses_summed_kl():
    rewards = torch.tensor([[[1.0, 0.0]]])  # [seed=1 batch=1 response=2]
    kl_tokens = torch.tensor([[[[0.1, 0.2, 0.3], [0.5, -0.25, 9.0]]]], requires_grad=True)  # [seed batch response pos]
    mask = torch.tensor([[[[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]]])  # the second response ended after 2 tokens
    shaped = KL_PLACEMENTS["reward"](rewards, kl_tokens, mask, 0.5)
    assert shaped.flatten().tolist() == pytest.approx([1.0 - 0.5 * 0.6, 0.0 - 0.5 * 0.25])
    assert not shaped.requires_grad  # detached: the KL reaches the loss only through the deltas
    every_token = KL_PLACEMENTS["reward"](rewards, kl_tokens, None, 2.0)
    assert every_token.flatten().tolist() == pytest.approx([1.0 - 2 * 0.6, 0.0 - 2 * 9.25])
    per_slice = torch.tensor([0.5, 2.0], dtype=torch.float64).view(-1, 1, 1, 1)  # a group's coefficient [slice 1 1 1]
    two = KL_PLACEMENTS["reward"](rewards.expand(2, 1, 2), kl_tokens.detach().expand(2, 1, 2, 3), None, per_slice)
    assert two.flatten().tolist() == pytest.approx([1.0 - 0.5 * 0.6, -0.5 * 9.25, 1.0 - 2 * 0.6, -2 * 9.25])


def test_kl_in_loss_adds_the_coefficient_times_the_penalty():
    loss, penalty = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.25])
    assert KL_PLACEMENTS["loss"](loss, penalty, 0.2).tolist() == pytest.approx([1.1, -1.95])


def test_clip_high_low_prob_frac_by_hand():
    """Response 0 (delta +1): rollout probabilities 0.1, 0.5, 0.05, ratios 1.5, 1.5, 1.1; response 1
    (delta -1) never counts. The low-probability tokens with a positive delta are the first and
    third: with DAPO's upper bound 1.28 one of the two is above (0.5), with 1.01 both, with
    cispo's 5 neither; a loss that clips no token's ratio reports none."""
    old = torch.log(torch.tensor([[0.1, 0.5, 0.05], [0.1, 0.15, 0.9]])).view(1, 1, 2, 3)
    log_probs = old + torch.log(torch.tensor([[1.5, 1.5, 1.1], [2.0, 2.0, 2.0]])).view(1, 1, 2, 3)
    deltas = torch.tensor([[[1.0, -1.0]]])
    got = {mode: LOSSES[mode](log_probs, old, deltas, TrainConfig(loss_mode=mode)).clip_high_low_prob
           for mode in ("clip_higher", "clipped", "cispo", "naive", "unclipped", "gspo")}
    assert got["clip_higher"].tolist() == pytest.approx([0.5])
    assert got["clipped"].tolist() == [1.0] and got["cispo"].tolist() == [0.0]
    assert got["naive"] is None and got["unclipped"] is None and got["gspo"] is None
    first_masked = torch.tensor([[[[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]])  # the 1.5 token is not real
    masked = LOSSES["clip_higher"](log_probs, old, deltas, TrainConfig(loss_mode="clip_higher"), mask=first_masked)
    assert masked.clip_high_low_prob.tolist() == [0.0]
    none_qualify = LOSSES["clip_higher"](log_probs, old, 0 * deltas, TrainConfig(loss_mode="clip_higher"))
    assert math.isnan(none_qualify.clip_high_low_prob.item())
