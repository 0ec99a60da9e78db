# SPDX-License-Identifier: Apache-2.0
"""Classes 3-6 of the third reliability probe: weights of the wrong kind,
non-regular files where a text file is read, config values checked as the
command line's, meaningless numbers refused up front."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from tuss_plugin.bin import format_data, separate, tuss_inference
from tuss_plugin.dataprep import format_jobs

from conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")


def _python(code: str, timeout: float = 60):
    """Run ``code`` in a fresh interpreter of this checkout (a FIFO would block the tests themselves)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def _one_error_line(stderr: str, *needles: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert len(lines) == 1, stderr
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


# ------------------------------------------------------------- class 3: weight dtypes
@pytest.mark.parametrize("kind", ["int", "complex"])
def test_weights_that_are_not_real_floats_are_refused_naming_the_key(model_dir, tmp_path, kind):
    from tuss_plugin.inference import SeparateAudio

    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    state = torch.load(d / "model.pth", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim >= 2)
    state[key] = (state[key] * 1000).to(torch.int64) if kind == "int" else state[key].to(torch.complex64)
    torch.save(state, d / "model.pth")
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        SeparateAudio.from_pretrained(str(d))


def test_release_import_refuses_integer_weights(fixture_dir, tmp_path, capsys):
    from tuss_plugin.bin import import_release

    state = torch.load(fixture_dir / "model.pth", weights_only=True)
    flat = state.get("state_dict", state)
    key = next(k for k, v in flat.items() if v.is_floating_point() and v.ndim >= 2)
    flat[key] = flat[key].to(torch.int32)
    torch.save(state, tmp_path / "model.pth")
    rc = import_release.main(
        [
            "--hparams",
            str(fixture_dir / "hparams.yaml"),
            "--checkpoint",
            str(tmp_path / "model.pth"),
            "--outdir",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 1
    _one_error_line(capsys.readouterr().err, key)
    assert not (tmp_path / "o" / "model.pth").exists()


# ------------------------------------------------------------- class 4: non-regular files
def test_fifo_config_of_a_model_dir_is_refused_not_waited_on(model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    (d / "config.yaml").unlink()
    os.mkfifo(d / "config.yaml")
    r = _python(
        "from tuss_plugin.bin import separate; import sys; "
        f"sys.exit(separate.main(['-m', {str(d)!r}, '--list-prompts']))"
    )
    assert r.returncode == 1
    _one_error_line(r.stderr, "config.yaml", "FIFO")


@pytest.mark.parametrize("name", ["wav.scp", "config"])
def test_fifo_lists_and_configs_are_refused(model_dir, tmp_path, name):
    from datagen import make_data_dir

    data = make_data_dir(tmp_path / "data", [["speech"]], seconds=0.25)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(tmp_path / "out")]
    if name == "wav.scp":
        (data / "wav.scp").unlink()
        os.mkfifo(data / "wav.scp")
    else:
        args += ["--config", str(fifo)]
    r = _python(f"from tuss_plugin.bin import tuss_inference as t; import sys; sys.exit(t.main({args!r}))")
    assert r.returncode != 0
    _one_error_line(r.stderr, "FIFO")


# ------------------------------------------------------------- class 5: config values
@pytest.mark.parametrize(
    "text,needle",
    [
        ("eval_mode: Single\n", "Single"),
        ("num_threads: -1\n", "num_threads"),
        ("segment_size: 1e308\n", "segment_size"),
        ("x: !!python/object/apply:os.system ['true']\n", "YAML"),
        ("a plain string\n", "not a config"),
        ("[1, 2]\n", "not a config"),
        ("nonsense_option: 3\n", "nonsense_option"),
        ("prompts: {a: 1}\n", "prompts"),
    ],
)
def test_config_values_pass_the_command_line_checks(tmp_path, capsys, text, needle):
    conf = tmp_path / "inf.yaml"
    conf.write_text(text)
    with pytest.raises(SystemExit) as e:
        tuss_inference.parse_args(["--model", "m", "--data_dir", "d", "--output_dir", "o", "--config", str(conf)])
    assert e.value.code != 0
    _one_error_line(capsys.readouterr().err, str(conf), needle)


def test_missing_config_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tuss_inference.parse_args(
            ["--model", "m", "--data_dir", "d", "--output_dir", "o", "--config", str(tmp_path / "no.yaml")]
        )
    assert e.value.code != 0
    _one_error_line(capsys.readouterr().err, "no.yaml", "no such file")


def test_config_values_apply_and_the_command_line_wins(tmp_path):
    conf = tmp_path / "inf.yaml"
    conf.write_text("segment_size: 6\nhop_size: 3\neval_mode: single\nprompts: [speech, sfxbg]\n")
    base = ["--model", "m", "--data_dir", "d", "--output_dir", "o", "--config", str(conf)]
    a = tuss_inference.parse_args(base)
    assert (a.segment_size, a.hop_size, a.eval_mode, a.prompts) == (6.0, 3.0, "single", ["speech", "sfxbg"])
    b = tuss_inference.parse_args(base + ["--eval_mode", "all", "--segment_size", "4"])
    assert (b.segment_size, b.eval_mode) == (4.0, "all")


def test_yaml_tag_in_enh_inference_config_is_one_line(tmp_path):
    from tuss_plugin.bin.enh_inference import espnet_train_config

    conf = tmp_path / "config.yaml"
    conf.write_text("separator: !!python/name:os.system\n")
    with pytest.raises(ValueError, match="config.yaml"):
        espnet_train_config(str(conf), str(tmp_path / "o"))


# ------------------------------------------------------------- class 6: numbers
def _data(tmp_path, fs=16000):
    from datagen import make_data_dir

    return make_data_dir(tmp_path / "data", [["speech"], ["speech", "sfxbg"]], fs=fs, seconds=0.25)


@pytest.mark.parametrize(
    "opts,needle",
    [
        (["--fs", "0"], "--fs"),
        (["--fs=-16k"], "--fs"),
        (["--fs", "nan"], "--fs"),
        (["--subtype", "BOGUS"], "BOGUS"),
    ],
)
def test_format_data_refuses_meaningless_options_once_up_front(tmp_path, capsys, opts, needle):
    data = _data(tmp_path)
    rc = format_data.main([str(data), str(tmp_path / "dump"), *opts])
    assert rc != 0
    _one_error_line(capsys.readouterr().err, needle)
    assert not (tmp_path / "dump").exists()


def test_format_data_never_starts_more_workers_than_utterances(tmp_path, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    started = []

    class Recording(ProcessPoolExecutor):
        def __init__(self, max_workers=None, *a, **k):
            started.append(max_workers)
            super().__init__(max_workers, *a, **k)

    monkeypatch.setattr(format_jobs, "ProcessPoolExecutor", Recording)  # the jobs of stage 2 start the workers
    data = _data(tmp_path)
    assert format_data.main([str(data), str(tmp_path / "dump"), "--nj", "1000"]) == 0
    assert all(n <= 2 for n in started), started
    with pytest.raises(SystemExit):
        format_data.main([str(data), str(tmp_path / "dump2"), "--nj", "0"])


def test_format_data_refuses_a_7_hz_input(tmp_path, capsys):
    data = _data(tmp_path)
    path = (data / "wav.scp").read_text().split()[1]
    sf.write(path, np.zeros(14, np.float32), 7, subtype="FLOAT")
    rc = format_data.main([str(data), str(tmp_path / "dump"), "--on_error", "stop"])
    assert rc == 1
    assert "7 Hz: expected at least 1000 Hz" in capsys.readouterr().err


def test_separate_refuses_a_7_hz_input_and_huge_segments(model_dir, tmp_path, capsys):
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros(14, np.float32), 7, subtype="FLOAT")
    rc = separate.main(["-m", str(model_dir), "-p", "speech", "-o", str(tmp_path / "o"), "--quiet", str(slow)])
    assert rc == 1
    _one_error_line(capsys.readouterr().err, "slow.wav", "7")
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(800, np.float32), 16000, subtype="FLOAT")
    for seg in ("1e308", "inf", "-1"):
        rc = separate.main(
            ["-m", str(model_dir), "-p", "speech", "-o", str(tmp_path / "o"), "--segment", seg, str(good)]
        )
        assert rc == 1
        _one_error_line(capsys.readouterr().err, "--segment")


def test_num_threads_must_be_positive(capsys):
    with pytest.raises(SystemExit) as e:
        tuss_inference.parse_args(["--model", "m", "--data_dir", "d", "--output_dir", "o", "--num_threads", "-1"])
    assert e.value.code != 0
    assert "--num_threads" in capsys.readouterr().err
