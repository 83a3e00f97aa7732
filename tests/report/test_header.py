"""A grid report's header names, for each held-fixed value a loss option sets (epsilon), the
configurations that read it, and shows only their values."""

import pandas as pd

from grpo.report.grid._compute import held_readers, held_values

AXES = {"loss_mode": ["naive", "clipped", "clip_higher"]}


def configs(epsilons):
    return pd.DataFrame({"loss_mode": AXES["loss_mode"], "epsilon": epsilons, "lr": 0.001, "responses": 10,
                         "epochs": 100, "steps_per_epoch": 10, "dim": 10})


def test_epsilon_is_held_at_the_value_its_readers_use():
    frame = configs([0.01, 0.2, 0.01])  # naive and clip_higher carry the default 0.01 but never read it
    assert held_readers(frame, AXES) == {"epsilon": ["clipped"]}
    held = held_values(frame, AXES)
    assert held["epsilon"] == [0.2] and held["lr"] == [0.001]


def test_a_value_no_configuration_reads_is_not_held():
    frame = configs([0.01, 0.2, 0.01]).iloc[[0, 2]]  # naive and clip_higher: neither reads epsilon
    assert "epsilon" not in held_values(frame, AXES) and held_readers(frame, AXES) == {"epsilon": []}


def test_every_reader_needs_no_note():
    frame = configs([0.2, 0.2, 0.2]).assign(loss_mode=["clipped", "clipped", "gspo"])
    assert held_readers(frame, AXES) == {} and held_values(frame, AXES)["epsilon"] == [0.2]
