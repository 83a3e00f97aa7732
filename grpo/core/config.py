"""One training configuration: every choice the ablation can vary, validated on creation.

Field names are the config columns of the records and the keys of grid files; each field's
metadata holds its help (the ``grpo train`` flag ``--field-name`` is generated from it, see
grpo.cli.train), its flag aliases, TRL's and verl's names for it (``Foreign``: grid keys and
flags, translated by ``in_own_terms``; docs/compatibility.md is their table) and, for a mode, its
registry. Defaults reproduce the seed document's run.

A field that does not apply to the chosen task, loss or KL setting (``task_vocab`` on the seed
task, ``epsilon_high`` with the ``clipped`` loss, ``kl_estimator`` with ``kl_penalty`` 0) is
refused when given a value other than the one it resolves to; fields left None resolve to what
the run actually uses (the seed task's sizes, the chosen loss's own clip defaults), so records
describe the run that was trained.
"""

import functools
import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, overload

from grpo.core.policies import POLICIES, POLICY_OPTIONS
from grpo.core.rollout_correction import (
    NOT_WEIGHTED_BY_DELTA,
    ROLLOUT_CORRECTIONS,
    ROLLOUT_DTYPES,
    ROLLOUT_REJECTIONS,
    token_level,
)
from grpo.core.seeds import MAX_SEED
from grpo.errors import FieldError, check_choice
from grpo.modes.aggregation import LOSS_AGGREGATIONS
from grpo.modes.deltas import DELTAS, min_group
from grpo.modes.losses import KL_CONTROLLERS, KL_ESTIMATORS, KL_PLACEMENTS, KL_REDUCTIONS, LOSSES, loss_options
from grpo.modes.registry import Registry
from grpo.modes.rewards import REWARDS
from grpo.tasks.prompts import TASKS, Task, random_task, seed_task, stream_task, variable_task


@dataclass(frozen=True)
class Foreign:
    """Another tool's name for a TrainConfig field (TRL's ``beta``, verl's ``clip_ratio_low``):
    a grid key as written and a ``grpo train`` flag (``--`` and the name with dashes). A Foreign
    named like its field adds value names only (verl's ``seq-mean-token-mean`` for ``loss_agg``).

    `values`: the tool's value -> this project's (a mode field); with `only_values`, any other
    value is refused (TRL's ``loss_type`` has values that are not aggregations). `refused`: the
    tool's value -> what to use instead, where this project has no equal. `instead`: the whole
    name is refused with this advice (the tool's name means something else here). `notes`: the
    tool's value (``"*"``: any) -> how its meaning differs from the field's, printed when used."""

    name: str
    tool: str  # "TRL" or "verl"
    values: Mapping[str, str | int] = field(default_factory=dict)
    only_values: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)
    instead: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


Value = TypeVar("Value")


@overload
def option(default: Value, help: str, *, aliases: tuple[str, ...] = (), foreign: tuple[Foreign, ...] = (),
           choices: Mapping[str, object] | None = None, always_keyed: bool = False) -> Value: ...


@overload
def option(default: None, help: str, *, aliases: tuple[str, ...] = (), foreign: tuple[Foreign, ...] = (),
           fallback: Value, always_keyed: bool = False) -> Value: ...


def option(default: Any, help: str, *, aliases: tuple[str, ...] = (), foreign: tuple[Foreign, ...] = (),
           choices: Mapping[str, object] | None = None, fallback: Any = None, always_keyed: bool = False) -> Any:
    """A TrainConfig field with its help written once. `aliases`: short flags (``--loss``);
    `foreign`: TRL's and verl's names for it (grid keys and flags, see Foreign); `choices`: the
    registry of a mode (its entries' docstrings are the choices' help); `fallback`: the value of
    a field whose default is None when neither the task nor the loss gives one;
    `always_keyed`: the field counts in config_id even at its default: the fields the first
    results were keyed by. Every other option is keyed_when_set (its metadata): it counts only away
    from its default, so a configuration keeps the key it had before the option existed, and a
    new option changes no config_id (tests/core/test_config_ids.py pins the presets').

    Typed like dataclasses.field, as the field's value. A default of None means unset: the
    field resolves (resolved_values) to the task's, the loss's or the policy's value, else
    `fallback`, before the TrainConfig exists, so the field's type is the resolved one, the
    fallback's (``dim: int``), and the constructor's parameter may be left out (its unset)."""
    metadata = {"help": help, "aliases": aliases, "foreign": foreign, "choices": choices, "fallback": fallback,
                "keyed_when_set": not always_keyed}
    return field(default=default, metadata=metadata)


KL_SCALE = ("with kl_reduction 'sum' (the default, the seed document's) the KL is summed over the L response"
            " positions, so the penalty is L x {tool}'s beta of the same value; add kl_reduction 'mean' for {tool}'s")
LOSS_AGG_DASHED = {"token-mean": "token_mean", "seq-mean-token-mean": "seq_mean_token_mean",
                   "seq-mean-token-sum-norm": "seq_mean_token_sum_norm"}  # verl's loss_agg_mode values
VERL_SUM_NORM = ("verl's seq-mean-token-sum-norm with its default loss_scale_factor is N x this project's (N responses"
                 " in the batch); Adam makes the two runs nearly the same")
VERL_KL = {"kl": "k1", "mse": "k2", "low_var_kl": "k3", "k1+": "k1_plus", "kl+": "k1_plus", "k3+": "k3_plus",
           "low_var_kl+": "k3_plus", "abs+": "abs_plus", "k2+": "k2", "mse+": "k2"}  # verl's kl_loss_type values
VERL_KL_REFUSED = {"full": "this project has no full-vocabulary KL; choose an estimator"}
TRL_SCALE_REWARDS = {"group": "normalized_rewards", "true": "normalized_rewards", "none": "centered_rewards",
                     "false": "centered_rewards", "batch": "group_mean_batch_std"}  # TRL's scale_rewards (centred always)
TRL_STD_NOTE = "TRL adds 1e-4 to the group std, normalized_rewards 1e-5"
VERL_ADV_ESTIMATORS = {"grpo": "normalized_rewards", "rloo": "rloo", "reinforce_plus_plus": "reinforce_plus_plus",
                       "reinforce_plus_plus_baseline": "reinforce_plus_plus_baseline", "opo": "opo", "gpg": "gpg",
                       "grpo_passk": "grpo_passk", "remax": "remax",
                       "optimal_token_baseline": "optimal_token_baseline"}  # verl's algorithm.adv_estimator
VERL_GRPO_NOTE = ("verl adds 1e-6 to the group std, normalized_rewards 1e-5; verl's grpo with norm_adv_by_std_in_grpo"
                  " false is centered_rewards")
VERL_ADV_REFUSED = {"gae": "this project has no critic; choose from the deltas modes"}
VERL_NO_SEQ_SUM = "this project has no seq-mean-token-sum (no normaliser); the nearest is seq_mean_token_sum_norm"


@dataclass(frozen=True)
class TrainConfig:
    CHOICES: ClassVar[tuple[str, ...]] = ("deltas_mode", "loss_mode", "kl_penalty")  # the seed document's choices

    reward_fn: str = option("sort_inclusion_ordering", "reward function", aliases=("--reward",), choices=REWARDS, always_keyed=True)
    deltas_mode: str = option("rewards", "how rewards become deltas (advantages)", aliases=("--deltas",), choices=DELTAS,
                              foreign=(Foreign("scale_rewards", "TRL", values=TRL_SCALE_REWARDS, only_values=True,
                                               notes={"group": TRL_STD_NOTE, "true": TRL_STD_NOTE}),
                                       Foreign("adv_estimator", "verl", values=VERL_ADV_ESTIMATORS, only_values=True,
                                               refused=VERL_ADV_REFUSED, notes={"grpo": VERL_GRPO_NOTE})), always_keyed=True)
    loss_mode: str = option("naive", "policy loss", aliases=("--loss",), choices=LOSSES, always_keyed=True)
    kl_penalty: float = option(
        0.0, "coefficient of the KL penalty against a frozen reference model; 0: no reference model at all."
        " With kl_reduction 'sum' (the seed document's) the KL is summed over the L response positions while"
        " the policy loss is averaged, so kl_penalty c weighs the KL as TRL's and verl's beta L x c does (their"
        " beta b is kl_penalty b / L); with 'mean' kl_penalty is their beta",
        aliases=("--kl",), foreign=(Foreign("beta", "TRL", notes={"*": KL_SCALE.format(tool="TRL")}),
                                    Foreign("kl_loss_coef", "verl", notes={"*": KL_SCALE.format(tool="verl")}),
                                    Foreign("kl_coef", "verl", instead="verl's kl_coef weighs the KL in the reward"
                                            " (use_kl_in_reward): use kl_penalty with kl_placement reward (kl_penalty"
                                            " alone is verl's kl_loss_coef, a loss term)")), always_keyed=True)
    kl_estimator: str = option(
        "k3", "estimator of KL(pi || pi_ref) per token (kl_penalty > 0)", choices=KL_ESTIMATORS, foreign=(
            Foreign("kl_estimator", "verl", values=VERL_KL),
            Foreign("use_bias_correction_kl", "TRL", values={"true": "k3_corrected", "false": "k3"}, only_values=True),
            Foreign("kl_loss_type", "verl", values={**VERL_KL, "k1": "k1", "k2": "k2", "k3": "k3", "abs": "abs"},
                    only_values=True, refused=VERL_KL_REFUSED)), always_keyed=True)
    kl_reduction: str = option("sum", "how the per-token KL becomes the penalty term (kl_penalty > 0)", choices=KL_REDUCTIONS,
                               always_keyed=True)
    kl_placement: str = option(
        "loss", "where the KL penalty goes (kl_penalty > 0)", choices=KL_PLACEMENTS,
        foreign=(Foreign("use_kl_in_reward", "verl", values={"true": "reward", "false": "loss"}, only_values=True),))
    ref_period: int = option(10, "epochs between refreshes of the frozen reference model (kl_penalty > 0)", always_keyed=True)
    epsilon: float = option(loss_options("clipped")["epsilon"], "trust region [1 - epsilon, 1 + epsilon] of the clipped,"
                            " gspo, gspo_token and luspo losses", foreign=(Foreign("clip_ratio", "verl"),), always_keyed=True)
    epsilon_low: float = option(
        None, "lower clip 1 - epsilon_low of clip_higher (default 0.2, DAPO), clip_cov (0.2, verl) and cispo (default 1:"
        " no lower bound, MiniMax-M1); geo_mean's lower clip of the log-ratio, -epsilon_low (0.4, GMPO)",
        fallback=loss_options("clip_higher")["epsilon_low"], foreign=(Foreign("clip_ratio_low", "verl"),), always_keyed=True)
    epsilon_high: float = option(
        None, "upper clip 1 + epsilon_high of clip_higher (default 0.28, DAPO), clip_cov (0.2, verl) and cispo (default"
        " 4: a ratio cap of 5, ScaleRL's epsilon_max as in TRL); geo_mean's upper clip of the log-ratio (0.4, GMPO)",
        fallback=loss_options("clip_higher")["epsilon_high"], foreign=(Foreign("clip_ratio_high", "verl"),), always_keyed=True)
    epochs: int = option(100, "rollouts", foreign=(
        Foreign("num_train_epochs", "TRL", instead="TRL's num_train_epochs counts passes over the prompt set; here"
                " epochs counts rollouts (TRL's max_steps / steps_per_generation)"),
        Foreign("total_epochs", "verl", instead="verl's total_epochs counts passes over the prompt set; here epochs"
                " counts rollouts (verl's total_training_steps)")), always_keyed=True)
    dynamic_sampling: int = option(
        0, "DAPO's dynamic sampling: at most this many extra rounds of sampling a rollout, to replace the groups whose"
        " rewards are all equal (they give no gradient under a centred deltas mode); where they run out, those slots keep"
        " equal-reward groups (verl stops with an error); 0: off. verl's max_num_gen_batches is 1 + this",
        )
    steps_per_epoch: int = option(10, "optimizer steps on each rollout", foreign=(
        Foreign("num_iterations", "TRL"),
        Foreign("ppo_epochs", "verl", notes={"*": "verl takes ppo_epochs passes over the rollout, each of batch /"
                " ppo_mini_batch_size steps; here every step sees the whole rollout (one mini-batch)"})), always_keyed=True)
    responses: int = option(10, "responses sampled per prompt: the group", foreign=(Foreign("num_generations", "TRL"),), always_keyed=True)
    lr: float = option(1e-3, "Adam learning rate", foreign=(Foreign("learning_rate", "TRL"),), always_keyed=True)
    dim: int = option(None, "hidden size (policy seed: default 10; policy transformer: default 32, the width)",
                      fallback=10, always_keyed=True)
    policy: str = option("seed", "the policy trained", choices=POLICIES, always_keyed=True)
    loss_agg: str = option(
        "seq_mean_token_mean", "how the per-token loss terms of responses of different lengths make one loss"
        " (policy transformer; on the seed document's policy every response has every position and all modes are"
        " the plain mean)", choices=LOSS_AGGREGATIONS, foreign=(
            Foreign("loss_agg", "verl", values=LOSS_AGG_DASHED, refused={"seq-mean-token-sum": VERL_NO_SEQ_SUM},
                    notes={"seq-mean-token-sum-norm": VERL_SUM_NORM}),
            Foreign("loss_type", "TRL", only_values=True, values={
                "grpo": "seq_mean_token_mean", "dapo": "token_mean", "bnpo": "token_mean",
                "dr_grpo": "seq_mean_token_sum_norm"}, refused={
                "cispo": "TRL's cispo sets the loss and its aggregation: use loss_mode cispo and loss_agg token_mean",
                "sapo": "TRL's sapo sets the loss and its aggregation: use loss_mode sapo and loss_agg seq_mean_token_mean",
                "vespo": "TRL's vespo sets the loss and its aggregation: use loss_mode vespo and loss_agg token_mean",
                "luspo": "TRL's luspo sets the loss and its aggregation: use loss_mode luspo (it aggregates its own"
                         " terms)"}),
            Foreign("loss_agg_mode", "verl", values=LOSS_AGG_DASHED, only_values=True,
                    notes={"seq-mean-token-sum-norm": VERL_SUM_NORM},
                    refused={"seq-mean-token-sum": VERL_NO_SEQ_SUM})), always_keyed=True)
    # Mechanisms of TRL's and verl's newer losses: each read by the losses that declare it (grpo.modes.losses)
    clip_ratio_c: float = option(
        0.0, "dual clip of clipped and clip_higher: a negative delta's term is capped at clip_ratio_c x delta where the"
        " ratio exceeds it (Ye et al. 2020; verl's clip_ratio_c, default 3 there; TRL's delta, INTELLECT-2, the same"
        " rule); 0: off; else at least 1 + the upper clip", foreign=(
            Foreign("delta", "TRL", notes={"*": "TRL's delta clamps the unclipped ratio at delta; with delta >= 1 +"
                                                " the upper clip that is the dual clip, in value and gradient"}),))
    sapo_temperature_pos: float = option(1.0, "SAPO's gate temperature where the delta is positive (loss sapo)",
                                         foreign=(Foreign("tau_pos", "verl"),))
    sapo_temperature_neg: float = option(1.05, "SAPO's gate temperature where the delta is not positive (loss sapo)",
                                         foreign=(Foreign("tau_neg", "verl"),))
    vespo_k_pos: float = option(2.0, "VESPO's power k of phi(w) where the delta is >= 0 (loss vespo)")
    vespo_lambda_pos: float = option(3.0, "VESPO's decay lambda of phi(w) where the delta is >= 0 (loss vespo)")
    vespo_k_neg: float = option(3.0, "VESPO's power k of phi(w) where the delta is negative (loss vespo)")
    vespo_lambda_neg: float = option(2.0, "VESPO's decay lambda of phi(w) where the delta is negative (loss vespo)")
    clip_cov_ratio: float = option(2e-4, "share of real tokens whose gradient clip_cov cuts (at least one a seed)")
    clip_cov_lb: float = option(1.0, "clip_cov's candidates have a covariance term above this")
    clip_cov_ub: float = option(5.0, "clip_cov's candidates have a covariance term below this")
    kl_cov_ratio: float = option(2e-4, "share of real tokens kl_cov penalises (at least one a seed)")
    ppo_kl_coef: float = option(0.1, "kl_cov's coefficient of |log pi - log pi_old| on the penalised tokens (verl's"
                                     " actor.yaml default)")
    kl_ctrl: str = option("fixed", "how the coefficient of the KL in the reward moves (kl_placement reward): verl's"
                                   " kl_ctrl.type", choices=KL_CONTROLLERS)
    kl_target: float = option(0.1, "the KL per token the adaptive controller steers to (verl's kl_ctrl.target_kl)",
                              foreign=(Foreign("target_kl", "verl"),))
    kl_horizon: float = option(10000.0, "the adaptive controller's horizon, in responses (verl's kl_ctrl.horizon)",
                               foreign=(Foreign("horizon", "verl"),))
    # The peers' sampling, entropy, overlong and reference-update mechanisms (grpo.core.sampling, grpo.core.train,
    # grpo.modes.sequence_rewards); each refused where inapplicable says
    temperature: float = option(
        1.0, "sampling temperature of the rollouts: the logits are divided by it, and every log-prob of their responses"
        " (the policy's on each step, the rollout's, the reference's) and the entropy are read at it, as TRL's GRPOTrainer"
        " does (logits.div_(temperature)); the held-out evaluation samples at 1, greedy decoding is unchanged",
        )
    top_k: int = option(
        0, "sample each token among the top_k most likely (transformers' top-k warper, as TRL's top_k); 0: every token."
        " The learner's log-probs stay the whole vocabulary's, so the sampler differs from the learner")
    top_p: float = option(
        1.0, "nucleus sampling: each token among the most likely whose probabilities reach top_p, after top_k"
        " (transformers' top-p warper, as TRL's top_p); 1: every token. The learner's log-probs stay the whole"
        " vocabulary's")
    entropy_coeff: float = option(
        0.0, "entropy bonus: the loss minus entropy_coeff x the entropy of the policy's next-token distributions over"
        " the loss's tokens, aggregated as loss_agg, with its gradient (verl's actor entropy_coeff, dp_actor.py); 0: off",
        foreign=(Foreign("entropy_coef", "TRL", notes={"*": "TRL's entropy_coef takes the entropy's token mean whatever"
                         " loss_type; verl's entropy_coeff, followed here, aggregates it as loss_agg (equal with"
                         " loss_agg token_mean)"}),))
    top_entropy_quantile: float = option(
        1.0, "the policy loss's gradient flows only through the tokens whose entropy is in this top quantile of the"
        " seed's rollout, recomputed each step (TRL's top_entropy_quantile; Wang et al. 2025, arXiv 2506.01939,"
        " recommend 0.2); 1: every token; 0: the highest-entropy tokens only")
    mask_truncated_completions: int = option(
        0, "1: responses cut at max_response_length without EOS drop out of the loss, its normaliser and the KL term,"
        " their rewards still in their group's deltas (TRL's mask_truncated_completions, DAPO's overlong filtering,"
        " arXiv 2503.14476 §3.4); 0: off (policy transformer)",
        foreign=(Foreign("mask_truncated_completions", "TRL", values={"true": 1, "false": 0}),),
        )
    overlong_cache_length: int = option(
        0, "DAPO's soft overlong punishment (arXiv 2503.14476 §3.4, TRL's get_soft_overlong_punishment): a response"
        " longer than overlong_max_length - overlong_cache_length tokens loses a reward point times its excess over"
        " that / overlong_cache_length, a whole point at overlong_max_length and beyond; 0: off (policy transformer)",
        foreign=(Foreign("soft_punish_cache", "TRL"),))
    overlong_max_length: int = option(
        0, "DAPO's L_max of the soft overlong punishment, in tokens with EOS; 0: max_response_length",
        foreign=(Foreign("max_completion_len", "TRL"),))
    ref_model_mixup_alpha: float = option(
        1.0, "the reference model's update, weight by weight: ref <- alpha x policy + (1 - alpha) x ref (TR-DPO, arXiv"
        " 2404.09656; TRL's ref_model_mixup_alpha with sync_ref_model, default 0.6 there); 1: a copy, the seed"
        " document's refresh (kl_penalty > 0)")
    ref_model_sync_steps: int = option(
        0, "optimizer steps between the reference's updates (TRL's ref_model_sync_steps with sync_ref_model, default 512"
        " there: its SyncRefModelCallback); 0: every ref_period epochs, at the epoch's start. ref_period P is"
        " ref_model_sync_steps P x steps_per_epoch with alpha 1 (kl_penalty > 0)", foreign=(
            Foreign("sync_ref_model", "TRL", instead="TRL's sync_ref_model switches on its soft update: give"
                    " ref_model_sync_steps N (TRL's default 512) and ref_model_mixup_alpha (TRL's default 0.6)"),),
        )
    layers: int = option(1, "decoder blocks (policy transformer)", always_keyed=True)
    heads: int = option(4, "attention heads, dividing dim (policy transformer)", always_keyed=True)
    max_response_length: int = option(
        10, "the most tokens a response may have, EOS included; Dr. GRPO's constant normaliser (policy transformer)",
        foreign=(Foreign("max_completion_length", "TRL"),), always_keyed=True)
    length_penalty: float = option(
        0.0, "subtracted from the reward, times |response length - prompt length| (policy transformer)", always_keyed=True)
    task: str = option("seed", "prompt set", choices=TASKS, always_keyed=True)
    task_length: int = option(None, "tokens per prompt (tasks random and variable; default 5; the seed task's: 3)", fallback=5,
                              always_keyed=True)
    task_vocab: int = option(None, "tokens are 0 .. task_vocab - 1 (tasks random and variable; default 10; the seed task's: 5)",
                             fallback=10, always_keyed=True)
    task_prompts: int = option(None, "training prompts (tasks random and variable; task stream: the prompts each rollout"
                                     " draws afresh; default 16; the seed task's: 3)", fallback=16, always_keyed=True)
    task_heldout: int = option(None, "held-out prompts, never trained on (tasks random, variable and stream; default 64; the"
                                     " seed task's: 122)", fallback=64, always_keyed=True)
    task_seed: int = option(0, "generator of the random task's prompts, the same for every training seed (tasks random and variable)",
                            always_keyed=True)
    task_min_length: int = option(None, "the shortest prompt's length (tasks variable and stream; default 2)", fallback=2,
                                  always_keyed=True)
    # The RLVR-shaped regime (task stream): a base policy from a supervised warm start, shared by every configuration of a seed
    warm_start_steps: int = option(
        0, "supervised steps before RL (policy transformer): imitation of noisy sorted demonstrations of prompts drawn"
        " from the training stream, giving a base policy with a real pass rate and entropy; the base of a seed is trained"
        " once and shared by every configuration of that seed (a sweep stores it in its results folder); 0: none, RL"
        " starts from the random init")
    warm_start_noise: float = option(
        0.3, "chance that each content token of a warm-start demonstration is replaced by a uniform random token: a base"
        " that imitates them well sorts a list of n tokens about (1 - noise)^n of the time, and keeps entropy",
        )
    warm_start_lr: float = option(3e-3, "Adam learning rate of the warm start")
    init_scale: float = option(
        1.0, "scale of the policy's output layer at init (policy transformer: the final norm's gain); Andrychowicz et al."
        " 2021 (arXiv 2006.05990) found 0.01 (a near-uniform initial policy) helps")
    eval_every: int = option(
        1, "epochs between evaluations on the held-out prompts (greedy accuracies, heldout_sorted_frac: null on the"
        " epochs between); the last epoch is always evaluated. Evaluating 256 held-out prompts costs about what the"
        " rollout does")
    # A sampler that differs from the learner and the rollout corrections (grpo.core.rollout_correction)
    rollout_dtype: str = option(
        "float32", "precision of the policy copy that samples the rollout; the learner stays float32 (the mismatch of a"
        " bf16 inference engine beside an fp32 learner)", choices=ROLLOUT_DTYPES)
    rollout_correction: str = option(
        "none", "importance weights pi_learner / pi_sampler on the rollout's terms, the learner's log-probs recomputed in"
        " float32 (TRL's vllm_importance_sampling_mode; verl's rollout_is token / sequence are the truncate modes)",
        choices=ROLLOUT_CORRECTIONS, foreign=(
            Foreign("vllm_importance_sampling_mode", "TRL", notes={"*": "TRL's default cap is 3; rollout_is_threshold"
                                                                        " here defaults to verl's 2"}),
            Foreign("rollout_is", "verl", values={"token": "token_truncate", "sequence": "sequence_truncate"},
                    only_values=True)))
    rollout_is_threshold: float = option(
        2.0, "upper bound of the importance weights (rollout_correction): truncated to it, or masked above it (verl's"
        " rollout_is_threshold, default 2; TRL's vllm_importance_sampling_clip_max, default 3)",
        foreign=(Foreign("vllm_importance_sampling_clip_max", "TRL"),))
    rollout_is_threshold_lower: float = option(
        0.0, "lower bound of the importance weights (rollout_correction); 0: none (TRL's"
        " vllm_importance_sampling_clip_min, default None; verl truncates from above only)",
        foreign=(Foreign("vllm_importance_sampling_clip_min", "TRL"),))
    rollout_rs: str = option(
        "none", "rejection of tokens or responses whose sampler-learner divergence passes a threshold (verl's"
        " rollout_rs, one option)", choices=ROLLOUT_REJECTIONS)
    rollout_rs_threshold: float = option(
        2.0, "rollout_rs's upper bound: of the divergence (k2, k3), of the ratio pi_sampler / pi_learner (k1)",
        )
    rollout_rs_threshold_lower: float = option(
        0.5, "rollout_rs's lower bound of the ratio pi_sampler / pi_learner (k1 options; verl's threshold"
        " 'lower_upper')")
    off_policy_mask_threshold: float = option(
        0.0, "DeepSeek-V3.2's off-policy sequence mask (TRL's off_policy_mask_threshold): on each step, drop a response"
        " with a negative delta whose mean log pi_sampler - log pi over its tokens exceeds this; 0: off (TRL's None)",
        )

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not None or not is_resolved(spec):
                object.__setattr__(self, spec.name, checked_type(spec, value))
        for spec in fields(self):
            if spec.metadata["choices"] is not None and spec.name != "reward_fn":
                check_choice(spec.name, getattr(self, spec.name), spec.metadata["choices"])
        if self.reward_fn not in POLICIES[self.policy].REWARDS:
            raise FieldError("reward_fn", self.reward_fn, f"unknown choice for policy {self.policy!r}; choose from"
                                                          f" {', '.join(POLICIES[self.policy].REWARDS)}")
        resolved = resolved_values(self.as_dict())
        for name, why in inapplicable(self.as_dict()).items():
            value = getattr(self, name)
            if value is not None and value != resolved[name]:
                raise FieldError(name, value, why)
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        self.check_ranges()

    def check_ranges(self) -> None:
        if self.dynamic_sampling < 0:
            raise FieldError("dynamic_sampling", self.dynamic_sampling, "must be at least 0 (0: off)")
        for name in ("ref_period", "epochs", "steps_per_epoch", "responses", "dim", "task_length",
                     "task_prompts", "task_heldout", "layers", "heads", "task_min_length"):
            if getattr(self, name) < 1:
                raise FieldError(name, getattr(self, name), "must be at least 1")
        if self.warm_start_steps < 0:
            raise FieldError("warm_start_steps", self.warm_start_steps, "must be at least 0 (0: no warm start)")
        if not 0 <= self.warm_start_noise <= 1:
            raise FieldError("warm_start_noise", self.warm_start_noise, "must lie in [0, 1]")
        if self.warm_start_lr <= 0:
            raise FieldError("warm_start_lr", self.warm_start_lr, "must be positive")
        if self.eval_every < 1:
            raise FieldError("eval_every", self.eval_every, "must be at least 1")
        if self.init_scale <= 0:
            raise FieldError("init_scale", self.init_scale, "must be positive")
        if self.task_vocab < 2:
            raise FieldError("task_vocab", self.task_vocab, "must be at least 2")
        if not 0 <= self.task_seed <= MAX_SEED:
            raise FieldError("task_seed", self.task_seed, f"must lie in [0, 2^63 - 1 = {MAX_SEED}] (a generator's seed)")
        if self.lr <= 0:
            raise FieldError("lr", self.lr, "must be positive")
        if self.kl_penalty < 0:
            raise FieldError("kl_penalty", self.kl_penalty, "must be non-negative")
        self.check_mechanisms()
        self.check_rollout_mechanisms()
        self.check_rollout_correction()
        if not 0 < self.epsilon < 1:
            raise FieldError("epsilon", self.epsilon, "must lie in (0, 1)")
        if not 0 < self.epsilon_low <= 1:
            raise FieldError("epsilon_low", self.epsilon_low, "must lie in (0, 1]; 1 is no lower bound")
        if self.epsilon_high <= 0:
            raise FieldError("epsilon_high", self.epsilon_high, "must be positive")
        if self.task_min_length > self.task_length:
            raise FieldError("task_min_length", self.task_min_length, f"must not exceed task_length {self.task_length}")
        if self.length_penalty < 0:
            raise FieldError("length_penalty", self.length_penalty, "must be non-negative")
        if self.policy == "transformer":
            self.check_transformer()
        elif self.task in ("variable", "stream"):
            raise FieldError("task", self.task, "needs policy 'transformer' (the seed document's policy has fixed-length"
                                                " responses and no EOS)")
        needed = min_group(self.deltas_mode)
        if self.responses < needed:
            raise FieldError("responses", self.responses,
                             f"deltas_mode {self.deltas_mode!r} needs at least {needed} responses per prompt"
                             " (with one, every delta is 0 or undefined)")

    def check_mechanisms(self) -> None:
        """The ranges of the newer losses' options (grpo.modes.losses)."""
        upper = "epsilon_high" if "epsilon_high" in loss_options(self.loss_mode) else "epsilon"
        if self.clip_ratio_c and self.clip_ratio_c < 1 + getattr(self, upper):
            raise FieldError("clip_ratio_c", self.clip_ratio_c, f"must be 0 (off) or at least 1 + {upper}"
                                                                f" = {1 + getattr(self, upper):g} (the upper clip)")
        for name in ("sapo_temperature_pos", "sapo_temperature_neg", "clip_cov_ratio", "kl_cov_ratio"):
            if getattr(self, name) <= 0:
                raise FieldError(name, getattr(self, name), "must be positive")
        for name in ("clip_cov_ratio", "kl_cov_ratio"):
            if getattr(self, name) > 1:
                raise FieldError(name, getattr(self, name), "must lie in (0, 1]: a share of the tokens")
        for name in ("vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg", "ppo_kl_coef"):
            if getattr(self, name) < 0:
                raise FieldError(name, getattr(self, name), "must be non-negative")
        for name in ("kl_target", "kl_horizon"):
            if getattr(self, name) <= 0:
                raise FieldError(name, getattr(self, name), "must be positive")
        if self.clip_cov_lb >= self.clip_cov_ub:
            raise FieldError("clip_cov_lb", self.clip_cov_lb, f"must be below clip_cov_ub {self.clip_cov_ub}")

    def check_rollout_mechanisms(self) -> None:
        """The ranges of the sampling, entropy, overlong and reference-update options."""
        if self.temperature <= 0:
            raise FieldError("temperature", self.temperature, "must be positive")
        if self.top_k < 0:
            raise FieldError("top_k", self.top_k, "must be at least 0 (0: every token)")
        if not 0 < self.top_p <= 1:
            raise FieldError("top_p", self.top_p, "must lie in (0, 1] (1: every token)")
        if self.entropy_coeff < 0:
            raise FieldError("entropy_coeff", self.entropy_coeff, "must be non-negative (0: no entropy bonus)")
        if not 0 <= self.top_entropy_quantile <= 1:
            raise FieldError("top_entropy_quantile", self.top_entropy_quantile, "must lie in [0, 1] (1: every token)")
        if self.mask_truncated_completions not in (0, 1):
            raise FieldError("mask_truncated_completions", self.mask_truncated_completions, "must be 0 (off) or 1 (on)")
        for name in ("overlong_cache_length", "overlong_max_length", "ref_model_sync_steps"):
            if getattr(self, name) < 0:
                raise FieldError(name, getattr(self, name), "must be at least 0 (0: off)")
        if self.overlong_cache_length > (self.overlong_max_length or self.max_response_length):
            raise FieldError("overlong_cache_length", self.overlong_cache_length, "must not exceed overlong_max_length"
                             f" {self.overlong_max_length or self.max_response_length}")
        if not 0 < self.ref_model_mixup_alpha <= 1:
            raise FieldError("ref_model_mixup_alpha", self.ref_model_mixup_alpha, "must lie in (0, 1] (1: a copy)")

    def check_rollout_correction(self) -> None:
        """The sampler, the rollout corrections and token-level deltas (grpo.core.rollout_correction, remax and
        optimal_token_baseline of grpo.modes.deltas)."""
        if self.rollout_is_threshold <= 0:
            raise FieldError("rollout_is_threshold", self.rollout_is_threshold, "must be positive")
        if not 0 <= self.rollout_is_threshold_lower < self.rollout_is_threshold:
            raise FieldError("rollout_is_threshold_lower", self.rollout_is_threshold_lower,
                             f"must lie in [0, rollout_is_threshold {self.rollout_is_threshold:g})")
        if self.rollout_rs_threshold <= 0:
            raise FieldError("rollout_rs_threshold", self.rollout_rs_threshold, "must be positive")
        if self.rollout_rs.endswith("k1") and not 0 < self.rollout_rs_threshold_lower < self.rollout_rs_threshold:
            raise FieldError("rollout_rs_threshold_lower", self.rollout_rs_threshold_lower,
                             f"must lie in (0, rollout_rs_threshold {self.rollout_rs_threshold:g})")
        if self.off_policy_mask_threshold < 0:
            raise FieldError("off_policy_mask_threshold", self.off_policy_mask_threshold, "must be non-negative (0: off)")
        takes_tokens = LOSSES.fact(self.loss_mode, "token_deltas")
        if DELTAS.fact(self.deltas_mode, "token_level") and not takes_tokens:
            raise FieldError("deltas_mode", self.deltas_mode, f"gives one delta a token; loss_mode {self.loss_mode!r} takes"
                             " one a response (choose one of " + ", ".join(m for m in LOSSES if LOSSES.fact(m, "token_deltas")) + ")")
        if token_level(self) and not takes_tokens:
            name = "rollout_correction" if self.rollout_correction != "none" else "rollout_rs"
            raise FieldError(name, getattr(self, name), f"weighs tokens one by one; loss_mode {self.loss_mode!r} takes"
                                                        " one delta a response: use a sequence correction")
        if self.dynamic_sampling and "greedy_rewards" in DELTAS.fact(self.deltas_mode, "reads_rollout"):
            raise FieldError("deltas_mode", self.deltas_mode, "reads the greedy responses to the rollout's prompts; with"
                                                              " dynamic_sampling a batch mixes rounds: set dynamic_sampling 0")
        if self.off_policy_mask_threshold and DELTAS.fact(self.deltas_mode, "token_level"):
            raise FieldError("off_policy_mask_threshold", self.off_policy_mask_threshold,
                             f"reads one delta a response (TRL's); deltas_mode {self.deltas_mode!r} gives one a token")

    def check_transformer(self) -> None:
        if self.warm_start_steps and self.task != "stream":
            raise FieldError("warm_start_steps", self.warm_start_steps, "needs task 'stream' (the warm start's"
                                                                        " demonstrations are drawn from it)")
        if self.dim % self.heads:
            raise FieldError("heads", self.heads, f"must divide dim {self.dim}")
        if self.max_response_length <= self.task_length:
            raise FieldError("max_response_length", self.max_response_length,
                             f"must exceed task_length {self.task_length}: the ideal response is the sorted prompt and EOS")

    def registries_read(self) -> dict[str, Mapping]:
        """field -> the registry its mode is read from (reward_fn: the policy's reward table)."""
        read = {spec.name: spec.metadata["choices"] for spec in fields(self) if isinstance(spec.metadata["choices"], Registry)}
        return {**read, "reward_fn": POLICIES[self.policy].REWARDS}

    def make_task(self) -> Task:
        if self.task == "seed":
            return seed_task()
        if self.task == "variable":
            return variable_task(self.task_min_length, self.task_length, self.task_vocab, self.task_prompts,
                                 self.task_heldout, self.task_seed)
        if self.task == "stream":
            return stream_task(self.task_min_length, self.task_length, self.task_vocab, self.task_prompts,
                               self.task_heldout, self.task_seed)
        return random_task(self.task_length, self.task_vocab, self.task_prompts, self.task_heldout, self.task_seed)

    def as_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)}  # asdict's deep copies: 10x slower

    @property
    def config_id(self) -> str:
        """A short stable hash of every field: the key of a configuration in results/. The fields
        of the transformer policy and the variable task count only where they apply, so the seed
        document's policy keeps the keys it had before they existed; a field keyed_when_set
        (KEYED_WHEN_SET: every option but the always_keyed ones) counts only away from its default, so
        every configuration keeps the key it had before that field existed."""
        values = self.as_dict()
        if self.policy == "seed":
            values = {name: value for name, value in values.items() if name not in ("policy", *TRANSFORMER_FIELDS)}
        if self.task not in ("variable", "stream"):
            values.pop("task_min_length")
        for name, default in KEYED_WHEN_SET.items():
            if values.get(name, default) == default:  # a transformer's field is gone already on the seed policy
                values.pop(name, None)
        return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


FIELDS = {spec.name: spec for spec in fields(TrainConfig)}
CONFIG_FIELDS = tuple(FIELDS)  # the config columns of records and runs, the keys of grid files
KL_FIELDS = ("kl_estimator", "kl_reduction", "ref_period", "kl_placement", "ref_model_mixup_alpha",
             "ref_model_sync_steps")  # read only when kl_penalty > 0
TASK_FIELDS = ("task_length", "task_vocab", "task_prompts", "task_heldout", "task_seed", "task_min_length")  # not task seed
MECHANISM_FIELDS = ("clip_ratio_c", "sapo_temperature_pos", "sapo_temperature_neg", "vespo_k_pos", "vespo_lambda_pos",
                    "vespo_k_neg", "vespo_lambda_neg", "clip_cov_ratio", "clip_cov_lb", "clip_cov_ub", "kl_cov_ratio",
                    "ppo_kl_coef")  # the newer losses' options
KL_CONTROL_FIELDS = ("kl_ctrl", "kl_target", "kl_horizon")  # the adaptive KL coefficient's: the KL in the reward only
ROLLOUT_MECHANISM_FIELDS = ("temperature", "top_k", "top_p", "entropy_coeff", "top_entropy_quantile",
                            "mask_truncated_completions", "overlong_cache_length", "overlong_max_length",
                            "ref_model_mixup_alpha", "ref_model_sync_steps")  # the peers' sampling, entropy, overlong, reference options
LOSS_OPTION_FIELDS = ("epsilon", "epsilon_low", "epsilon_high", *MECHANISM_FIELDS)  # read by the losses declaring them
KEYED_WHEN_SET = {name: spec.default for name, spec in FIELDS.items()
                  if spec.metadata["keyed_when_set"]}  # the options added after the first results: in config_id only when set
TRANSFORMER_FIELDS = ("loss_agg", "layers", "heads", "max_response_length", "length_penalty", "mask_truncated_completions",
                      "overlong_cache_length", "overlong_max_length")  # read by that policy only
ROLLOUT_FIELDS = ("rollout_correction", "rollout_is_threshold", "rollout_is_threshold_lower", "rollout_rs",
                  "rollout_rs_threshold", "rollout_rs_threshold_lower", "off_policy_mask_threshold")  # the corrections
WARM_START_FIELDS = ("warm_start_steps", "warm_start_noise", "warm_start_lr", "init_scale")  # the base policy's own settings


FOREIGN = {alias.name: (spec.name, alias) for spec in FIELDS.values() for alias in spec.metadata["foreign"]
           if alias.name != spec.name}  # TRL's and verl's names -> (field, Foreign)


def in_own_terms(key: str, value: Any, typed: str | None = None) -> tuple[str | None, Any, str]:
    """A grid key (a field's name, or TRL's or verl's, see Foreign) and its value (a list: each
    one) -> (field, the value in this project's terms, a note on how the tool's meaning differs
    or ""); field None for a key that names nothing. FieldError naming `typed` (default `key`)
    for a name or value with no equal here, saying what to use."""
    name, alias = FOREIGN.get(key, (key, None))
    if name not in FIELDS:
        return None, value, ""
    alias = alias or next((own for own in FIELDS[name].metadata["foreign"] if own.name == name), None)
    if alias is None:
        return name, value, ""
    typed = typed or key
    if alias.instead:
        raise FieldError(typed, value, alias.instead)
    notes: list[str] = []

    def translated(one):
        one = str(one).lower() if isinstance(one, bool) else one  # a TOML boolean as a flag spells it
        if isinstance(one, str) and one in alias.refused:
            raise FieldError(typed, one, alias.refused[one])
        if alias.only_values and one not in alias.values:
            raise FieldError(typed, one, f"unknown choice; choose from {', '.join(alias.values)}")
        notes.extend(alias.notes[which] for which in (one, "*") if which in alias.notes)
        return alias.values.get(one, one) if isinstance(one, str) else one

    value = [translated(one) for one in value] if isinstance(value, list) else translated(value)
    if not notes:
        return name, value, ""
    return name, value, (f"{typed} is {name}: " if alias.name != name else f"{typed}: ") + "; ".join(dict.fromkeys(notes))


def is_resolved(spec: Field[Any]) -> bool:
    """Whether a field may be left unset (None): resolved_values gives it its value."""
    return spec.default is None


def base_type(spec: Field[Any]) -> type:
    """str, int or float: a field's type."""
    assert isinstance(spec.type, type), spec.type  # a class: this module does not postpone its annotations
    return spec.type


def checked_type(spec: Field[Any], value: object) -> Any:
    """`value` as the field's type; FieldError if it is not one (or not finite)."""
    kind = base_type(spec)
    if kind is str:
        if not isinstance(value, str):
            raise FieldError(spec.name, value, "must be a name")
        return value
    # numpy scalars of a runs row are Real too; a bool is not a number here
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (kind is int and not float(value).is_integer()):
        raise FieldError(spec.name, value, f"must be {'an integer' if kind is int else 'a number'}")
    if not math.isfinite(value):
        raise FieldError(spec.name, value, "must be finite")
    return kind(value) + kind(0)  # -0.0 + 0 is 0.0: a grid's 0.0 and -0.0 are one configuration


@functools.cache
def seed_task_sizes() -> dict[str, int]:
    """The seed task's facts, under the names of the task_* fields."""
    task = seed_task()
    return {"task_length": task.length, "task_vocab": task.vocab_size, "task_prompts": len(task.prompts),
            "task_heldout": len(task.heldout), "task_seed": TrainConfig.task_seed, "task_min_length": task.length}


def chosen(values: Mapping[str, Any], name: str) -> Any:
    return values[name] if values.get(name) is not None else FIELDS[name].default


def resolved_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The value each context-dependent field takes when left None (or when it does not apply):
    the seed task's sizes on the seed task, the chosen loss's own defaults (grpo.modes.losses.loss_options)
    and policy's (grpo.core.policies.POLICY_OPTIONS), else the field's fallback or default."""
    loss_defaults = loss_options(chosen(values, "loss_mode"))
    policy_defaults = POLICY_OPTIONS.get(chosen(values, "policy"), {})
    irrelevant = inapplicable(values)
    resolved: dict[str, Any] = {}
    for name in (*LOSS_OPTION_FIELDS, *KL_FIELDS, *KL_CONTROL_FIELDS, *TASK_FIELDS, *TRANSFORMER_FIELDS, *WARM_START_FIELDS,
                 *ROLLOUT_FIELDS, "dim", "top_entropy_quantile"):
        spec = FIELDS[name]
        if chosen(values, "task") == "seed" and name in TASK_FIELDS:
            resolved[name] = seed_task_sizes()[name]
        elif chosen(values, "task") == "random" and name == "task_min_length":
            resolved[name] = resolved["task_length"]  # every prompt has the same length
        elif values.get(name) is not None and name not in irrelevant:
            resolved[name] = values[name]
        elif loss_defaults.get(name) is not None:
            resolved[name] = loss_defaults[name]
        elif policy_defaults.get(name) is not None:
            resolved[name] = policy_defaults[name]
        else:
            resolved[name] = spec.default if spec.default is not None else spec.metadata["fallback"]
    return resolved


def inapplicable(values: Mapping) -> dict[str, str]:
    """field -> why it does not apply, for the fields that the choices in `values` (a partial
    TrainConfig as a dict; missing fields take their defaults) make irrelevant."""
    loss, task, kl = chosen(values, "loss_mode"), chosen(values, "task"), chosen(values, "kl_penalty")
    why = {}
    for name in LOSS_OPTION_FIELDS:
        if name not in loss_options(loss):
            readers = [mode for mode in LOSSES if name in loss_options(mode)]
            why[name] = f"does not apply to loss_mode {loss!r}; only {', '.join(readers)} read it"
    if not LOSSES.fact(loss, "reads_loss_agg"):
        why["loss_agg"] = f"does not apply to loss_mode {loss!r}: it aggregates its own terms"
    if not LOSSES.fact(loss, "token_terms"):
        why["top_entropy_quantile"] = (f"does not apply to loss_mode {loss!r}: its terms are a sequence's; only"
                                       f" {', '.join(mode for mode in LOSSES if LOSSES.fact(mode, 'token_terms'))} have a"
                                       " term a token")
    if chosen(values, "ref_model_sync_steps"):
        why["ref_period"] = "does not apply: ref_model_sync_steps sets when the reference model is updated"
    if not chosen(values, "overlong_cache_length"):
        why["overlong_max_length"] = "does not apply: overlong_cache_length is 0, so there is no overlong punishment"
    if kl == 0:
        why.update({name: "does not apply: kl_penalty is 0, so there is no KL term" for name in (*KL_FIELDS, *KL_CONTROL_FIELDS)})
    elif chosen(values, "kl_placement") != "reward":
        why.update({name: "does not apply to kl_placement 'loss': verl adapts only the coefficient of the KL in the"
                          " reward (algorithm.kl_ctrl)" for name in KL_CONTROL_FIELDS})
    else:
        if chosen(values, "kl_ctrl") != "adaptive":
            why.update({name: "does not apply to kl_ctrl 'fixed'" for name in ("kl_target", "kl_horizon")})
        why["kl_reduction"] = ("does not apply to kl_placement 'reward': a response's KL is summed over its tokens into"
                               " its reward (verl's apply_kl_penalty)")
    if task == "seed":
        sizes = seed_task_sizes()
        facts = f"length {sizes['task_length']}, vocab {sizes['task_vocab']}, {sizes['task_prompts']} prompts," \
                f" {sizes['task_heldout']} held out"
        why.update({name: f"does not apply to task 'seed' ({facts}); task_* options are for tasks 'random' and 'variable'"
                    for name in TASK_FIELDS})
    elif task == "random":
        why["task_min_length"] = "does not apply to task 'random' (one length: task_length); it is for task 'variable'"
    why.update(rollout_inapplicable(values))
    if chosen(values, "policy") == "seed":
        why.update({name: "does not apply to policy 'seed' (fixed-length responses); it is for policy 'transformer'"
                    for name in (*TRANSFORMER_FIELDS, *WARM_START_FIELDS)})
    elif chosen(values, "warm_start_steps") == 0:
        why.update({name: "does not apply: warm_start_steps is 0, so there is no warm start"
                    for name in ("warm_start_noise", "warm_start_lr")})
    return why


def rollout_inapplicable(values: Mapping) -> dict[str, str]:
    """inapplicable's part for the rollout corrections: their bounds without them, and every
    correction with a loss whose term is not the delta times a function of the ratio."""
    why = {}
    if chosen(values, "rollout_correction") == "none":
        why.update({name: "does not apply: rollout_correction is 'none'" for name in ("rollout_is_threshold",
                                                                                      "rollout_is_threshold_lower")})
    rejection = chosen(values, "rollout_rs")
    if rejection == "none":
        why.update({name: "does not apply: rollout_rs is 'none'" for name in ("rollout_rs_threshold",
                                                                              "rollout_rs_threshold_lower")})
    elif not rejection.endswith("k1"):
        why["rollout_rs_threshold_lower"] = f"does not apply to rollout_rs {rejection!r}: only the k1 options bound the ratio"
    loss = chosen(values, "loss_mode")
    if loss in NOT_WEIGHTED_BY_DELTA:
        why.update({name: f"does not apply to loss_mode {loss!r}: its term is not the delta times a function of the"
                          " ratio, so a weight on it is not a weight on the delta"
                    for name in ("rollout_correction", "rollout_rs", "off_policy_mask_threshold")})
    return why


def applicable_only(values: Mapping) -> dict:
    """`values` without the fields that its own choices make irrelevant (for grid rows)."""
    irrelevant = inapplicable(values)
    return {name: value for name, value in values.items() if name not in irrelevant}


def seed_default(config: TrainConfig) -> TrainConfig:
    """`config` with the seed document's choices (TrainConfig's defaults) on every mode axis:
    the reference a configuration is compared with. Options that the seed document's choices
    make irrelevant (a clip range, a KL estimator) take their defaults."""
    defaults = TrainConfig()
    seed_choices = {name: getattr(defaults, name) for name in TrainConfig.CHOICES}
    return TrainConfig(**applicable_only({**config.as_dict(), **seed_choices}))
