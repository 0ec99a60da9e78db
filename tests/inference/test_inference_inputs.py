# SPDX-License-Identifier: Apache-2.0
"""Inputs that used to hang, run for minutes or end in a traceback: FIFOs, tiny or
infinite segments, transposed arrays, odd sampling rates, tensors with gradients,
empty lists and pipe entries given to tuss_inference."""

import math
import os
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from tuss_plugin.bin import separate, tuss_inference
from tuss_plugin.inference import SeparateAudio

from datagen import make_data_dir

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPTS = ["speech", "sfxbg"]
MAX_CHANNELS = 64  # the documented limit of SeparateAudio.__call__


@pytest.fixture(scope="module")
def sep(model_dir):
    return SeparateAudio.from_pretrained(model_dir)


def _noise(n, ch=None, seed=0):
    shape = (n,) if ch is None else (n, ch)
    return np.random.default_rng(seed).uniform(-0.3, 0.3, size=shape).astype(np.float32)


def _one_error_line(capsys, prog="tuss-separate"):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    return err[0]


# ------------------------------------------------------------------ tuss-separate: FIFO, segment bounds
def test_fifo_input_is_refused_without_blocking(model_dir, tmp_path, capsys):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    result = {}
    run = threading.Thread(
        target=lambda: result.setdefault(
            "rc",
            separate.main(["-m", str(model_dir), "-p", *PROMPTS, "-o", str(tmp_path / "out"), "--quiet", str(fifo)]),
        )
    )
    run.start()
    run.join(timeout=60)
    blocked = run.is_alive()
    if blocked:  # release the reader that waits for a writer, then fail
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        run.join()
    assert not blocked, "tuss-separate blocked on a FIFO"
    assert result["rc"] == 1
    line = _one_error_line(capsys)
    assert str(fifo) in line and "not a regular file" in line and "FIFO" in line


@pytest.mark.parametrize(
    "extra,msg",
    [
        (["--segment", "0.001"], "shorter than one STFT window"),
        (["--segment", "0.2", "--hop", "0.0005"], "shorter than one STFT frame shift"),
        (["--segment", "inf"], "--segment must be a finite number of seconds"),
    ],
)
def test_segment_bounds(model_dir, tmp_path, capsys, extra, msg):
    inp = tmp_path / "a.wav"
    sf.write(inp, _noise(300), 16000)
    rc = separate.main(["-m", str(model_dir), "-p", *PROMPTS, "-o", str(tmp_path / "out"), "--quiet", *extra, str(inp)])
    line = _one_error_line(capsys)
    assert rc == 1 and msg in line, line
    if "STFT" in msg:  # the bound is stated in seconds, from the model's own window
        assert "2048 samples at 48000 Hz" in line or "512 samples at 48000 Hz" in line, line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.wav"))


def test_segment_bounds_in_the_api(sep):
    win = 2048 / 48000
    with pytest.raises(ValueError, match="shorter than one STFT window"):
        SeparateAudio(sep.model, sep.config, segment_size=win * 0.9)
    with pytest.raises(ValueError, match="finite"):
        SeparateAudio(sep.model, sep.config, segment_size=math.inf)
    with pytest.raises(ValueError, match="finite"):
        SeparateAudio(sep.model, sep.config, segment_size=1.0, hop_size=math.nan)
    ok = SeparateAudio(sep.model, sep.config, segment_size=win * 1.01)  # the bound itself is accepted
    assert ok(_noise(4000), 48000, PROMPTS).shape == (2, 4000)


# ------------------------------------------------------------------ the Python API: layout, rate, tensors
@pytest.mark.parametrize("shape", [(2, 1000), (1, 1000), (100, MAX_CHANNELS + 1)])
def test_api_refuses_channel_first_or_too_many_channels(sep, shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(ValueError) as e:
        sep(x, 16000, PROMPTS)
    msg = str(e.value)
    assert "\n" not in msg and "(n_samples, n_channels)" in msg and str(shape) in msg, msg
    assert f"at most {MAX_CHANNELS} channels" in msg


def test_api_accepts_few_samples_with_channels(sep):
    assert sep(_noise(3, 2), 16000, PROMPTS).shape == (2, 3, 2)  # 3 samples of 2 channels


@pytest.mark.parametrize(
    "fs,msg",
    [
        (True, "invalid sampling rate True"),
        (np.bool_(True), "invalid sampling rate True"),
        (1e9, "at most 768000 Hz"),
        ("16000", "invalid sampling rate '16000'"),
    ],
)
def test_api_refuses_bad_rates(sep, fs, msg):
    with pytest.raises(ValueError) as e:
        sep(_noise(1600), fs, PROMPTS)
    assert msg in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_api_input_shorter_than_one_model_sample(sep):
    with pytest.raises(ValueError, match="shorter than one sample at the model's rate"):
        sep(_noise(1), 768000, PROMPTS)


def test_api_takes_tensors_with_gradients(sep):
    x = _noise(1600)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    got = sep(t, 16000, PROMPTS)
    assert isinstance(got, np.ndarray) and got.shape == (2, 1600)
    np.testing.assert_array_equal(got, sep(x, 16000, PROMPTS))
    assert sep(t.detach().to(torch.bfloat16), 16000, PROMPTS).shape == (2, 1600)


# ------------------------------------------------------------------ tuss_inference: lists
@pytest.fixture
def data(tmp_path):
    return make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["sfx", "sfx"]], fs=16000, seconds=0.1)


def _infer(model_dir, data, out, *extra):
    return tuss_inference.main(["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out), *extra])


def test_empty_key_file_is_an_error(model_dir, data, tmp_path, capsys):
    keys = tmp_path / "keys.scp"
    keys.write_text("\n")
    assert _infer(model_dir, data, tmp_path / "enh", "--key_file", str(keys)) == 1
    line = _one_error_line(capsys, "tuss_inference")
    assert str(keys) in line and "no utterances" in line


def test_empty_wav_scp_is_an_error(model_dir, data, tmp_path, capsys):
    (data / "wav.scp").write_text("")
    assert _infer(model_dir, data, tmp_path / "enh") == 1
    line = _one_error_line(capsys, "tuss_inference")
    assert str(data / "wav.scp") in line and "no utterances" in line


def test_key_file_is_read_as_a_list(model_dir, data, tmp_path, capsys):
    keys = tmp_path / "keys.scp"
    keys.write_text("utt000 x\nutt001\nutt000\n")
    assert _infer(model_dir, data, tmp_path / "enh", "--key_file", str(keys)) == 1
    line = _one_error_line(capsys, "tuss_inference")
    assert f"{keys}:3: duplicate key utt000" in line


def test_pipe_entry_is_named_and_never_run(model_dir, data, tmp_path, capsys):
    """Only recipe stage 2 (format_data) runs pipe entries; inference refuses them
    without running them and says to run stage 2 first."""
    marker = tmp_path / "ran"
    (data / "wav.scp").write_text(f"utt000 touch {marker} |\nutt001 {data / 'wavs' / 'utt001_mix.wav'}\n")
    assert _infer(model_dir, data, tmp_path / "enh") == 1
    line = _one_error_line(capsys, "tuss_inference")
    assert line.startswith(f"tuss_inference: error: utt000: {data / 'wav.scp'}: 'touch {marker} |' is a pipe command")
    assert "only recipe stage 2 (python -m tuss_plugin.bin.format_data)" in line and "run it on this data dir" in line
    assert not marker.exists()
    assert (tmp_path / "enh" / "wavs" / "1" / "utt001.wav").exists()  # the others are still separated
