"""What a researcher would otherwise run: TRL's ``GRPOTrainer`` on a GPT-2 of the transformer
testbed's size, built locally (no download), on the same task and reward.

GPT-2 (``transformers.GPT2LMHeadModel``): 1 layer, 4 heads, width 32, a vocabulary of the task's
tokens and EOS, pad, BOS (tied output, biases, learned positions: 13,440 weights against the
testbed's 13,024). A word-level tokenizer over the same token ids; prompts are the task's
prompts then BOS; the reward is the project's own ``sort_distance``, read from the completion's
token ids (EOS included). GRPO as the testbed trains it: 8 responses of up to 8 tokens to each of
the 16 prompts, lr 3e-3, clip 0.2, beta 0, a rollout every 4 optimizer steps (``num_iterations``
4), every step on the whole rollout. One process, one seed, one thread.

TRL is optional (``pip install -e '.[bench]'``): ``available()`` says whether it is installed.
"""

import importlib.util
import tempfile
import time

import torch

from grpo.core.config import TrainConfig
from grpo.modes.sequence_rewards import SEQUENCE_REWARDS
from grpo.tasks.prompts import Task
from grpo.tasks.sequences import bos_token, eos_token, pad_token

WIDTH, LAYERS, HEADS = 32, 1, 4


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("trl", "transformers", "datasets", "tokenizers"))


def version() -> str:
    import trl

    return trl.__version__


def token_names(vocab: int) -> list[str]:
    """The word for each token id: the task's tokens, then EOS, pad, BOS."""
    return [str(token) for token in range(vocab)] + ["<eos>", "<pad>", "<bos>"]


def make_tokenizer(vocab: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = token_names(vocab)
    words = Tokenizer(models.WordLevel({name: i for i, name in enumerate(names)}, unk_token="<pad>"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=words, eos_token=names[eos_token(vocab)],
                                   pad_token=names[pad_token(vocab)], bos_token=names[bos_token(vocab)], padding_side="left")


def make_model(vocab: int, positions: int, seed: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab + 3, n_positions=positions, n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=bos_token(vocab),
                        eos_token_id=eos_token(vocab), pad_token_id=pad_token(vocab))
    return GPT2LMHeadModel(config)


def weights(model) -> int:
    return sum(p.numel() for p in model.parameters())


class StepClock:
    """A TrainerCallback's job: the wall and CPU time at the end of every optimizer step."""

    def __init__(self):
        self.ends: list[float] = []
        self.cpu_ends: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        clock = self

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.ends.append(time.perf_counter())
                clock.cpu_ends.append(time.process_time())

        return Clock()


def make_trainer(config: TrainConfig, task: Task, seed: int, steps: int, out: str, clock: StepClock):
    """A GRPOTrainer that trains `steps` optimizer steps of `config`'s GRPO on `task`."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    vocab, names = task.vocab_size, token_names(task.vocab_size)
    prompts = task.prompts  # [batch pos]
    reward = SEQUENCE_REWARDS.checked(config.reward_fn)

    def project_reward(prompts, completions, completion_ids, prompt_index, **_):
        """The project's reward of each completion: its token ids up to EOS, then pads."""
        responses = torch.full((len(completion_ids), config.max_response_length), pad_token(vocab), dtype=torch.long)
        for row, ids in enumerate(completion_ids):
            responses[row, :len(ids)] = torch.tensor(ids[:config.max_response_length], dtype=torch.long)
        own_prompts = task.prompts[torch.tensor(prompt_index)]  # [completion pos]
        return reward(own_prompts, responses[None, :, None], vocab)[0, :, 0].tolist()

    texts = [" ".join(names[token] for token in row if token != pad_token(vocab)) + " " + names[bos_token(vocab)]
             for row in prompts.tolist()]
    dataset = Dataset.from_dict({"prompt": texts, "prompt_index": list(range(len(texts)))})
    group = config.responses
    args = GRPOConfig(
        output_dir=out, per_device_train_batch_size=len(texts) * group, num_generations=group,
        max_completion_length=config.max_response_length, num_iterations=config.steps_per_epoch,
        learning_rate=config.lr, lr_scheduler_type="constant", warmup_steps=0, epsilon=config.epsilon, beta=0.0,
        max_steps=steps, use_cpu=True, report_to="none", save_strategy="no", logging_steps=10**6, disable_tqdm=True,
        seed=seed, temperature=1.0, top_k=0, top_p=1.0, shuffle_dataset=False, dataloader_num_workers=0)
    model = make_model(vocab, task.prompts.shape[1] + 1 + config.max_response_length, seed)
    return GRPOTrainer(model=model, reward_funcs=project_reward, args=args, train_dataset=dataset,
                       processing_class=make_tokenizer(vocab), callbacks=[clock.callback()])


def seconds_per_step(config: TrainConfig, task: Task, seed: int, rollouts: int) -> tuple[tuple[float, float], int]:
    """TRL's time per optimizer step over `rollouts` rollouts and their steps, after a first
    rollout and its steps (warm-up) -> ((wall, CPU) seconds per optimizer step, the model's weights)."""
    clock = StepClock()
    steps = config.steps_per_epoch
    with tempfile.TemporaryDirectory() as out:
        trainer = make_trainer(config, task, seed, (rollouts + 1) * steps, out, clock)
        trainer.train()
        model_weights = weights(trainer.model)
    timed = rollouts * steps
    wall = (clock.ends[-1] - clock.ends[steps - 1]) / timed
    cpu = (clock.cpu_ends[-1] - clock.cpu_ends[steps - 1]) / timed
    return (wall, cpu), model_weights
