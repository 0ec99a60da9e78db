# SPDX-License-Identifier: Apache-2.0
"""tuss-separate: files in, one file per prompt out, clear errors."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import separate

pytestmark = pytest.mark.usefixtures("one_thread")


def _wav(path, n, fs, ch=1, subtype="PCM_16", seed=0):
    x = np.random.default_rng(seed).uniform(-0.3, 0.3, size=(n, ch)).astype(np.float32)
    sf.write(path, x if ch > 1 else x[:, 0], fs, subtype=subtype)
    return path


@pytest.mark.parametrize("fs,ch,subtype", [(16000, 1, "PCM_16"), (44100, 2, "PCM_24"), (48000, 1, "FLOAT")])
def test_outputs_named_and_shaped(model_dir, tmp_path, fs, ch, subtype):
    inp = _wav(tmp_path / "song.wav", fs // 2, fs, ch, subtype)
    rc = separate.main(
        [
            "--model",
            str(model_dir),
            "--prompts",
            "speech",
            "sfxbg",
            "musicbg",
            "--outdir",
            str(tmp_path / "out"),
            "--quiet",
            str(inp),
        ]
    )
    assert rc == 0
    files = sorted(p.name for p in (tmp_path / "out" / "song").iterdir() if p.name != separate.MANIFEST_NAME)
    assert files == ["1_speech.wav", "2_sfxbg.wav", "3_musicbg.wav"]
    for f in files:
        y, yfs = sf.read(tmp_path / "out" / "song" / f, always_2d=True)
        assert yfs == fs and y.shape == (fs // 2, ch)


def test_repeated_prompts_segments_and_spectrogram(model_dir, tmp_path):
    inp = _wav(tmp_path / "long.flac", 48000 * 3, 48000)
    rc = separate.main(
        [
            "-m",
            str(model_dir),
            "-p",
            "speech",
            "Speech",
            "sfx-mix",
            "--segment",
            "1",
            "--hop",
            "0.5",
            "-o",
            str(tmp_path / "o"),
            "--spectrogram",
            str(inp),
        ]
    )
    assert rc == 0
    d = tmp_path / "o" / "long"
    assert {p.name for p in d.iterdir() if p.name != separate.MANIFEST_NAME} == {
        "1_speech.wav",
        "2_speech.wav",
        "3_sfxbg.wav",
        "spectrogram.png",
    }
    assert (d / "spectrogram.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "case,msg",
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("not_audio", "not a readable audio file"),
        ("empty", "not a readable audio file"),
        ("bad_prompt", "invalid prompt list: unknown prompt 'noise'"),
        ("forbidden", "cannot be combined"),
        ("bad_model", "cannot load model"),
    ],
)
def test_errors_are_one_line_and_write_nothing(model_dir, tmp_path, capsys, case, msg):
    good = _wav(tmp_path / "good.wav", 8000, 16000)
    inp, prompts, model = str(good), ["speech", "sfxbg"], str(model_dir)
    if case == "missing":
        inp = str(tmp_path / "nope.wav")
    elif case == "directory":
        inp = str(tmp_path)
    elif case == "not_audio":
        (tmp_path / "text.wav").write_text("hello, not audio")
        inp = str(tmp_path / "text.wav")
    elif case == "empty":
        (tmp_path / "empty.wav").write_bytes(b"")
        inp = str(tmp_path / "empty.wav")
    elif case == "bad_prompt":
        prompts = ["noise"]
    elif case == "forbidden":
        prompts = ["sfx", "sfxbg"]
    elif case == "bad_model":
        model = str(tmp_path / "no_model")
    rc = separate.main(["-m", model, "-p", *prompts, "-o", str(tmp_path / "out"), "--quiet", str(good), inp])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("tuss-separate: error:") and msg in err[0], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.wav"))


def test_list_prompts(model_dir, capsys):
    assert separate.main(["-m", str(model_dir), "--list-prompts"]) == 0
    assert capsys.readouterr().out.split() == ["speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg"]


def test_console_script_installed(model_dir, tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "tuss-separate")
    inp = _wav(tmp_path / "a.wav", 4000, 16000)
    r = subprocess.run(
        [exe, "-m", str(model_dir), "-p", "speech", "-o", str(tmp_path / "o"), "--quiet", str(inp)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "a" / "1_speech.wav").exists()


def test_second_run_on_the_same_outputs_is_refused(model_dir, tmp_path, capsys):
    from test_stale_outputs import _exit_code, _forked, _long_input, _wait_until

    first = _long_input(tmp_path / "a" / "take.wav", seconds=30.0)  # still running when the second starts
    second = _long_input(tmp_path / "b" / "take.wav", seconds=0.05)  # same stem: same output dir
    out = tmp_path / "out"
    dest = out / "take"
    pid = _forked(
        lambda: separate.main(
            ["-m", str(model_dir), "-p", "speech", "-o", str(out), "--segment", "0.1", "--quiet", str(first)]
        )
    )
    try:
        _wait_until(pid, lambda: dest.is_dir() and any(dest.glob(".1_speech.wav.*")))
        rc = separate.main(["-m", str(model_dir), "-p", "speech", "-o", str(out), "--quiet", str(second)])
    finally:
        os.kill(pid, signal.SIGTERM)
        _exit_code(pid)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert str(dest) in err[0] and "another tuss-separate run is writing" in err[0], err
    assert not (dest / "1_speech.wav").exists()
    # once the first run has ended, the outputs can be written
    assert separate.main(["-m", str(model_dir), "-p", "speech", "-o", str(out), "--quiet", str(second)]) == 0
    assert sf.info(dest / "1_speech.wav").frames == 2400
