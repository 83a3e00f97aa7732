"""A results folder's base policies: each seed's warm start (grpo.core.warm_start), trained once
and shared by every configuration of that seed, across trials, phases and grown sweeps.

Layout: ``bases/<base_key>/seed=<seed>.pt``, one file a seed (its parameters by name and the
settings it was trained with), written atomically; ``base_key`` hashes every setting a base
depends on, so a base trained with other settings is never reused (and a file whose stored
settings differ from the key's is refused, not used). A sweep trains the bases its trials need
up front, in its driver, all seeds of one setting stacked (``ensure_bases``); a trial only
loads them (``stored_bases``), and trains and stores one still missing (a folder written
before this store existed) as the driver would.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from grpo.core.config import TrainConfig
from grpo.core.train import one_intra_op_thread
from grpo.core.warm_start import BaseSource, BaseWeights, base_key, base_settings, train_bases
from grpo.errors import EnvironmentFault
from grpo.experiment.layout import BASES_DIR
from grpo.files import write_atomic


def base_file(results_dir: Path, config: TrainConfig, seed: int) -> Path:
    return Path(results_dir) / BASES_DIR / base_key(config) / f"seed={int(seed)}.pt"


def store_bases(results_dir: Path, config: TrainConfig, seeds: Sequence[int]) -> dict[int, BaseWeights]:
    """Train the bases of `seeds` (stacked) and write each one's file atomically."""
    with one_intra_op_thread():
        bases = train_bases(config, seeds)
    for seed, weights in bases.items():
        path = base_file(results_dir, config, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp, weights=weights: torch.save(
            {"settings": base_settings(config), "weights": weights}, tmp))
    return bases


def load_base(results_dir: Path, config: TrainConfig, seed: int) -> BaseWeights:
    """One seed's stored base; EnvironmentFault if its file holds another setting's."""
    path = base_file(results_dir, config, seed)
    stored = torch.load(path, weights_only=True)
    if stored["settings"] != base_settings(config):
        raise EnvironmentFault(f"{str(path)!r} holds a base trained with other settings than its key's; remove it")
    return stored["weights"]


def missing_seeds(results_dir: Path, config: TrainConfig, seeds: Iterable[int]) -> list[int]:
    return [int(seed) for seed in seeds if not base_file(results_dir, config, seed).exists()]


def ensure_bases(results_dir: Path, work: Iterable[tuple[TrainConfig, Sequence[int]]]) -> int:
    """Train and store, once, the bases that `work` ((configuration, seeds to train) pairs) needs
    and the folder lacks: per base setting, its missing seeds stacked. -> the bases trained."""
    needed: dict[str, tuple[TrainConfig, set[int]]] = {}
    for config, seeds in work:
        if config.warm_start_steps:
            needed.setdefault(base_key(config), (config, set()))[1].update(int(seed) for seed in seeds)
    trained = 0
    for config, seeds in needed.values():
        missing = missing_seeds(results_dir, config, sorted(seeds))
        if missing:
            store_bases(results_dir, config, missing)
            trained += len(missing)
    return trained


def stored_bases(results_dir: Path) -> BaseSource:
    """The bases of `results_dir` as grpo.core.train reads them: each seed's stored base, a
    missing one trained and stored first."""
    def source(config: TrainConfig, seeds: Sequence[int]) -> dict[int, BaseWeights]:
        missing = missing_seeds(results_dir, config, seeds)
        if missing:
            store_bases(results_dir, config, missing)
        return {int(seed): load_base(results_dir, config, seed) for seed in seeds}
    return source
