import torch

from grpo.core.config import TrainConfig
from grpo.core.train import train
from grpo.experiment import bases as store

STREAM = dict(policy="transformer", task="stream", task_min_length=2, task_length=3, task_vocab=4, task_prompts=4,
              task_heldout=16, max_response_length=5, dim=8, heads=2, responses=4, epochs=1, steps_per_epoch=1,
              reward_fn="sort_distance", warm_start_steps=3)


def counting(monkeypatch):
    """Wrap the store's trainer: the (setting, seeds) of every call."""
    calls = []
    trainer = store.train_bases

    def counted(config, seeds):
        calls.append((store.base_key(config), tuple(seeds)))
        return trainer(config, seeds)
    monkeypatch.setattr(store, "train_bases", counted)
    return calls


def test_each_seeds_base_is_trained_once_and_a_grown_sweep_reuses_it(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    a, b = TrainConfig(**STREAM, loss_mode="clipped"), TrainConfig(**STREAM, loss_mode="naive", lr=0.01)
    assert store.ensure_bases(tmp_path, [(a, (0, 1)), (b, (0, 1))]) == 2  # two configurations, one base a seed
    first = store.base_file(tmp_path, a, 0).read_bytes()
    assert store.ensure_bases(tmp_path, [(a, (0, 1, 2, 3)), (b, (2, 3))]) == 2  # grown: only the new seeds
    assert calls == [(store.base_key(a), (0, 1)), (store.base_key(a), (2, 3))]
    assert store.base_file(tmp_path, a, 0).read_bytes() == first  # never rewritten
    loaded = store.stored_bases(tmp_path)(b, [0, 3])
    assert len(calls) == 2  # a trial only loads
    records = [train(config, [3, 0], bases=store.stored_bases(tmp_path)) for config in (a, b)]
    assert (records[0].start_entropy.to_numpy() == records[1].start_entropy.to_numpy()).all()
    assert set(loaded) == {0, 3} and all(isinstance(w, torch.Tensor) for w in loaded[3].values())


def test_a_base_from_another_warm_start_setting_is_never_reused(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    noisy = TrainConfig(**STREAM)
    clean = TrainConfig(**STREAM, warm_start_noise=0.0)
    store.ensure_bases(tmp_path, [(noisy, (0,))])
    bases = store.stored_bases(tmp_path)(clean, [0])  # not stored yet: trained for its own setting
    assert [key for key, _ in calls] == [store.base_key(noisy), store.base_key(clean)]
    assert store.base_file(tmp_path, clean, 0) != store.base_file(tmp_path, noisy, 0)
    assert not torch.equal(bases[0]["token_embedding"], store.load_base(tmp_path, noisy, 0)["token_embedding"])


def test_a_file_holding_another_settings_base_is_refused(tmp_path):
    import pytest

    from grpo.errors import EnvironmentFault
    noisy, clean = TrainConfig(**STREAM), TrainConfig(**STREAM, warm_start_noise=0.0)
    store.ensure_bases(tmp_path, [(noisy, (0,))])
    target = store.base_file(tmp_path, clean, 0)
    target.parent.mkdir(parents=True)
    target.write_bytes(store.base_file(tmp_path, noisy, 0).read_bytes())  # a mislabelled file
    with pytest.raises(EnvironmentFault, match="other settings"):
        store.load_base(tmp_path, clean, 0)
