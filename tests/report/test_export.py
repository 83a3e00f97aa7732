"""`grpo export --to tensorboard`: the event files read back with TensorBoard's own reader hold
each configuration's seed-mean curves and band, and its final metrics with its fields as
hyperparameters, equal to the records'; a missing tensorboard is one line, exit 2."""

import sys

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from test_report import build_results  # tests/report/test_report.py: a results folder trained in-process

from grpo.cli import main
from grpo.core.config import CONFIG_FIELDS
from grpo.experiment.results import final_epochs, open_results
from grpo.report.export import BAND

GRID = """seeds = 3
[grid]
loss_mode = ["naive", "clipped"]
kl_penalty = 0.1
epochs = 5
steps_per_epoch = 2
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    folder = build_results(root, "tiny", GRID)
    return folder, root / "tb"


def test_the_event_files_hold_the_records_curves_band_and_final_metrics(exported, capsys):
    folder, out = exported
    assert main(["export", str(folder), "--to", "tensorboard", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote 2 configuration(s) to {out}/" in captured.out
    assert "configurations read: 2/2 config (100%)" in captured.err and "\r" not in captured.err  # not a terminal
    records = pd.read_parquet(folder / "records").astype({"config_id": str})
    runs = open_results(folder).runs.drop_duplicates("config_id").set_index("config_id")
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == sorted(runs.index)
    for config_id, own in records.groupby("config_id"):
        events = EventAccumulator(str(out / config_id))
        events.Reload()
        per_seed = own.groupby(["epoch", "seed"]).sorted_frac.mean().unstack()  # [epoch, seed]
        for tag, expected in [("success/mean", per_seed.mean(axis=1)), ("success/low", per_seed.quantile(BAND[0], axis=1)),
                              ("success/high", per_seed.quantile(BAND[1], axis=1))]:
            scalars = events.Scalars(tag)
            assert [s.step for s in scalars] == list(range(5))
            assert np.allclose([s.value for s in scalars], expected.to_numpy(), atol=1e-6)
        kl = own.groupby(["epoch", "seed"]).kl.mean().groupby("epoch").mean()
        assert np.allclose([s.value for s in events.Scalars("kl/mean")], kl.to_numpy(), atol=1e-6)
        assert {"reward_frac/mean", "clip_frac/high", "entropy/low"} <= set(events.Tags()["scalars"])
        window = own[own.epoch >= 5 - final_epochs(5)]
        success = window.groupby("seed").sorted_frac.mean().mean()
        assert events.Scalars("final/success")[0].value == pytest.approx(success, abs=1e-6)
        assert events.Scalars("final/runs")[0].value == 3
        start = HParamsPluginData.FromString(events.PluginTagToContent("hparams")["_hparams_/session_start_info"])
        hparams = start.session_start_info.hparams
        assert set(hparams) == set(CONFIG_FIELDS)
        assert hparams["loss_mode"].string_value == runs.loc[config_id, "loss_mode"]
        assert hparams["kl_penalty"].number_value == pytest.approx(0.1)


def test_without_tensorboard_export_says_how_to_install_it(exported, monkeypatch, capsys):
    folder, out = exported
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    assert main(["export", str(folder), "--out", str(out.parent / "none")]) == 2
    err = capsys.readouterr().err
    assert err == ("grpo export: error: grpo export --to tensorboard needs the tensorboard package:"
                   " pip install 'grpo[export]' (or pip install tensorboard)\n")
    assert not (out.parent / "none").exists()


def test_bad_export_arguments_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["export", str(tmp_path), "--to", "mlflow"]) == 2
    assert "invalid choice: 'mlflow' (choose from 'tensorboard')" in capsys.readouterr().err


def event_files(folder):
    return sorted(path.relative_to(folder).parent.as_posix() for path in folder.rglob("events.out.tfevents.*"))


def test_a_second_export_replaces_the_first(exported, tmp_path, capsys):
    """It used to add a second event file beside each first one: TensorBoard then shows every curve twice."""
    folder, _ = exported
    out = tmp_path / "tb"
    assert main(["export", str(folder), "--out", str(out)]) == 0
    first = event_files(out)
    assert main(["export", str(folder), "--out", str(out)]) == 0
    assert event_files(out) == first and sorted(set(first)) == [".", *sorted(open_results(folder).files)]
    assert [path.name for path in tmp_path.iterdir()] == ["tb"]  # no scratch left beside it


def test_export_refuses_a_folder_of_other_files(exported, tmp_path, capsys):
    folder, _ = exported
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["export", str(folder), "--out", str(tmp_path / "mine")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "holds files grpo export did not write" in err
    assert [path.name for path in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_export_of_an_incomplete_folder_says_what_it_left_out(tmp_path, capsys):
    """It used to export what it found and say nothing of the configurations missing."""
    folder = build_results(tmp_path, "partial", GRID, skip=(1,))
    assert main(["export", str(folder), "--out", str(tmp_path / "tb")]) == 1
    out, err = capsys.readouterr()
    missing = open_results(folder).runs.query("status == 'missing'").config_id.unique()
    assert len(missing) == 1 and "wrote 1 configuration(s)" in out
    assert f"incomplete: left out 1 configuration(s) without records ({missing[0]})" in err
    assert sorted(set(event_files(tmp_path / "tb"))) == [".", *sorted(open_results(folder).files)]
    assert missing[0] not in open_results(folder).files
