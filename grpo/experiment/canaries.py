"""The built-in claims (grpo.experiment.claims): the literature's GRPO mechanisms as canaries,
each on a preset chosen so the mechanism has room; the same and further claims in the RLVR-shaped
regime (a warm-start base with a real pass rate and entropy, prompts of graded difficulty drawn
afresh, held-out success, budgets in samples: the `canary-rlvr-*` presets); and the two claims of
the `sequence` preset. ``CLAIMS`` is their registry; plugins follow them.

The papers' effects are on LLMs with responses of thousands of tokens and a vocabulary of
150k; a number of theirs is stated in a claim's units only where the units carry over (a ratio
of clip fractions); elsewhere the claim says why none does.
"""

from grpo.experiment.claims import Claim, ClaimRegistry, Mechanism

DR_GRPO = "Liu et al. 2025, Understanding R1-Zero-Like Training: A Critical Perspective, arXiv 2503.20783, section 3.1"
DAPO = "Yu et al. 2025, DAPO: An Open-Source LLM Reinforcement Learning System at Scale, arXiv 2503.14476"
GSPO = "Zheng et al. 2025, Group Sequence Policy Optimization, arXiv 2507.18071"
DR_GRPO_UNITS = ("the paper shows GRPO's incorrect responses of LLMs growing over training by far more than Dr. GRPO's"
                 " as curves of responses thousands of tokens long, with no tabulated difference; here responses are"
                 " at most 16 tokens, so no token count carries over")
TOKEN_WEIGHT = Mechanism("the per-token gradient weight of an incorrect response against its length, on rollouts",
                         measure="grpo.report.mechanisms:token_weight_by_length", minimum_difference=0.1,
                         between=("slope_treatment", "slope_baseline"))

CLIP_HIGH_LOW_PROB = Mechanism("how often the upper clip binds on unlikely tokens (rollout probability below 0.2)"
                               " with a positive delta, DAPO's Figure 3a", column="clip_high_low_prob_frac",
                               minimum_difference=0.05)

SEQUENCE_CLAIMS = (
    Claim("dr-grpo-sequence", "per-response mean + std-normalised deltas grow incorrect responses longer",
          "sequence", "incorrect_length", {"loss_agg": "seq_mean_token_mean"}, {"loss_agg": "seq_mean_token_sum_norm"},
          1, TOKEN_WEIGHT, DR_GRPO, DR_GRPO_UNITS, held={"deltas_mode": "normalized_rewards"}),
    Claim("dapo-sequence", "clip-higher keeps token entropy higher than a symmetric clip", "sequence", "entropy",
          {"loss_mode": "clip_higher"}, {"loss_mode": "clipped"}, 1,
          CLIP_HIGH_LOW_PROB,
          f"{DAPO}, section 3.1", "DAPO's Figure 2b shows entropy collapsing without clip-higher as curves on a"
          " 150k-token vocabulary; entropy in nats over 6 tokens does not compare"),
)

DR_GRPO_CLAIMS = (
    Claim("dr-grpo-aggregation", "the per-response mean 1/|o_i| alone grows incorrect responses longer than the"
          " constant normaliser", "canary-dr-grpo", "incorrect_length", {"loss_agg": "seq_mean_token_mean"},
          {"loss_agg": "seq_mean_token_sum_norm"}, 1, TOKEN_WEIGHT, DR_GRPO, DR_GRPO_UNITS,
          held={"deltas_mode": "centered_rewards"}, summary="run"),
    Claim("dr-grpo-std", "std-normalised deltas alone grow incorrect responses longer than centred ones (the paper"
          " names the std its difficulty bias, not a length bias: tested for its share of the joint effect)",
          "canary-dr-grpo", "incorrect_length", {"deltas_mode": "normalized_rewards"},
          {"deltas_mode": "centered_rewards"}, 1, TOKEN_WEIGHT, DR_GRPO, DR_GRPO_UNITS,
          held={"loss_agg": "seq_mean_token_sum_norm"}, summary="run"),
    Claim("dr-grpo-both", "GRPO (per-response mean + std-normalised deltas) grows incorrect responses longer than"
          " Dr. GRPO (constant normaliser + centred deltas)", "canary-dr-grpo", "incorrect_length",
          {"loss_agg": "seq_mean_token_mean", "deltas_mode": "normalized_rewards"},
          {"loss_agg": "seq_mean_token_sum_norm", "deltas_mode": "centered_rewards"}, 1, TOKEN_WEIGHT, DR_GRPO,
          DR_GRPO_UNITS, summary="run"),
)

GSPO_UNITS = ("the paper reports the learning curves (training reward, benchmark accuracy) of Qwen3 models as figures,"
              " GSPO above GRPO; a reward gap of an LLM on AIME does not carry over to sorted-response fractions")
GSPO_CLIP = Mechanism("the fraction of the loss's terms clipped (sequences for gspo, tokens for the token-level"
                      " losses), mean over the run; GSPO reports clipping about two orders of magnitude more tokens"
                      " than GRPO (a ratio near 100)", column="clip_frac", minimum_difference=0.01)
GSPO_CLAIMS = (
    Claim("gspo-vs-clipped", "sequence-level ratios at GSPO's clip range learn at least as fast as token-level"
          " ratios at [0.8, 1.2] (clip_higher at 0.2 / 0.2: the clipped loss's trust region) while clipping far more",
          "canary-gspo", "reward_frac", {"loss_mode": "gspo"},
          {"loss_mode": "clip_higher", "epsilon_high": 0.2}, 1, GSPO_CLIP, GSPO, GSPO_UNITS, summary="run"),
    Claim("gspo-vs-clip-higher", "sequence-level ratios at GSPO's clip range learn at least as fast as DAPO's"
          " token-level clip-higher [0.8, 1.28] while clipping far more", "canary-gspo", "reward_frac",
          {"loss_mode": "gspo"}, {"loss_mode": "clip_higher", "epsilon_high": 0.28}, 1, GSPO_CLIP, GSPO, GSPO_UNITS,
          summary="run"),
)

DAPO_CLAIMS = (
    Claim("dapo-clip-higher", "a symmetric clip [0.8, 1.2] lets token entropy collapse further than clip-higher"
          " [0.8, 1.28]", "canary-clip-higher", "entropy", {"loss_mode": "clip_higher"}, {"loss_mode": "clipped"}, 1,
          CLIP_HIGH_LOW_PROB,
          f"{DAPO}, section 3.1", "DAPO's Figure 2b shows the entropy of a 150k-token vocabulary collapsing without"
          " clip-higher as curves; nats over 6 tokens do not compare"),
)

DYNAMIC_SAMPLING_CLAIMS = (
    Claim("dapo-dynamic-sampling", "filtering out groups whose rewards are all equal and sampling until the batch is"
          " full learns more per update", "canary-dynamic-sampling", "sorted_frac", {"dynamic_sampling": 4},
          {"dynamic_sampling": 0}, 1,
          Mechanism("the fraction of a rollout's groups with all-equal rewards (zero advantage) and the sampling"
                    " rounds a rollout took", measure="grpo.report.mechanisms:zero_advantage_groups",
                    minimum_difference=0.5, between=("sampling_rounds_treatment", "sampling_rounds_baseline")),
          f"{DAPO}, section 3.2", "DAPO shows training curves with and without dynamic sampling of a 32B model on"
          " AIME as a figure; accuracy on AIME does not carry over to sorted-response fractions", summary="run"),
)

KL_SOURCE = ("Schulman 2020, Approximating KL divergence (k1, k2, k3); arXiv 2512.21852 on the bias of k3 in the"
             " loss; verl's use_kl_in_reward for the KL in the reward")
KL_UNITS = ("the sources derive the estimators' gradients; their training runs are LLMs whose KL and entropy (150k"
            " tokens, thousands of positions) do not compare with a 4-position policy over 5 tokens")
KL_GRADIENT = Mechanism("each arm's penalty gradient against the exact gradient of KL(pi || pi_ref) on the seed policy:"
                        " on-policy k1 in the reward, k2 and k3_corrected in the loss follow it, k1 in the loss has"
                        " none (E_pi[grad log pi] = 0), k3 in the loss follows KL(pi_ref || pi)'s; off-policy only"
                        " k3_corrected stays unbiased", measure="grpo.report.mechanisms:kl_estimator_gradients",
                        minimum_difference=0.1, between=("on-policy_treatment", "on-policy_baseline"))
KL_CLAIMS = (
    Claim("kl-k1-in-loss", "k1 in the loss holds the policy to its reference less than k1 in the reward (its"
          " expected gradient is zero on-policy)", "canary-kl", "kl", {"kl_estimator": "k1", "kl_placement": "loss"},
          {"kl_estimator": "k1", "kl_placement": "reward"}, 1, KL_GRADIENT, KL_SOURCE, KL_UNITS),
    Claim("kl-k3-in-loss", "k3 in the loss keeps the policy's entropy higher than k2 in the loss (k3's expected"
          " gradient is the mass-covering KL(pi_ref || pi)'s, k2's the mode-seeking KL(pi || pi_ref)'s)",
          "canary-kl", "entropy", {"kl_estimator": "k3", "kl_placement": "loss"},
          {"kl_estimator": "k2", "kl_placement": "loss"}, 1, KL_GRADIENT, KL_SOURCE, KL_UNITS),
    Claim("kl-k3-corrected", "TRL's importance-corrected k3 in the loss lets entropy fall lower than k3 (its gradient"
          " follows KL(pi || pi_ref), k3's the mass-covering KL(pi_ref || pi))", "canary-kl", "entropy",
          {"kl_estimator": "k3_corrected", "kl_placement": "loss"}, {"kl_estimator": "k3", "kl_placement": "loss"}, -1,
          KL_GRADIENT, f"{KL_SOURCE}; TRL's use_bias_correction_kl (trl/trainer/grpo_trainer.py)", KL_UNITS),
)

CANARIES = (*DR_GRPO_CLAIMS, *DAPO_CLAIMS, *GSPO_CLAIMS, *DYNAMIC_SAMPLING_CLAIMS, *KL_CLAIMS)

# The RLVR-shaped regime (grpo/presets/canary-rlvr-*.toml): each statement names it
RLVR = "RLVR regime (stream of graded prompts, warm-start base, held-out success)"
SCALERL = ("Khatri et al. 2025, The Art of Scaling Reinforcement Learning Compute for LLMs (ScaleRL), arXiv 2510.13786,"
           " sections 3 and 4")
TRICKS = ("Liu et al. 2025, Part I: Tricks or Traps? A Deep Dive into RL for LLM Reasoning, arXiv 2508.08221, section 4.1"
          " (advantage normalisation; LitePPO); TRL's scale_rewards=\"batch\" (trl/trainer/grpo_trainer.py)")
FILTERING = ("Bae et al. 2025, Online Difficulty Filtering for Reasoning Oriented Reinforcement Learning, arXiv 2504.03380"
             " (the expected improvement is lower-bounded by the variance p (1 - p) of a prompt's success: largest at"
             " intermediate difficulty)")
BIAS = "Yang et al. 2026, Your Group-Relative Advantage Is Biased, arXiv 2601.08521, section 2"
HELDOUT_UNITS = ("the papers report LLM benchmark accuracies (AIME, MATH) as curves or tables; a success rate on"
                 " sorting lists of 2 to 6 tokens does not compare")
GROUP_WEIGHT = Mechanism("the per-group weight (mean |delta| of a group) against the group's pass rate, on rollouts of"
                         " the warm-start bases: the weight of a group at pass rate 1/8 relative to one at 1/2",
                         measure="grpo.report.mechanisms:group_weight_by_pass_rate", minimum_difference=0.1,
                         between=("relative_treatment_1", "relative_baseline_1"))
SCALERL_EFFICIENCY = Mechanism("ScaleRL's efficiency: the fitted B and the responses sampled to half the gain (s_mid),"
                               " per-seed jackknife pseudo-values; the minimum is on log s_mid (about 10% fewer or more"
                               " samples to half the gain)", measure="grpo.report.mechanisms:fitted_efficiency",
                               minimum_difference=0.1, between=("log_midpoint_treatment", "log_midpoint_baseline"))
GRPO_ARM = {"deltas_mode": "normalized_rewards", "loss_agg": "seq_mean_token_mean"}  # GRPO's normalisations
SCALERL_NOTE = ("ScaleRL fits reward against GPU-hours of 8B-17B models and reports A and B per recipe as figures; a"
                " sorted-list success asymptote does not compare")
RLVR_CLAIMS = (
    Claim("rlvr-dr-grpo-std", f"{RLVR}: centred deltas (Dr. GRPO) reach held-out success at least as high as"
          " std-normalised ones (GRPO), whose std weighs groups with a pass rate near 0 or 1 more (the difficulty bias)",
          "canary-rlvr-dr-grpo", "heldout_sorted_frac", {"deltas_mode": "centered_rewards"},
          {"deltas_mode": "normalized_rewards"}, 1, GROUP_WEIGHT, DR_GRPO, HELDOUT_UNITS),
    Claim("rlvr-dr-grpo-length", f"{RLVR}: the per-response mean 1/|o_i| grows incorrect responses longer than the"
          " constant normaliser (the length bias)", "canary-rlvr-dr-grpo", "incorrect_length",
          {"loss_agg": "seq_mean_token_mean"}, {"loss_agg": "seq_mean_token_sum_norm"}, 1, TOKEN_WEIGHT, DR_GRPO,
          DR_GRPO_UNITS, summary="run"),
    Claim("rlvr-scalerl-aggregation", f"{RLVR}: the loss aggregation (per-response mean vs constant normaliser) leaves"
          " the asymptote A of held-out success unchanged (it moves the efficiency)", "canary-rlvr-dr-grpo",
          "heldout_sorted_frac", {"loss_agg": "seq_mean_token_mean"}, {"loss_agg": "seq_mean_token_sum_norm"}, 0,
          SCALERL_EFFICIENCY, SCALERL, SCALERL_NOTE, summary="asymptote"),
    Claim("rlvr-scalerl-normalisation", f"{RLVR}: the advantage normalisation (std-normalised vs centred) leaves the"
          " asymptote A of held-out success unchanged (it moves the efficiency)", "canary-rlvr-dr-grpo",
          "heldout_sorted_frac", {"deltas_mode": "normalized_rewards"}, {"deltas_mode": "centered_rewards"}, 0,
          SCALERL_EFFICIENCY, SCALERL, SCALERL_NOTE, summary="asymptote"),
    Claim("rlvr-dapo-clip-higher", f"{RLVR}: clip-higher [0.8, 1.28] keeps token entropy higher than the symmetric clip"
          " [0.8, 1.2], from a base that has entropy", "canary-rlvr-clip-higher", "entropy",
          {"loss_mode": "clip_higher"}, {"loss_mode": "clipped"}, 1, CLIP_HIGH_LOW_PROB, f"{DAPO}, section 3.1",
          "DAPO's Figure 2b shows the entropy of a 150k-token vocabulary collapsing without clip-higher as curves; nats"
          " over a vocabulary of 5 do not compare"),
    Claim("rlvr-dapo-dynamic-sampling", f"{RLVR}: at an equal number of responses sampled, filtering out groups whose"
          " rewards are all equal and sampling until the batch is full reaches higher held-out success",
          "canary-rlvr-dynamic-sampling", "heldout_sorted_frac", {"dynamic_sampling": 4}, {"dynamic_sampling": 0}, 1,
          Mechanism("the fraction of a rollout's groups with all-equal rewards (zero advantage) and the sampling"
                    " rounds a rollout took", measure="grpo.report.mechanisms:zero_advantage_groups",
                    minimum_difference=0.5, between=("sampling_rounds_treatment", "sampling_rounds_baseline")),
          f"{DAPO}, section 3.2", "DAPO plots AIME accuracy of a 32B model against training steps with and without"
          " dynamic sampling (not against samples); accuracy on AIME does not carry over", summary="samples"),
    Claim("rlvr-batch-std-binary", f"{RLVR}: group-mean deltas over the batch's std learn held-out success at least as"
          " well as over the group's std, under the binary reward exact_match", "canary-rlvr-batch-std",
          "heldout_sorted_frac", {"deltas_mode": "group_mean_batch_std"}, {"deltas_mode": "normalized_rewards"}, 1,
          GROUP_WEIGHT, TRICKS, HELDOUT_UNITS, held={"reward_fn": "exact_match"}),
    Claim("rlvr-batch-std-wide", f"{RLVR}: group-mean deltas over the batch's std learn held-out success at least as"
          " well as over the group's std, and more so under the wider reward sort_distance (0 to 8)",
          "canary-rlvr-batch-std", "heldout_sorted_frac", {"deltas_mode": "group_mean_batch_std"},
          {"deltas_mode": "normalized_rewards"}, 1, GROUP_WEIGHT, TRICKS, HELDOUT_UNITS,
          held={"reward_fn": "sort_distance"}),
    Claim("rlvr-signal-peak", f"{RLVR}, on the base policy: the learning signal of a group (the norm of its own policy"
          " gradient under GRPO's normalisations) peaks at intermediate pass rates: averaged per pass rate, groups with"
          " pass rate in (1/4, 3/4) carry more than mixed groups at <= 1/4 or >= 3/4", "canary-rlvr-dr-grpo",
          "heldout_sorted_frac", GRPO_ARM, GRPO_ARM, 1,
          Mechanism("the per-group policy-gradient norm against the group's pass rate, on rollouts of the warm-start"
                    " bases", measure="grpo.report.mechanisms:group_signal_by_pass_rate"),
          FILTERING, "the paper bounds the expected improvement by p (1 - p) and reports benchmark gains of balanced"
          " filtering; no gradient norm of its is tabulated", summary="measured"),
    Claim("rlvr-advantage-bias", f"{RLVR}, on the base policy: on prompts the base finds hard (pass rate p < 1/2), the"
          " group-relative baseline of the groups that carry a gradient (the mean reward of a group of 8 that is not all"
          " equal) exceeds p, so r - mean underestimates the true advantage r - p (exact over the binomial outcomes)",
          "canary-rlvr-dr-grpo", "heldout_sorted_frac", GRPO_ARM, GRPO_ARM, 1,
          Mechanism("each held-out prompt's pass rate under the base (64 samples), the exact expectation of a mixed"
                    " group's mean reward, and E[delta | correct or not, mixed] of centred and std-normalised deltas"
                    " against the true advantage", measure="grpo.report.mechanisms:advantage_bias"),
          BIAS, "the paper proves the sign of the bias (under for p < 1/2, over for p > 1/2) and plots it for"
          " MATH prompts; its magnitudes are of other pass rates and group sizes", summary="measured"),
)
CLAIMS = ClaimRegistry((*CANARIES, *SEQUENCE_CLAIMS, *RLVR_CLAIMS), {
    "canaries": tuple(claim.name for claim in CANARIES), "rlvr": tuple(claim.name for claim in RLVR_CLAIMS)})


def register_claim(claim: Claim) -> Claim:
    """Add a claim in this process (``grpo.register_claim``), checked against its grid."""
    return CLAIMS.register(claim)
