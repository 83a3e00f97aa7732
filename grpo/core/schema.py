"""The record schema: one owner for every fact about a row of records.

A record is one inner optimizer step of one run (a configuration trained from one seed).
``train()`` returns them as a DataFrame with the columns of ``COLUMNS``; the results layer
(grpo.experiment.results) writes and reads them.
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
    "entropy": "mean entropy of the policy's next-token distributions over the responses' real tokens (nats)",
}
NULLABLE_STEP_METRICS = ("clip_high_low_prob_frac", "extra_clip_frac")  # null by design somewhere: not a sign of divergence
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
}
EVAL_METRICS = {  # after the epoch's last step; null on the other steps
    "greedy_train_acc": "fraction of training prompts whose greedy response is exactly sorted",
    "greedy_heldout_acc": "fraction of held-out prompts whose greedy response is exactly sorted",
}
METRICS = {**STEP_METRICS, **EPOCH_METRICS, **EVAL_METRICS}
SUMMARY_METRICS = ("reward_frac", "sorted_frac", *EVAL_METRICS)  # what `grpo train` prints, first and last epoch
COLUMNS = ("config_id", "seed", "epoch", "step", *METRICS, "diverged")
RUN_KEY = ("config_id", "seed")
