"""config_id is the key of a configuration's records in every results folder: a configuration's
key never changes. An option counts in config_id only away from its default (keyed_when_set),
except the fields the first results were keyed by, declared `always_keyed` beside their defaults
(grpo.core.config.option)."""

import hashlib

import pytest

from grpo.core.config import (
    FIELDS,
    KEYED_WHEN_SET,
    TASK_FIELDS,
    TrainConfig,
)
from grpo.experiment.grids import load_grid, presets

# preset -> (sha1 of its sorted config_ids, the configurations), as every round's records hold them
# (design grid, sensitivity cells, tuning candidates). A new option declared always_keyed moves all.
PRESET_IDS = {
    "canary-clip-higher": ("08c901df04688b7c", 2),
    "canary-dr-grpo": ("1d165833b0161876", 4),
    "canary-dynamic-sampling": ("268951e90c5407a2", 2),
    "canary-gspo": ("00cac6eee1e847a9", 3),
    "canary-kl": ("e0269c61764f7307", 8),
    "canary-rlvr-batch-std": ("25e4d2b15fdc7ce7", 4),
    "canary-rlvr-clip-higher": ("9113bf35287ddc10", 2),
    "canary-rlvr-dr-grpo": ("bc0a955a1bf61fb9", 4),
    "canary-rlvr-dynamic-sampling": ("d5bfe1caf43394c1", 2),
    "extended": ("5220e56d0bad0d62", 360),
    "full": ("54b0906e1538b879", 312),
    "kl-adaptive-rlvr": ("bb3672b534d96c47", 4),
    "kl-clip-rlvr": ("0bc1fcf188ca209a", 10),
    "mechanisms": ("fe69a5d085c66eb0", 160),
    "mechanisms-rlvr": ("7a477781dcd271d0", 63),
    "mechanisms-rlvr-more": ("9063713c940ee446", 24),
    "overlong-reference-rlvr": ("988644b548c9f2d8", 18),
    "rlvr": ("1246288c12145cdf", 96),
    "rollout-correction": ("0069f13a78c56a8c", 9),
    "rollout-correction-more": ("f28264dada24d007", 12),
    "sampling-rlvr": ("7d003aeac875bfa4", 24),
    "sequence": ("f76ba358a076e669", 12),
    "smoke": ("b58d5c56095a11d2", 16),
    "wide": ("d6760e4716284ac2", 2000),
    "wide-sequence": ("abcaf85c785c074a", 96),
}


def test_every_preset_is_pinned():
    assert set(PRESET_IDS) == set(presets())


@pytest.mark.parametrize("preset", PRESET_IDS)
def test_the_presets_configurations_keep_their_keys(preset):
    grid = load_grid(preset)
    ids = {config.config_id for config, _ in grid.plan()}
    ids |= {config.config_id for candidate in (grid.candidates() if grid.tuning else []) for config in candidate.values()}
    assert (hashlib.sha1(" ".join(sorted(ids)).encode()).hexdigest()[:16], len(ids)) == PRESET_IDS[preset]


def test_an_option_keyed_when_set_counts_only_away_from_its_default():
    # read from the options' metadata: every option but those the first results were keyed by
    assert set(FIELDS) - set(KEYED_WHEN_SET) == {
        "reward_fn", "deltas_mode", "loss_mode", "kl_penalty", "kl_estimator", "kl_reduction", "ref_period", "epsilon",
        "epsilon_low", "epsilon_high", "epochs", "steps_per_epoch", "responses", "lr", "dim", "policy", "loss_agg",
        "layers", "heads", "max_response_length", "length_penalty", *TASK_FIELDS, "task"}
    assert KEYED_WHEN_SET["kl_placement"] == "loss" and KEYED_WHEN_SET["dynamic_sampling"] == 0
    seed = TrainConfig(kl_penalty=0.1)
    assert TrainConfig(kl_penalty=0.1, kl_placement="loss").config_id == seed.config_id
    assert TrainConfig(kl_penalty=0.1, kl_placement="reward").config_id != seed.config_id
    assert TrainConfig(dynamic_sampling=2).config_id != TrainConfig().config_id
