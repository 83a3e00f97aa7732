"""The built-in claims (grpo.experiment.claims): the literature's GRPO mechanisms as canaries
(issue 24), each on a preset chosen so the mechanism has room, and the two claims of the
`sequence` preset. ``CLAIMS`` is their registry; plugins follow them.

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

CANARIES = (*DR_GRPO_CLAIMS, *DAPO_CLAIMS, *GSPO_CLAIMS, *DYNAMIC_SAMPLING_CLAIMS, *KL_CLAIMS)  # issue 24's, in its order
CLAIMS = ClaimRegistry((*CANARIES, *SEQUENCE_CLAIMS), {"canaries": tuple(claim.name for claim in CANARIES)})


def register_claim(claim: Claim) -> Claim:
    """Add a claim in this process (``grpo.register_claim``), checked against its grid."""
    return CLAIMS.register(claim)
