"""The record schema: one owner for every fact about a row of records.

A record is one inner optimizer step of one run (a configuration trained from one seed).
Its columns are ``COLUMNS``, then the configuration's fields (grpo.core.config.CONFIG_FIELDS) as
constant columns: ``train()`` returns them so (grpo.core.train.records_frame), and the results
layer (grpo.experiment.results) writes and reads them so.
"""

STEP_METRICS = {  # set on every inner step
    "loss": "the loss minimised on the step: policy loss + kl_penalty x kl (the policy loss alone with kl_placement reward)",
    "kl": "estimated KL(pi || pi_ref) of a response against the frozen reference: the per-token estimates"
          " summed over positions, whatever kl_reduction and kl_placement (0 when kl_penalty is 0)",
    "clip_frac": "fraction of tokens (sequences for gspo) whose clipping is active: clip_low_frac + clip_high_frac",
    "clip_low_frac": "fraction clipped at 1 - epsilon_low with a negative delta",
    "clip_high_frac": "fraction clipped at 1 + epsilon_high with a positive delta",
    "clip_high_low_prob_frac": "DAPO's clip-higher mechanism: among tokens with a positive delta and a rollout probability"
                               " below 0.2, the fraction whose ratio exceeds the upper clip (clipped, clip_higher, cispo;"
                               " null for other losses and where no token qualifies)",
    "extra_clip_frac": "fraction of real tokens on which a loss's rule beyond its trust region acts: the dual clip at"
                       " clip_ratio_c (clipped, clip_higher), the tokens whose gradient clip_cov cuts, those kl_cov"
                       " penalises (null for other losses)",
    "entropy": "mean entropy of the policy's next-token distributions over the responses' real tokens (nats), at the"
               " sampling temperature; with mask_truncated_completions, over the responses that ended",
    "grad_norm": "L2 norm of the run's gradient over all its weights on the step, before any clipping (this trainer"
                 " clips none): TRL's `grad_norm` (transformers' Trainer)",
    "entropy_bonus": "the entropy bonus subtracted from the loss: entropy_coeff x the entropy of the policy's next-token"
                     " distributions aggregated as loss_agg (verl's entropy_coeff; null where entropy_coeff is 0)",
    "entropy_kept_frac": "share of the real tokens whose entropy is in the step's top_entropy_quantile, the tokens the"
                         " policy gradient flows through (TRL's top_entropy_quantile; null where it is 1)",
    "off_policy_masked_frac": "share of the responses the off-policy sequence mask drops on the step (negative delta,"
                              " mean log pi_sampler - log pi above off_policy_mask_threshold; null when it is off)",
}
NULLABLE_STEP_METRICS = ("clip_high_low_prob_frac", "extra_clip_frac", "entropy_bonus", "entropy_kept_frac",
                         "off_policy_masked_frac")  # null by design somewhere: not a sign of divergence
CORRECTION_METRICS = {  # the sampler apart from the learner (rollout_dtype) and the corrections (grpo.core.rollout_correction)
    "sampler_kl": "KL(pi_sampler || pi_learner) per token at the rollout: the mean of k3 (r - 1 - log r, r = pi_learner /"
                  " pi_sampler) over the sampled real tokens, pi_learner recomputed in float32 (verl's"
                  " `rollout_corr/k3_kl`; null when the learner samples and nothing is corrected)",
    "is_weight_min": "smallest importance weight pi_learner / pi_sampler as applied (truncated or masked) over the real"
                     " tokens (token modes) or the responses (sequence modes): TRL's `sampling/importance_sampling_ratio/min`"
                     " (null without rollout_correction)",
    "is_weight_mean": "mean importance weight as applied: TRL's `sampling/importance_sampling_ratio/mean`",
    "is_weight_max": "largest importance weight as applied: TRL's `sampling/importance_sampling_ratio/max`",
    "is_corrected_frac": "share of the real tokens (token modes) or responses (sequence modes) whose ratio lay outside the"
                         " bounds, so that it was truncated or masked (verl's `rollout_is_ratio_fraction_high` + `_low`)",
    "rs_masked_frac": "share of the real tokens that rollout_rs rejects (verl's `rollout_rs_masked_fraction`; null without"
                      " rollout_rs)",
}
EPOCH_METRICS = {  # fixed by the epoch's rollout, repeated on each of its steps
    "mean_reward": "mean reward of the sampled responses, in the reward function's own units",
    "reward_frac": "mean_reward / the best attainable reward: compares configurations of one reward function only",
    "sorted_frac": "fraction of sampled responses that are exactly the ideal (sorted) response",
    "response_length": "mean response length in real tokens, EOS included (the seed document's policy: the prompt length)",
    "correct_length": "mean length of the responses that are exactly the ideal one (null if none)",
    "incorrect_length": "mean length of the other responses (null if none)",
    "eos_rate": "fraction of responses that end with EOS before the maximum length (0 on the seed document's policy)",
    "equal_reward_frac": "fraction of the rollout's groups (prompts) whose rewards are all equal: with a centred deltas"
                         " mode their deltas are all 0 and they add no policy gradient (DAPO's zero-advantage groups);"
                         " with dynamic_sampling, of the first round of sampling",
    "sampling_rounds": "rounds of sampling the rollout took (1 without dynamic_sampling): the groups sampled / the batch's",
    "kl_coef": "the KL coefficient of the rollout: kl_penalty, or where kl_ctrl is adaptive the controller's value (0"
               " without KL)",
    "mixed_pass_frac": "the spread of difficulty: fraction of the rollout's groups whose pass rate (share of exactly sorted"
                       " responses) lies strictly between 0 and 1; with dynamic_sampling, of the first round of sampling",
    "samples": "responses sampled so far in the run, this rollout's included, every round of dynamic sampling counted"
               " (the rounds the seed needed); the held-out evaluation's samples are not counted",
    # TRL's rollout metrics (grpo.core.trl_metrics), of the policy's own sample (dynamic sampling's first round);
    # TRL's `completions/mean_length` is response_length, its `completions/clipped_ratio` is 1 - eos_rate
    "reward_std": "standard deviation (Bessel-corrected) of the rewards of all the rollout's responses, across prompts:"
                  " TRL's `reward_std`",
    "response_length_min": "shortest response in real tokens, EOS included: TRL's `completions/min_length`",
    "response_length_max": "longest response in real tokens, EOS included: TRL's `completions/max_length`",
    "terminated_length": "mean length of the responses that ended with EOS (null if none; TRL logs 0):"
                         " TRL's `completions/mean_terminated_length`",
    "terminated_length_min": "shortest response that ended with EOS (null if none): TRL's"
                             " `completions/min_terminated_length`",
    "terminated_length_max": "longest response that ended with EOS (null if none): TRL's"
                             " `completions/max_terminated_length`",
    "num_tokens": "prompt tokens (one prompt per response, padding left out) plus the responses' real tokens, summed"
                  " over the rollouts so far, this epoch's included (int64): TRL's `num_tokens`",
    "truncated_masked_frac": "share of the rollout's responses (those trained on) that mask_truncated_completions drops"
                             " from the loss: cut at max_response_length without EOS (null where it is off)",
    "overlong_punishment": "mean of DAPO's soft overlong punishment over the rollout's responses, in reward points, <= 0,"
                           " of the policy's own sample (null where overlong_cache_length is 0)",
    **CORRECTION_METRICS,
}
COUNT_METRICS = ("samples", "num_tokens")  # integers (int64 columns); every other metric is float32
EVAL_METRICS = {  # after the epoch's last step; null on the other steps
    "greedy_train_acc": "fraction of training prompts (task stream: the epoch's draw) whose greedy response is exactly sorted",
    "greedy_heldout_acc": "fraction of held-out prompts whose greedy response is exactly sorted",
    "heldout_sorted_frac": "fraction of sampled responses (one to each held-out prompt, from an evaluation generator of the"
                           " seed's own) that are exactly sorted: success on prompts never trained on",
}
START_METRICS = {  # of the policy before any RL step (a warm start's base, else the init); the same on every row of a run
    "start_heldout_sorted_frac": "heldout_sorted_frac of the policy before any RL step: equal across the configurations"
                                 " that share a seed's base policy",
    "start_entropy": "mean entropy (nats) of the policy's next-token distributions over those held-out responses' real"
                     " tokens, before any RL step",
}
OPTIMIZER_METRICS = {  # the optimizer's settings on each step
    "learning_rate": "the learning rate of the step's optimizer update (constant: lr; no scheduler): TRL's `learning_rate`",
}
METRICS = {**STEP_METRICS, **EPOCH_METRICS, **EVAL_METRICS, **START_METRICS, **OPTIMIZER_METRICS}
SUMMARY_METRICS = ("reward_frac", "sorted_frac", *EVAL_METRICS)  # what `grpo train` prints, first and last epoch
COLUMNS = ("config_id", "seed", "epoch", "step", *METRICS, "diverged")
RUN_KEY = ("config_id", "seed")
