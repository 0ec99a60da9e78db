# SPDX-License-Identifier: Apache-2.0
"""Crash-safe training: resume after a kill, skipped NaN/Inf steps, inference re-runs."""

import logging
import os
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from tuss_plugin.bin import tuss_inference, tuss_train
from tuss_plugin.train.checkpoints import PREVIOUS, check_checkpoint, recover_checkpoints

from conftest import TESTS
from datagen import make_data_dir, train_args

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = str(TESTS / "conf" / "tuss_tiny.yaml")
PROMPTS = [["speech", "sfxbg"], ["speech", "sfxbg"], ["sfx", "sfx"], ["sfx", "sfx"]]


def _ckpt(path):
    state, why = check_checkpoint(path)
    assert state, why
    return state


def _assert_same_training_state(a, b):
    """Model weights, epoch and AdamW state (step counts, moments) agree."""
    assert a["reporter"]["epoch"] == b["reporter"]["epoch"]
    for k, v in a["model"].items():
        assert torch.allclose(v, b["model"][k], atol=1e-6), k
    sa, sb = a["optimizers"][0]["state"], b["optimizers"][0]["state"]
    assert sa.keys() == sb.keys() and len(sa) > 0
    for i in sa:
        assert float(sa[i]["step"]) == float(sb[i]["step"]) > 0
        assert torch.allclose(sa[i]["exp_avg"], sb[i]["exp_avg"], atol=1e-6)
        assert torch.allclose(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"], atol=1e-8)


def _espnet_like_checkpoint(path, stats_value):
    """A training checkpoint as ESPnet writes it, with one epoch of reporter stats."""
    import datetime

    stats = {"train": {"loss": stats_value, "time": datetime.timedelta(seconds=3)}, "valid": {"loss": stats_value}}
    torch.save(
        {
            "model": {"w": torch.zeros(2)},
            "reporter": {"stats": {1: stats}, "epoch": 1},
            "optimizers": [{"state": {}, "param_groups": []}],
            "schedulers": [None],
            "scaler": None,
        },
        path,
    )


def test_check_checkpoint_reads_numpy_reporter_stats(tmp_path):
    """ESPnet 202511 stores reporter stats as numpy scalars and the epoch time as a timedelta."""
    ck = tmp_path / "checkpoint.pth"
    _espnet_like_checkpoint(ck, np.float64(0.5))
    state, why = check_checkpoint(ck)
    assert why is None and state and state["reporter"]["epoch"] == 1
    assert float(state["reporter"]["stats"][1]["valid"]["loss"]) == 0.5


class _NotData:  # any other class stays refused by the safe loader
    def __init__(self, v):
        self.v = v


def test_check_checkpoint_still_refuses_other_objects(tmp_path):
    ck = tmp_path / "checkpoint.pth"
    _espnet_like_checkpoint(ck, _NotData(1))
    assert check_checkpoint(ck) == ({}, None)  # complete, not inspectable: never unpickled


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("data") / "d", PROMPTS, seconds=0.25)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """Two epochs without interruption."""
    exp = tmp_path_factory.mktemp("straight") / "exp"
    torch.set_num_threads(1)  # (module fixtures run before the per-test thread setting)
    tuss_train.main(train_args(data, exp, TINY, epochs=2))
    return exp


def test_resume_continues_epoch_and_optimizer(data, straight, tmp_path):
    exp = tmp_path / "exp"
    tuss_train.main(train_args(data, exp, TINY, epochs=1))
    assert _ckpt(exp / "checkpoint.pth")["reporter"]["epoch"] == 1
    tuss_train.main(train_args(data, exp, TINY, epochs=2, extra=["--resume", "true"]))
    resumed = _ckpt(exp / "checkpoint.pth")
    _assert_same_training_state(resumed, _ckpt(straight / "checkpoint.pth"))
    # the copy of the last complete epoch made before epoch 2 overwrote checkpoint.pth
    assert _ckpt(exp / PREVIOUS)["reporter"]["epoch"] == 1


def test_kill_while_writing_checkpoint(data, straight, tmp_path, caplog):
    """Killed while ESPnet overwrote checkpoint.pth at the end of epoch 2."""
    exp = tmp_path / "exp"
    shutil.copytree(straight, exp, symlinks=True)
    ck = exp / "checkpoint.pth"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])  # truncated by the kill
    (exp / "2epoch.pth").unlink()  # written after checkpoint.pth: not there yet
    (exp / "latest.pth").unlink()
    (exp / "latest.pth").symlink_to("1epoch.pth")
    assert check_checkpoint(ck)[0] is None
    with caplog.at_level(logging.WARNING):
        tuss_train.main(train_args(data, exp, TINY, epochs=2, extra=["--resume", "true"]))
    assert "is unusable" in caplog.text and "previous complete checkpoint" in caplog.text
    assert (exp / "checkpoint.pth.corrupt").exists()
    _assert_same_training_state(_ckpt(ck), _ckpt(straight / "checkpoint.pth"))
    assert os.readlink(exp / "latest.pth") == "2epoch.pth"


def test_kill_while_writing_epoch_file(straight, tmp_path):
    """Killed while writing <N>epoch.pth: it is rebuilt from the checkpoint."""
    exp = tmp_path / "exp"
    shutil.copytree(straight, exp, symlinks=True)
    f = exp / "2epoch.pth"
    f.write_bytes(f.read_bytes()[:100])
    (exp / ".2epoch.pth.x1y2.pth").write_bytes(b"partial")  # a temp file left by a kill
    (exp / "3epoch.pth").write_bytes(b"stale")  # an epoch that will be trained again
    assert recover_checkpoints(exp) == 2
    model = torch.load(f, weights_only=True)
    ck = _ckpt(exp / "checkpoint.pth")
    assert all(torch.equal(v, ck["model"][k]) for k, v in model.items())
    assert not (exp / "3epoch.pth").exists() and not (exp / ".2epoch.pth.x1y2.pth").exists()
    assert os.readlink(exp / "latest.pth") == "2epoch.pth"
    assert (exp / "valid.loss.best.pth").resolve().exists()


def test_nan_loss_step_is_skipped_and_counted(tmp_path, caplog):
    data = make_data_dir(tmp_path / "data", PROMPTS, seconds=0.25)
    bad = data / "wavs" / "utt001_mix.wav"  # the 2nd utterance: an Inf sample -> non-finite loss
    x, fs = sf.read(bad, dtype="float32")
    x[100] = np.inf
    sf.write(bad, x, fs, subtype="FLOAT")
    exp = tmp_path / "exp"
    with caplog.at_level(logging.INFO):
        tuss_train.main(train_args(data, exp, TINY, epochs=1, extra=["--batch_size", "1"]))
    counts = re.findall(
        r"epoch 1: (\d+) of (\d+) updates skipped .*?; (\d+) of (\d+) batches had a non-finite loss", caplog.text
    )
    assert counts == [("1", "4", "1", "4")], caplog.text[-2000:]
    ck = _ckpt(exp / "checkpoint.pth")
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    steps = {float(s["step"]) for s in ck["optimizers"][0]["state"].values()}
    assert steps == {3.0}  # 4 batches, the non-finite one did not step AdamW
    assert np.isfinite(ck["reporter"]["stats"][1]["train"]["loss"])


def test_inference_rerun_completes_only_missing(model_dir, tmp_path, capsys):
    data = make_data_dir(
        tmp_path / "data", [["speech", "sfxbg"], ["sfx", "sfx"], ["speech", "sfxbg"]], fs=16000, seconds=0.1
    )
    out = tmp_path / "enh"
    args = ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out)]
    assert tuss_inference.main(args) == 0
    files = sorted((out / "wavs").rglob("*.wav"))
    assert len(files) == 6
    stamp = {f: f.stat().st_mtime_ns for f in files}
    # an interruption after the first output of utt001 (the second never appeared)
    (out / "wavs" / "2" / "utt001.wav").unlink()
    (out / "spk2.scp").unlink()
    capsys.readouterr()
    assert tuss_inference.main(args) == 0
    assert "separated 1, already done 2" in capsys.readouterr().out
    for f in files:
        assert f.exists()
        if "utt001" not in f.name:
            assert f.stat().st_mtime_ns == stamp[f], f  # not redone
    assert len((out / "spk2.scp").read_text().splitlines()) == 3


def test_inference_reports_bad_audio_in_one_line(model_dir, tmp_path, capsys):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["sfx", "sfx"]], fs=16000, seconds=0.1)
    (data / "wavs" / "utt000_mix.wav").write_bytes(b"not audio")
    out = tmp_path / "enh"
    rc = tuss_inference.main(["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert [e for e in err if e.startswith("tuss_inference: error:")] == err and len(err) == 1, err
    assert "utt000" in err[0] and "utt000_mix.wav" in err[0] and "not a readable audio file" in err[0]
    assert (out / "wavs" / "1" / "utt001.wav").exists()  # the good one is done (a re-run skips it)
    assert not (out / "spk1.scp").exists()
