# SPDX-License-Identifier: Apache-2.0
"""utils/espnet_to_tuss_data.py: an ESPnet enh1 data dir (wav.scp, spk1.scp,
spk2.scp, noise1.scp, no utt2prompts) becomes a TUSS data dir that
utils/validate_data_dir.py accepts; --spk_num and --use_noise_ref mean what
they mean in enh.sh; dereverberation references are refused in one line."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT

CONVERT = ROOT / "utils" / "espnet_to_tuss_data.py"
VALIDATE = ROOT / "utils" / "validate_data_dir.py"


@pytest.fixture
def espnet_dir(tmp_path):
    d = tmp_path / "tr"
    (tmp_path / "wav").mkdir()
    d.mkdir()
    lists = {n: [] for n in ("wav.scp", "spk1.scp", "spk2.scp", "noise1.scp", "utt2spk")}
    rng = np.random.default_rng(0)
    for i in range(2):
        utt = f"s{i}_mix"
        for name in ("wav.scp", "spk1.scp", "spk2.scp", "noise1.scp"):
            path = tmp_path / "wav" / f"{utt}_{name.split('.')[0]}.wav"
            sf.write(path, (0.1 * rng.standard_normal(800)).astype(np.float32), 8000)
            lists[name].append(f"{utt} {path}")
        lists["utt2spk"].append(f"{utt} s{i}")
    for name, rows in lists.items():
        (d / name).write_text("\n".join(rows) + "\n")
    return d


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_converted_dir_is_valid_with_noise_as_sfxbg(espnet_dir, tmp_path):
    out = tmp_path / "tuss_tr"
    r = _run(CONVERT, "--use_noise_ref", "true", espnet_dir, out)
    assert r.returncode == 0, r.stderr
    assert "prompts speech speech sfxbg" in r.stdout
    assert (out / "utt2prompts").read_text().splitlines()[0] == "s0_mix speech speech sfxbg"
    assert (out / "spk3.scp").read_text() == (espnet_dir / "noise1.scp").read_text()
    assert (out / "spk1.scp").read_text() == (espnet_dir / "spk1.scp").read_text()
    v = _run(VALIDATE, "--check-audio", out)
    assert v.returncode == 0, v.stdout + v.stderr


def test_spk_num_and_in_place(espnet_dir, tmp_path):
    # enh.sh's default: no noise reference; one speaker of two, into another dir
    r = _run(CONVERT, "--spk_num", "1", espnet_dir, tmp_path / "one")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "one" / "utt2prompts").read_text().split("\n")[0] == "s0_mix speech"
    assert not (tmp_path / "one" / "spk2.scp").exists()
    # in place, fewer speakers than lists would leave spk2.scp read as a reference
    r = _run(CONVERT, "--spk_num", "1", espnet_dir)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "spk2.scp" in r.stderr
    r = _run(CONVERT, espnet_dir)
    assert r.returncode == 0, r.stderr
    assert _run(VALIDATE, espnet_dir).returncode == 0
    r = _run(CONVERT, espnet_dir)
    assert r.returncode == 1 and "utt2prompts: exists already" in r.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: (d / "dereverb1.scp").write_text((d / "spk1.scp").read_text()), "dereverb1.scp: dereverberation"),
        (lambda d: (d / "noise1.scp").unlink(), "noise1.scp: missing (--use_noise_ref true)"),
        (lambda d: (d / "spk2.scp").write_text((d / "spk2.scp").read_text().splitlines()[0] + "\n"),
         "spk2.scp: no reference for s1_mix"),
    ],
)  # fmt: skip
def test_refusals_name_the_file(espnet_dir, tmp_path, change, message):
    change(espnet_dir)
    r = _run(CONVERT, "--use_noise_ref", "true", espnet_dir, tmp_path / "out")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr
