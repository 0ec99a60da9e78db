# SPDX-License-Identifier: Apache-2.0
"""benchmark --mode data: throughput of on-the-fly training data on a pool of
the real corpora's formats and rates (figures are not checked for speed)."""

import json

import soundfile as sf
import yaml

from tuss_plugin.bin import benchmark
from tuss_plugin.fileio.pools import read_pool
from tuss_plugin.onthefly import throughput

from conftest import TESTS
from datagen import make_pool


def test_realistic_pool_has_the_corpora_formats(tmp_path):
    dirs = throughput.write_realistic_pool(tmp_path, scale=0.02)
    assert {d.rsplit("_", 1)[-1] for d in dirs} >= {"vctk", "fsd50k", "musdb", "fma"}
    entries = {e.uid: e for d in dirs for e in read_pool(d)}
    vctk = next(e for e in entries.values() if e.uid.startswith("vctk"))
    musdb = next(e for e in entries.values() if e.uid.startswith("musdb"))
    fma = next(e for e in entries.values() if e.uid.startswith("fma"))
    assert sf.info(vctk.path).format == "FLAC" and vctk.fs == 48000
    assert sf.info(musdb.path).channels == 2 and musdb.fs == 44100
    assert sf.info(fma.path).format == "MP3" and fma.num_samples == sf.info(fma.path).frames
    mtime = {d: (tmp_path / d / "wav.scp").stat().st_mtime_ns for d in dirs}
    assert throughput.write_realistic_pool(tmp_path, scale=0.02) == dirs  # kept as it is
    assert mtime == {d: (tmp_path / d / "wav.scp").stat().st_mtime_ns for d in dirs}


def _config(tmp_path, pools=None):
    conf = yaml.safe_load((TESTS / "conf" / "tuss_tiny.yaml").read_text())
    conf["num_workers"] = 3
    if pools is not None:
        conf["onthefly_conf"] = {
            "pools": pools,
            "allowed_prompts": ["speech", "sfx", "sfxbg"],
            "batch_size": 2,
            "num_prompts_weights": {2: 0.5, 3: 0.5},
        }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(conf))
    return str(path)


def test_data_mode_reports_mixtures_per_second(tmp_path, capsys):
    pool = make_pool(tmp_path / "pool", [(p, 16000, 1.0, 1) for p in ("speech", "sfx", "sfxbg") for _ in range(4)])
    argv = ["--mode", "data", "--config", _config(tmp_path, [str(pool)]), "--seconds", "0.5", "--fs", "16000"]
    assert benchmark.main(argv + ["--batches", "3", "--profile"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mode"] == "data" and r["mixtures"] == 6 and r["batch_size"] == 2 and r["fs"] == 16000
    assert r["machine"]["cpu_model"]  # the hardware of the figure
    assert r["mixtures_per_s_per_worker"] > 0 and r["num_workers"] == 3
    assert abs(r["mixtures_per_s_workers"] - 3 * r["mixtures_per_s_per_worker"]) < 0.05
    assert r["profile"] and all(" " in line for line in r["profile"])


def test_data_mode_on_the_realistic_pool_and_errors(tmp_path, capsys):
    config = _config(tmp_path)
    argv = ["--mode", "data", "--config", config, "--seconds", "0.5", "--fs", "16000", "--batches", "2"]
    assert benchmark.main(argv) == 2
    assert "no onthefly_conf.pools; pass --pools or --realistic_pool" in capsys.readouterr().err
    throughput.write_realistic_pool(tmp_path / "real", scale=0.02)  # short files: a fast test
    assert benchmark.main(argv + ["--realistic_pool", str(tmp_path / "real")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mixtures"] == 2 * r["batch_size"] and any(p.endswith("pool_musdb") for p in r["pools"])
