# SPDX-License-Identifier: Apache-2.0
"""tuss.sh stage 2 formats a set again when its audio changed under the same
names (e.g. a corpus synthesised again), not only when its lists changed."""

import os
import subprocess

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.kaldi_io import read_scp

from conftest import ROOT
from datagen import make_data_dir


def _stage2(work):
    cmd = ["./tuss.sh", "--stage", "2", "--stop_stage", "2", "--train_set", "test", "--valid_set", "test"]
    cmd += ["--test_sets", "test", "--fs", "8k", "--nj", "1"]
    cmd += ["--train_config", str(ROOT / "egs/mini_tuss/tuss1/conf/tuning/train_tuss_debug.yaml")]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_rewritten_audio_is_formatted_again(tmp_path):
    for name in ("tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils"):
        os.symlink((ROOT / "egs" / "mini_tuss" / "tuss1" / name).resolve(), tmp_path / name)
    data = make_data_dir(tmp_path / "data" / "test", [["speech", "sfxbg"], ["sfx", "sfx"]], fs=8000, seconds=0.25)
    # the set is named three times (train, valid, test): formatted once, then up to date
    assert _stage2(tmp_path).count("test: already formatted") == 2
    assert _stage2(tmp_path).count("test: already formatted") == 3  # nothing changed: nothing to do
    # the same names, new samples (lists unchanged)
    mix_path = read_scp(data / "wav.scp")["utt000"]
    new = np.random.default_rng(1).uniform(-0.1, 0.1, size=2000).astype(np.float32)
    sf.write(mix_path, new, 8000, subtype="FLOAT")
    assert _stage2(tmp_path).count("test: already formatted") == 2
    dumped = read_scp(tmp_path / "dump" / "raw" / "test" / "wav.scp")["utt000"]
    np.testing.assert_allclose(sf.read(dumped, dtype="float32")[0], new, atol=1e-4)


def test_stage3_without_stage2_names_the_missing_list(tmp_path):
    """Stage 3 on sets that stage 2 never formatted: one line naming the list
    and the stage to run (it was a shell test error and a usage message)."""
    for name in ("tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils"):
        os.symlink((ROOT / "egs" / "mini_tuss" / "tuss1" / name).resolve(), tmp_path / name)
    cmd = ["./tuss.sh", "--stage", "3", "--stop_stage", "3", "--train_set", "tr", "--valid_set", "cv"]
    cmd += ["--test_sets", "tt", "--fs", "8k", "--nj", "1"]
    cmd += ["--train_config", str(ROOT / "egs/mini_tuss/tuss1/conf/tuning/train_tuss_debug.yaml")]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert err[-1] == "./tuss.sh: stage 3: dump/raw/cv/wav.scp not found: run stage 2 for cv first (--stage 2)", err
    assert "integer expression" not in r.stderr and "usage:" not in r.stderr
    assert not (tmp_path / "exp").exists() or not any((tmp_path / "exp").rglob("*.scp"))


def test_stage3_splits_with_different_numbers_of_references(tmp_path):
    """Stage 3 with two jobs whose splits hold different numbers of references:
    ESPnet's collect_stats lists the keys of a split's last batch only, so the
    join stopped on a missing speech_ref3_shape (the first split ends with 4
    references, the second has 2) or left out the shapes of references its
    last batch lacked. Every reference's shapes are kept now."""
    for name in ("tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils"):
        os.symlink((ROOT / "egs" / "mini_tuss" / "tuss1" / name).resolve(), tmp_path / name)
    lists = [["speech", "sfxbg"], ["drums", "bass", "vocals", "other"], ["speech", "sfxbg"], ["sfx", "sfx"]]
    make_data_dir(tmp_path / "data" / "tr", lists, 8000, 0.25)
    cmd = ["./tuss.sh", "--stage", "2", "--stop_stage", "3", "--train_set", "tr", "--valid_set", "tr"]
    cmd += ["--test_sets", "tr", "--fs", "8k", "--nj", "2"]
    cmd += ["--train_config", str(ROOT / "egs/mini_tuss/tuss1/conf/tuning/train_tuss_debug.yaml")]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stats = tmp_path / "exp" / "tuss_stats_tr_8k"
    for mode in ("train", "valid"):
        shapes = {k: read_scp(stats / mode / f"speech_ref{k}_shape") for k in (1, 2, 3, 4)}
        assert [len(shapes[k]) for k in (1, 2, 3, 4)] == [4, 4, 1, 1], mode
        assert shapes[4] == {"utt001": "2000"}
