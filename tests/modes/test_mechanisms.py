"""TRL's and verl's newer losses, each against a reference written from its peer's code: value and gradient
on ragged responses (several seeds stacked, each seed's reference computed alone in the peer's
layout [responses, tokens]), then stacked seeds against separate runs and the one-line refusals.

Peer sources, as fetched: verl b178a3c (verl/trainer/ppo/core_algos.py), TRL f2cd577
(trl/trainer/grpo_trainer.py); line numbers are theirs.
"""

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from grpo.core.config import TrainConfig
from grpo.core.train import train, train_group
from grpo.errors import UsageError
from grpo.experiment.grids import load_grid
from grpo.modes.losses import KL_CONTROLLERS, KL_ESTIMATORS, LOSSES, kl_coefficients, loss_options
from grpo.testing import assert_stacked_seeds_equal_separate_runs

SEEDS, BATCH, RESPONSES, POS = 3, 2, 4, 5
LENGTHS = torch.tensor([5, 1, 3, 4, 2, 5, 3, 1])  # real tokens of each (batch, response), ragged


def case(scale=0.6, seed=0):
    """log pi (a leaf), log pi_old, deltas of both signs and zero, and the ragged mask:
    [seed batch response pos], [seed batch response], [seed batch response pos]."""
    generator = torch.Generator().manual_seed(seed)
    old = torch.log(torch.rand(SEEDS, BATCH, RESPONSES, POS, generator=generator) * 0.9 + 0.05)
    log_probs = (old + scale * torch.randn(old.shape, generator=generator)).clamp(max=-1e-3).requires_grad_()
    deltas = torch.randn(SEEDS, BATCH, RESPONSES, generator=generator)
    deltas[:, 0, 1] = 0.0
    mask = (torch.arange(POS) < LENGTHS.view(BATCH, RESPONSES, 1)).float().expand(SEEDS, -1, -1, -1).contiguous()
    return log_probs, old, deltas, mask


def config_for(loss_mode, loss_agg="seq_mean_token_mean", **options):
    return SimpleNamespace(**{**TrainConfig().as_dict(), **loss_options(loss_mode), "loss_mode": loss_mode,
                              "loss_agg": loss_agg, **options})


def ours(loss_mode, log_probs, old, deltas, mask, config):
    """The loss's per-seed values and the gradient of their sum."""
    log_probs.grad = None
    terms = LOSSES[loss_mode](log_probs, old, deltas, config, mask=mask)
    terms.loss.sum().backward()
    return terms, log_probs.grad.clone()


def peer(reference, log_probs, old, deltas, mask):
    """`reference(log_prob, old_log_prob, advantages, response_mask)` in the peer's layout, one
    seed at a time ([responses tokens], advantages broadcast over tokens as verl's are): the
    per-seed values and the gradient of their sum."""
    log_probs.grad = None
    values = []
    for s in range(SEEDS):
        flat = [t[s].reshape(BATCH * RESPONSES, POS) for t in (log_probs, old, mask)]
        advantages = deltas[s].reshape(-1, 1).expand(-1, POS)
        values.append(reference(flat[0], flat[1], advantages, flat[2]))
    torch.stack(values).sum().backward()
    return torch.stack(values).detach(), log_probs.grad.clone()


def assert_matches(loss_mode, config, reference, log_probs, old, deltas, mask, rtol=1e-5, atol=1e-6):
    terms, gradient = ours(loss_mode, log_probs, old, deltas, mask, config)
    values, expected = peer(reference, log_probs, old, deltas, mask)
    torch.testing.assert_close(terms.loss.detach(), values, rtol=rtol, atol=atol)
    torch.testing.assert_close(gradient, expected, rtol=rtol, atol=atol)
    assert gradient.abs().max() > 1e-3
    return terms


def masked_mean(values, mask, dim=None):  # verl_F.masked_mean
    return (values * mask).sum() / mask.sum() if dim is None else (values * mask).sum(dim) / mask.sum(dim)


def seq_mean_token_mean(loss_mat, mask):  # verl agg_loss "seq-mean-token-mean"; TRL loss_type "grpo"
    return ((loss_mat * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


def token_mean(loss_mat, mask):  # verl agg_loss "token-mean"; TRL "dapo" on one process
    return (loss_mat * mask).sum() / mask.sum()


@pytest.mark.parametrize("loss_mode", ["clipped", "clip_higher"])
def test_dual_clip_is_verls_clip_ratio_c_and_trls_delta(loss_mode):
    """verl compute_policy_loss_vanilla (core_algos.py 1212-1232: pg_losses3 = -A c, taken where
    A < 0) and TRL's two-sided clip (grpo_trainer.py 3084-3091: coef_1 clamped at delta before the
    min) give our dual clip's value and gradient; its share of tokens is A < 0 and r > c."""
    log_probs, old, deltas, mask = case(scale=1.0)
    config = config_for(loss_mode, "token_mean", clip_ratio_c=1.5)
    low, high = (config.epsilon, config.epsilon) if loss_mode == "clipped" else (config.epsilon_low, config.epsilon_high)

    def verl(log_prob, old_log_prob, advantages, response_mask):
        ratio = torch.exp(log_prob - old_log_prob)
        pg_losses1, pg_losses2 = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - low, 1 + high)
        clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
        clip_pg_losses2 = torch.min(-advantages * config.clip_ratio_c, clip_pg_losses1)
        return token_mean(torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1), response_mask)

    def trl(log_prob, old_log_prob, advantages, response_mask):
        coef_1 = torch.exp(log_prob - old_log_prob)
        coef_2 = torch.clamp(coef_1, 1 - low, 1 + high)
        coef_1 = torch.clamp(coef_1, max=config.clip_ratio_c)
        return token_mean(-torch.min(coef_1 * advantages, coef_2 * advantages), response_mask)

    terms = assert_matches(loss_mode, config, verl, log_probs, old, deltas, mask)
    assert_matches(loss_mode, config, trl, log_probs, old, deltas, mask)
    ratio = torch.exp(log_probs - old).detach()
    dual = ((ratio > 1.5) & (deltas[..., None] < 0)).float()
    share = (dual * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3))
    assert (share > 0).all()
    torch.testing.assert_close(terms.extra_clip, share)


def test_sapo_is_trls_and_verls_gate():
    """TRL grpo_trainer.py 3092-3095 (sigmoid(tau (r - 1)) x 4 / tau, tau by A > 0), aggregated
    as its loss_type "sapo" (3127: the grpo normaliser), and verl core_algos.py 1364-1391."""
    log_probs, old, deltas, mask = case()
    config = config_for("sapo")

    def trl(log_prob, old_log_prob, advantages, response_mask):
        coef_1 = torch.exp(log_prob - old_log_prob)
        temperatures = torch.where(advantages > 0, config.sapo_temperature_pos, config.sapo_temperature_neg)
        soft_coef_1 = torch.sigmoid(temperatures * (coef_1 - 1)) * 4 / temperatures
        return seq_mean_token_mean(-soft_coef_1 * advantages, response_mask)

    terms = assert_matches("sapo", config, trl, log_probs, old, deltas, mask)
    assert (terms.clip_low == 0).all() and (terms.clip_high == 0).all()


def test_vespo_is_trls_gamma_weight():
    """TRL get_gamma_weights (grpo_trainer.py 2943-2989) and its loss (3096-3107), aggregated as
    TRL aggregates vespo (3139-3141: tokens / the batch's token count): loss_agg token_mean."""
    log_probs, old, deltas, mask = case(scale=0.15)
    config = config_for("vespo", "token_mean")

    def trl(log_prob, old_log_prob, advantages, response_mask):
        with torch.no_grad():
            seq_log_ratio = torch.sum(torch.clamp(log_prob - old_log_prob, -20.0, 20.0) * response_mask, -1, keepdim=True)
            log_w_seq = torch.clamp(seq_log_ratio, math.log(1e-8), 20.0)
            nonneg = advantages[:, :1] >= 0
            k_seq = torch.where(nonneg, config.vespo_k_pos, config.vespo_k_neg)
            lambda_seq = torch.where(nonneg, config.vespo_lambda_pos, config.vespo_lambda_neg).clamp(min=1e-4)
            phi_seq = torch.exp(lambda_seq + k_seq * log_w_seq - lambda_seq * torch.exp(log_w_seq)).nan_to_num(0, 0, 0)
        return token_mean(-phi_seq * advantages * log_prob, response_mask)

    assert_matches("vespo", config, trl, log_probs, old, deltas, mask)


def test_luspo_is_trls_length_weighted_sequence_loss():
    """TRL grpo_trainer.py 3062-3066 (sequence-level log weight: the masked mean log-ratio),
    3083-3091 (the clipped min) and 3143-3145 (x the response's length, mean over responses)."""
    log_probs, old, deltas, mask = case(scale=0.02)
    config = config_for("luspo")
    epsilon = config.epsilon

    def trl(log_prob, old_log_prob, advantages, response_mask):
        log_importance_weights = ((log_prob - old_log_prob) * response_mask).sum(-1) / response_mask.sum(-1).clamp(min=1.0)
        coef_1 = torch.exp(log_importance_weights.unsqueeze(-1))
        coef_2 = torch.clamp(coef_1, 1 - epsilon, 1 + epsilon)
        per_token_loss = -torch.min(coef_1 * advantages[:, :1], coef_2 * advantages[:, :1])
        return (per_token_loss * response_mask.sum(1, keepdim=True)).mean()

    terms = assert_matches("luspo", config, trl, log_probs, old, deltas, mask)
    assert (terms.clip_low + terms.clip_high > 0).all()  # both sides of the region reached


def test_luspo_gradient_at_the_old_policy_is_length_times_naive():
    """On the seed policy every response has L = 3 tokens: luspo's gradient at r = 1 is 3 x the
    naive one (the mean over positions times the length)."""
    log_probs, _, deltas, _ = case()
    _, naive_gradient = ours("naive", log_probs, None, deltas, None, config_for("naive"))
    _, luspo_gradient = ours("luspo", log_probs, log_probs.detach(), deltas, None, config_for("luspo"))
    torch.testing.assert_close(luspo_gradient, POS * naive_gradient)


def test_geo_mean_is_verls_gmpo():
    """verl compute_policy_loss_geo_mean (core_algos.py 1676-1707): the sign-pessimistic clamp of
    each log-ratio, the geometric mean over the response, the mean over responses. Its clip
    shares count the tokens whose clip acts."""
    log_probs, old, deltas, mask = case(scale=0.6)
    config = config_for("geo_mean")
    low, high = config.epsilon_low, config.epsilon_high

    def verl(log_prob, old_log_prob, advantages, response_mask):
        negative_approx_kl = log_prob - old_log_prob
        sgn_advantage = torch.sign(advantages)
        negative_approx_kl_clamp = torch.clamp(negative_approx_kl, -low, high)
        negative_approx_kl_min = sgn_advantage * torch.min(sgn_advantage * negative_approx_kl,
                                                           sgn_advantage * negative_approx_kl_clamp)
        response_mask_sum = response_mask.sum(dim=-1)
        ratio = torch.exp((negative_approx_kl_min * response_mask).sum(dim=-1) / (response_mask_sum + 1e-8))
        advantage = (advantages * response_mask).sum(dim=-1) / (response_mask_sum + 1e-8)
        return torch.mean(-advantage * ratio)

    terms = assert_matches("geo_mean", config, verl, log_probs, old, deltas, mask)
    log_ratio = (log_probs - old).detach()
    high_share = (((log_ratio > high) & (deltas[..., None] > 0)).float() * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3))
    torch.testing.assert_close(terms.clip_high, high_share)
    assert terms.clip_high.sum() > 0 and (terms.clip_low > 0).all()


def test_gspo_token_is_verls_gspo_and_equals_gspo_with_sequence_deltas():
    """verl compute_policy_loss_gspo (core_algos.py 1287-1314: s_t = sg[s] pi / sg[pi], clamped
    at log 10, clipped per token, seq-mean-token-mean); with one delta a response it is our gspo,
    value and gradient (GSPO, arXiv 2507.18071, §4.3)."""
    log_probs, old, deltas, mask = case(scale=0.02)
    config = config_for("gspo_token")
    epsilon = config.epsilon

    def verl(log_prob, old_log_prob, advantages, response_mask):
        seq_lengths = torch.sum(response_mask, dim=-1).clamp(min=1)
        negative_approx_kl_seq = torch.sum((log_prob - old_log_prob) * response_mask, dim=-1) / seq_lengths
        log_seq_importance_ratio = log_prob - log_prob.detach() + negative_approx_kl_seq.detach().unsqueeze(-1)
        seq_importance_ratio = torch.exp(torch.clamp(log_seq_importance_ratio, max=10.0))
        pg_losses1 = -advantages * seq_importance_ratio
        pg_losses2 = -advantages * torch.clamp(seq_importance_ratio, 1 - epsilon, 1 + epsilon)
        return seq_mean_token_mean(torch.maximum(pg_losses1, pg_losses2), response_mask)

    terms = assert_matches("gspo_token", config, verl, log_probs, old, deltas, mask)
    assert (terms.clip_low + terms.clip_high > 0).all()
    for loss_agg in ("seq_mean_token_mean", "token_mean"):
        token, token_gradient = ours("gspo_token", log_probs, old, deltas, mask, config_for("gspo_token", loss_agg))
        sequence, sequence_gradient = ours("gspo", log_probs, old, deltas, mask, config_for("gspo", loss_agg))
        torch.testing.assert_close(token.loss, sequence.loss)
        torch.testing.assert_close(token_gradient, sequence_gradient)


def verl_covariance(log_prob, advantages, response_mask):  # core_algos.py 1519-1521 (and 1603-1611 for kl_cov)
    return (advantages - masked_mean(advantages, response_mask)) * (
        log_prob - masked_mean(log_prob.detach(), response_mask))


def test_clip_cov_is_verls_when_every_candidate_is_cut():
    """verl compute_policy_loss_clip_cov (core_algos.py 1508-1545) with a ratio that cuts every
    candidate (so its random choice, torch.randperm, picks them all): the same value, gradient and
    share of tokens cut."""
    log_probs, old, deltas, mask = case(scale=0.3)
    config = config_for("clip_cov", "token_mean", clip_cov_ratio=1.0, clip_cov_lb=0.05)
    low, high = config.epsilon_low, config.epsilon_high

    def verl(log_prob, old_log_prob, advantages, response_mask):
        ratio = torch.exp(log_prob - old_log_prob)
        pg_losses1 = -advantages * ratio
        pg_losses2 = -advantages * torch.clamp(ratio, 1 - low, 1 + high)
        clip_by_origin = (pg_losses2 > pg_losses1) & (response_mask > 0)
        cov_all = verl_covariance(log_prob, advantages, response_mask).detach()
        cov_all[response_mask == 0] = -torch.inf
        cov_all[clip_by_origin] = -torch.inf
        corr = torch.where((cov_all < config.clip_cov_ub) & (cov_all > config.clip_cov_lb) & (response_mask > 0), 0.0, 1.0)
        verl.cut.append(masked_mean((corr == 0).float(), response_mask))
        return token_mean(torch.maximum(pg_losses1, pg_losses2) * corr, response_mask)

    verl.cut = []
    terms = assert_matches("clip_cov", config, verl, log_probs, old, deltas, mask)
    torch.testing.assert_close(terms.extra_clip, torch.stack(verl.cut[-SEEDS:]))
    assert (terms.extra_clip > 0).all()


def test_clip_cov_cuts_the_highest_covariance_candidates_per_seed():
    """With room for one token a seed (max(1, int(2e-4 x 30)) = 1), the one cut is the candidate
    of highest covariance term (verl draws it at random): by hand, the seed's token whose term is
    the largest below clip_cov_ub loses its gradient, and no other token does."""
    log_probs, old, deltas, mask = case(scale=0.01)
    config = config_for("clip_cov")
    terms, gradient = ours("clip_cov", log_probs, old, deltas, mask, config)
    _, unclipped = ours("clip_higher", log_probs, old, deltas, mask, config_for("clip_higher", epsilon_high=0.2))
    for s in range(SEEDS):
        flat = [t[s].reshape(BATCH * RESPONSES, POS) for t in (log_probs.detach(), mask)]
        cov = verl_covariance(flat[0], deltas[s].reshape(-1, 1).expand(-1, POS), flat[1])
        cov[(flat[1] == 0) | (cov >= config.clip_cov_ub) | (cov <= config.clip_cov_lb)] = -torch.inf
        top = divmod(int(cov.argmax()), POS)
        differs = (gradient[s] != unclipped[s]).reshape(BATCH * RESPONSES, POS).nonzero().tolist()
        assert differs == [list(top)], (s, differs, top)
        assert gradient[s].reshape(-1, POS)[top].item() == 0.0
    torch.testing.assert_close(terms.extra_clip, 1 / mask.sum((1, 2, 3)))


def test_kl_cov_is_verls():
    """verl compute_policy_loss_kl_cov (core_algos.py 1595-1625): the unclipped loss plus
    ppo_kl_coef |log r| on the int(N x kl_cov_ratio) tokens of highest covariance (torch.topk)."""
    log_probs, old, deltas, mask = case(scale=0.3)
    config = config_for("kl_cov", "token_mean", kl_cov_ratio=0.2, ppo_kl_coef=0.5)

    def verl(log_prob, old_log_prob, advantages, response_mask):
        negative_approx_kl = log_prob - old_log_prob
        ratio = torch.exp(negative_approx_kl)
        pg_losses = -advantages * ratio
        pg_losses_kl = -advantages * ratio + config.ppo_kl_coef * negative_approx_kl.abs()
        all_valid = response_mask > 0
        all_valid_idx = torch.nonzero(all_valid.reshape(-1), as_tuple=True)[0]
        adv, logp = advantages[all_valid].detach().reshape(-1), log_prob[all_valid].detach().reshape(-1)
        cov_lst_all = (adv - adv.mean()) * (logp - logp.mean())
        k_percent_nums = max(1, int(len(cov_lst_all) * config.kl_cov_ratio))
        large_cov_idxs = all_valid_idx[torch.topk(cov_lst_all, k_percent_nums, largest=True).indices]
        rows, columns = large_cov_idxs // advantages.shape[1], large_cov_idxs % advantages.shape[1]
        pg_losses = pg_losses.clone()
        pg_losses[rows, columns] = pg_losses_kl[rows, columns]
        return token_mean(pg_losses, response_mask)

    terms = assert_matches("kl_cov", config, verl, log_probs, old, deltas, mask)
    torch.testing.assert_close(terms.extra_clip, torch.floor(mask.sum((1, 2, 3)) * 0.2) / mask.sum((1, 2, 3)))


@pytest.mark.parametrize("loss_mode", ["gspo_token", "luspo", "sapo", "vespo", "geo_mean", "clip_cov", "kl_cov"])
def test_new_losses_keep_stacked_seeds_apart(loss_mode):
    options = {"clip_cov": dict(clip_cov_ratio=0.05, clip_cov_lb=0.01), "kl_cov": dict(kl_cov_ratio=0.05)}.get(loss_mode, {})
    assert_stacked_seeds_equal_separate_runs(TrainConfig(loss_mode=loss_mode, deltas_mode="normalized_rewards", epochs=4,
                                                         steps_per_epoch=3, **options))


def test_new_losses_keep_stacked_seeds_apart_on_ragged_responses():
    for loss_mode, options in [("clip_cov", dict(clip_cov_ratio=0.05, clip_cov_lb=0.01)), ("geo_mean", {}),
                               ("luspo", {}), ("kl_cov", dict(kl_cov_ratio=0.05))]:
        assert_stacked_seeds_equal_separate_runs(TrainConfig(
            loss_mode=loss_mode, deltas_mode="normalized_rewards", policy="transformer", task="variable", epochs=3,
            steps_per_epoch=2, **options))


def test_dual_clip_is_off_by_default_and_keeps_every_config_id():
    """The new options count in config_id only when set: the seed document's configuration keeps
    its key; clip_ratio_c off (0) leaves extra_clip_frac null."""
    assert TrainConfig().config_id == TrainConfig(clip_ratio_c=0.0, sapo_temperature_pos=1.0).config_id
    assert TrainConfig(loss_mode="clipped", clip_ratio_c=3.0).config_id != TrainConfig(loss_mode="clipped").config_id


@pytest.mark.parametrize("argv, message", [
    (["--loss", "naive", "--clip-ratio-c", "3"], "--clip-ratio-c 3.0: does not apply to loss_mode 'naive'; only clipped,"
                                                 " clip_higher read it"),
    (["--loss", "clip_higher", "--clip-ratio-c", "1.2"], "--clip-ratio-c 1.2: must be 0 (off) or at least 1 + epsilon_high"
                                                         " = 1.28 (the upper clip)"),
    (["--loss", "luspo", "--policy", "transformer", "--loss-agg", "token_mean"],
     "--loss-agg 'token_mean': does not apply to loss_mode 'luspo': it aggregates its own terms"),
    (["--loss", "sapo", "--sapo-temperature-neg", "0"], "--sapo-temperature-neg 0.0: must be positive"),
    (["--loss", "clip_cov", "--clip-cov-ratio", "2"], "--clip-cov-ratio 2.0: must lie in (0, 1]: a share of the tokens"),
    (["--loss", "gspo", "--vespo-k-pos", "1"], "--vespo-k-pos 1.0: does not apply to loss_mode 'gspo'; only vespo read it"),
    (["--loss", "sapo", "--delta", "3"], "--delta 3.0: does not apply to loss_mode 'sapo'; only clipped, clip_higher read it"),
])
def test_grpo_train_refuses_a_bad_combination_in_one_line(argv, message, train_refusal):
    assert message in train_refusal(argv)


def test_verl_and_trl_names_of_the_new_options():
    assert TrainConfig(loss_mode="sapo", **{"sapo_temperature_neg": 2.0}).sapo_temperature_neg == 2.0
    with pytest.raises(UsageError, match="epsilon_low 0.5: does not apply to loss_mode 'vespo'"):
        TrainConfig(loss_mode="vespo", epsilon_low=0.5)


@pytest.mark.parametrize("loss_mode, numbers", [
    ("geo_mean", [dict(epsilon_low=0.4, epsilon_high=0.4), dict(epsilon_low=0.1, epsilon_high=0.3, lr=3e-3)]),
    ("clip_cov", [dict(epsilon_low=0.2, epsilon_high=0.2), dict(epsilon_low=0.05, epsilon_high=0.1)]),
    ("gspo_token", [dict(epsilon=0.01), dict(epsilon=0.2)]),
    ("luspo", [dict(epsilon=0.01), dict(epsilon=0.2)]),
    ("clipped", [dict(epsilon=0.01, clip_ratio_c=1.5), dict(epsilon=0.2, clip_ratio_c=1.5)]),
])
def test_a_group_of_a_new_loss_equals_its_configurations_trained_alone(loss_mode, numbers):
    """The losses that declare ``sliced`` read per-slice bounds bit for bit (grpo.core.group)."""
    configs = [TrainConfig(loss_mode=loss_mode, deltas_mode="normalized_rewards", epochs=3, steps_per_epoch=3, **n)
               for n in numbers]
    for config, grouped in zip(configs, train_group(configs, [0, 1, 2]), strict=True):
        pd.testing.assert_frame_equal(grouped, train(config, [0, 1, 2]), check_exact=True)


def verl_kl_penalty(logprob, ref_logprob, kl_penalty):
    """verl kl_penalty and kl_penalty_forward (core_algos.py 1841-1902) with the "+" taken off
    the name before the forward score (at b178a3c the forward is handed "k3+" and raises
    NotImplementedError; the straight-through is what its comment describes)."""
    name = kl_penalty.removesuffix("+")
    if name in ("kl", "k1"):
        forward_score = logprob - ref_logprob
    elif name == "abs":
        forward_score = (logprob - ref_logprob).abs()
    else:  # low_var_kl, k3 (within verl's clamps, which these numbers never reach)
        kl = ref_logprob - logprob
        forward_score = torch.exp(kl) - kl - 1
    if not kl_penalty.endswith("+"):
        return forward_score
    backward_score = 0.5 * (logprob - ref_logprob).square()
    return backward_score - backward_score.detach() + forward_score.detach()


@pytest.mark.parametrize("ours_name, verl_name", [("abs", "abs"), ("k1_plus", "k1+"), ("k3_plus", "k3+"),
                                                  ("abs_plus", "abs+")])
def test_kl_estimators_are_verls_straight_through_ones(ours_name, verl_name):
    """Each value is the named estimator's; each "+" gradient is k2's, log pi - log pi_ref."""
    log_probs, ref, _, _ = case()
    values = []
    for fn in (KL_ESTIMATORS[ours_name], lambda lp, r: verl_kl_penalty(lp, r, verl_name)):
        log_probs.grad = None
        value = fn(log_probs, ref)
        value.sum().backward()
        values.append((value.detach(), log_probs.grad.clone()))
    torch.testing.assert_close(values[0][0], values[1][0])
    torch.testing.assert_close(values[0][1], values[1][1])
    if verl_name.endswith("+"):
        torch.testing.assert_close(values[0][1], (log_probs - ref).detach())


def test_plus_estimators_train_and_keep_stacked_seeds_apart():
    for estimator in ("abs", "k3_plus"):
        assert_stacked_seeds_equal_separate_runs(TrainConfig(loss_mode="clipped", kl_penalty=0.1, kl_estimator=estimator,
                                                             ref_period=2, epochs=4, steps_per_epoch=3))


def test_the_mechanisms_preset_crosses_every_new_loss_with_every_new_estimator():
    grid = load_grid("mechanisms")
    configs = grid.configs()
    new_losses = {"gspo_token", "luspo", "sapo", "vespo", "geo_mean", "clip_cov", "kl_cov"}
    new_deltas = {"group_mean_batch_std", "reinforce_plus_plus", "opo", "gpg", "grpo_passk"}
    pairs = {(c.loss_mode, c.deltas_mode) for c in configs}
    assert {(loss, deltas) for loss in new_losses for deltas in new_deltas} <= pairs
    assert TrainConfig() in configs and len(configs) == 80 and list(grid.cells()) == ["default", "lr 0.01"]


class VerlAdaptiveKLController:  # verl core_algos.py 152-173
    def __init__(self, init_kl_coef, target_kl, horizon):
        self.value, self.target, self.horizon = init_kl_coef, target_kl, horizon

    def update(self, current_kl, n_steps):
        proportional_error = min(max(current_kl / self.target - 1, -0.2), 0.2)
        self.value *= 1 + proportional_error * n_steps / self.horizon


def test_the_adaptive_kl_coefficient_is_verls_controller_per_seed():
    """Three rollouts: each seed's coefficient follows verl's controller fed its rollout's KL as
    ray_trainer.py apply_kl_penalty computes it (masked mean over a response's tokens, mean over
    the batch; n_steps the batch's responses), on ragged responses; both clip sides reached."""
    config = SimpleNamespace(kl_target=0.05, kl_horizon=100.0)
    coefficient = kl_coefficients(0.2, SEEDS, torch.device("cpu"))
    controllers = [VerlAdaptiveKLController(0.2, 0.05, 100.0) for _ in range(SEEDS)]
    _, _, _, mask = case()
    for scale in (0.01, 0.1, 0.11, 0.5):
        kl_tokens = scale * torch.rand(mask.shape, generator=torch.Generator().manual_seed(int(scale * 100)))
        coefficient = KL_CONTROLLERS["adaptive"](coefficient, kl_tokens, mask, config)
        for s, controller in enumerate(controllers):
            per_response = (kl_tokens[s] * mask[s]).sum(-1) / mask[s].sum(-1)
            controller.update(current_kl=per_response.mean().item(), n_steps=BATCH * RESPONSES)
    torch.testing.assert_close(coefficient.flatten(), torch.tensor([c.value for c in controllers], dtype=torch.float64))
    assert len(set(coefficient.flatten().tolist())) == SEEDS


def test_the_adaptive_kl_coefficient_is_recorded_and_moves_the_rewards():
    """kl_coef is the rollout's coefficient: kl_penalty at epoch 0, then the controller's; with
    kl_ctrl fixed the records are those of before (kl_coef constant); stacked seeds equal
    separate runs, and a group of two kl_penalty values equals each alone."""
    base = dict(kl_penalty=0.1, kl_placement="reward", kl_estimator="k1", ref_period=3, epochs=6, steps_per_epoch=2)
    adaptive = TrainConfig(**base, kl_ctrl="adaptive", kl_target=0.01, kl_horizon=30.0)
    records = train(adaptive, [0, 1])
    per_epoch = records.groupby(["seed", "epoch"]).kl_coef.first()
    assert per_epoch.xs(0, level="epoch").tolist() == pytest.approx([0.1, 0.1])
    assert per_epoch.nunique() > 3 and not records.equals(train(TrainConfig(**base), [0, 1]))
    fixed = train(TrainConfig(**base), [0])
    assert fixed.kl_coef.tolist() == pytest.approx([0.1] * len(fixed)) and (train(TrainConfig(), [0]).kl_coef == 0).all()
    assert_stacked_seeds_equal_separate_runs(adaptive)
    configs = [TrainConfig(**{**base, "kl_penalty": kl}, kl_ctrl="adaptive", kl_horizon=30.0) for kl in (0.1, 0.3)]
    for config, grouped in zip(configs, train_group(configs, [0, 1, 2]), strict=True):
        pd.testing.assert_frame_equal(grouped, train(config, [0, 1, 2]), check_exact=True)


@pytest.mark.parametrize("argv, message", [
    (["--kl", "0.1", "--kl-ctrl", "adaptive"], "--kl-ctrl 'adaptive': does not apply to kl_placement 'loss'"),
    (["--kl", "0.1", "--kl-placement", "reward", "--kl-target", "0.2"], "--kl-target 0.2: does not apply to kl_ctrl 'fixed'"),
    (["--kl", "0.1", "--kl-placement", "reward", "--kl-ctrl", "adaptive", "--horizon", "0"], "--horizon 0.0: must be positive"),
])
def test_grpo_train_refuses_a_bad_kl_controller_in_one_line(argv, message, train_refusal):
    assert message in train_refusal(argv)
