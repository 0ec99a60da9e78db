# SPDX-License-Identifier: Apache-2.0
"""Training source pools (tuss_plugin.dataprep.*) on fake corpus trees in the real layouts."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.dataprep import common
from tuss_plugin.dataprep.pools import (
    build_pools,
    demand,
    fma,
    fsd50k,
    librivox,
    moisesdb,
    musdb_sad,
    pool,
    sad,
    vctk,
    wham_noise,
    wsj0,
)
from tuss_plugin.fileio.pools import PoolEntry, read_pool, write_pool
from tuss_plugin.utils.errors import DataPrepError

import fake_train_corpora as fake
from conftest import ROOT  # noqa: E402


def _by_uid(entries):
    return {e.uid: e for e in entries}


def _no_audio_reads(monkeypatch):
    """Make any audio header/sample read fail: an up-to-date pool must not touch audio."""

    def boom(*a, **k):
        raise AssertionError("audio read on an up-to-date pool")

    monkeypatch.setattr(sf, "info", boom)
    monkeypatch.setattr(sf, "read", boom)


# ---------------------------------------------------------------- pool format


def test_pool_roundtrip_and_checks(tmp_path):
    d = tmp_path / "pool_x"
    entries = [
        PoolEntry("b_1", "/data/My Music/A & B/drums_0.wav", "drums", 44100, 352800),
        PoolEntry("a_1", "/x/a.wav", "speech", 16000, 100),
    ]
    write_pool(d, entries, key="k1")
    assert (d / "wav.scp").read_text().splitlines() == ["a_1 /x/a.wav", "b_1 /data/My Music/A & B/drums_0.wav"]
    assert (d / "utt2prompt").read_text() == "a_1 speech\nb_1 drums\n"
    assert (d / "utt2fs").read_text() == "a_1 16000\nb_1 44100\n"
    assert (d / "utt2num_samples").read_text() == "a_1 100\nb_1 352800\n"
    assert read_pool(d) == sorted(entries, key=lambda e: e.uid)
    assert pool.pool_is_current(d, "k1") and not pool.pool_is_current(d, "k2")
    with pytest.raises(DataPrepError, match="duplicate uid"):
        write_pool(d, entries + [entries[0]])
    with pytest.raises(DataPrepError, match="uid a: invalid prompt name 'no.ise'"):
        write_pool(d, [PoolEntry("a", "/a.wav", "no.ise", 8000, 1)])
    with pytest.raises(DataPrepError, match="whitespace"):
        write_pool(d, [PoolEntry("a b", "/a.wav", "sfx", 8000, 1)])
    with pytest.raises(DataPrepError, match="empty"):
        write_pool(d, [])
    assert {e.pool for e in read_pool(d)} == {str(d)}
    (d / "utt2fs").write_text("a_1 16000\n")
    with pytest.raises(DataPrepError, match="utt2fs: no entry for b_1"):
        read_pool(d)
    (d / "utt2fs").write_text("a_1 16000\nb_1 44100\nc_1 8000\n")
    with pytest.raises(DataPrepError, match="utt2fs: c_1 is not listed in"):
        read_pool(d)
    for bad in ("44.1k", "0"):
        (d / "utt2fs").write_text(f"a_1 16000\nb_1 {bad}\n")
        with pytest.raises(DataPrepError, match=f"utt2fs: b_1: expected a positive integer, got '{bad}'"):
            read_pool(d)
    (d / "utt2fs").write_text("a_1 16000\nb_1 44100\n")
    (d / "utt2prompt").write_text("a_1 speech\nb_1 no=ise\n")
    with pytest.raises(DataPrepError, match="utt2prompt: b_1: invalid prompt name 'no=ise'"):
        read_pool(d)
    # categories beyond the paper's eight (a prompt added to a trained model)
    (d / "utt2prompt").write_text("a_1 speech\nb_1 Bell\n")
    assert [e.prompt for e in read_pool(d)] == ["speech", "bell"]
    assert (
        common.safe_id("musdb", "Johnny Lokke - Promises & Lies", "bass", "0")
        == "musdb_Johnny_Lokke_-_Promises_Lies_bass_0"
    )


def test_window_starts():
    assert pool.window_starts(7, 8, 4) == []
    assert pool.window_starts(8, 8, 4) == [0]
    assert pool.window_starts(16, 8, 4) == [0, 4, 8]
    assert pool.window_starts(19, 8, 4) == [0, 4, 8]


# ---------------------------------------------------------------- SAD (BSRNN)


def _square(n, amp):
    return (amp * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)).astype(np.float32)


def test_sad_chunk_count_rule():
    fs = 160  # 8 s window = 1280 samples, 16 chunks of 80
    win = 8 * fs
    for active_chunks, kept in ((8, True), (7, False), (0, False)):
        x = np.zeros(win, np.float32)
        x[: active_chunks * win // 16] = _square(active_chunks * win // 16, 1.0)
        starts, n = sad.detect(x, fs)
        assert n == 1
        assert (starts == [0]) is kept, active_chunks
    # all 16 chunks active: chunk powers must exceed the file's 15th percentile strictly,
    # so equal powers give nothing above it while rising powers give 13 chunks above it
    assert sad.detect(_square(win, 1.0), fs)[0] == []
    ramp = _square(win, 1.0) * np.repeat(np.linspace(0.5, 1.0, 16), win // 16).astype(np.float32)
    assert sad.detect(ramp, fs)[0] == [0]


def test_sad_windows_hop_and_tail():
    fs = 100
    # 20 s: windows at 0, 4, 8, 12 s; active 0-6 s -> window 0 has 12/16 active chunks,
    # window 4 s has 4/16, later windows none
    x = np.zeros((20 * fs, 2), np.float32)  # stereo
    x[: 6 * fs, 1] = _square(6 * fs, 0.5)  # active on channel 1 only: power is summed over channels
    starts, n = sad.detect(x, fs)
    assert n == 4 and starts == [0]


def test_sad_percentile_and_thresholds():
    fs, win = 160, 1280
    cfg = sad.SADConfig(hop_seconds=8.0)  # non-overlapping windows
    # loud window (power 1) then quiet window (power 0.01 > min_thres): the 15th percentile
    # of the file's chunk powers is 0.01, so only the loud window has chunks above it
    x = np.concatenate([_square(win, 1.0), _square(win, 0.1)])
    starts, n = sad.detect(x, fs, cfg)
    assert n == 2 and starts == [0]
    # half-active window at power 4e-4: below MUSDB's min_thres 1e-3, above MoisesDB's 1e-5
    y = np.zeros(win, np.float32)
    y[: win // 2] = _square(win // 2, 0.02)
    assert sad.detect(y, fs, sad.SADConfig(**sad.MUSDB_SAD))[0] == []
    assert sad.detect(y, fs, sad.SADConfig(**sad.MOISESDB_SAD))[0] == [0]
    # shorter than one window: nothing tested
    assert sad.detect(np.ones(win - 1, np.float32), fs) == ([], 0)


def test_sad_file_writes_normalised_windows_and_skips_silence(tmp_path):
    fs = 16000
    cfg = sad.SADConfig(window_seconds=1.0, hop_seconds=0.5)
    x = fake.sad_signal(fs, 2.0, [(0, 1.0)], seed=1) * 0.25  # stereo, active in the first second
    src = tmp_path / "Some Track" / "bass.wav"
    src.parent.mkdir()
    sf.write(src, x, fs, subtype="FLOAT")
    items = sad.sad_file(src, tmp_path / "out", cfg)
    # windows at 0, 0.5, 1.0 s: 16, 8, 0 active chunks
    assert [Path(i["path"]).name for i in items] == ["bass_0.wav", "bass_1.wav"]
    assert all(Path(i["path"]).parent == tmp_path / "out" / "data" / "Some Track" for i in items)
    y, fs2 = sf.read(items[1]["path"])
    assert fs2 == fs and y.shape == (fs, 2)
    peak = np.max(np.abs(x))
    np.testing.assert_allclose(y, x[fs // 2 : fs // 2 + fs] / peak, atol=1e-4)
    # the manifest makes a re-run read no audio
    mtime = os.path.getmtime(items[0]["path"])
    assert sad.sad_file(src, tmp_path / "out", cfg) == items
    assert os.path.getmtime(items[0]["path"]) == mtime
    zero = tmp_path / "Some Track" / "vocals.wav"
    sf.write(zero, np.zeros((3 * fs, 2)), fs)
    assert sad.sad_file(zero, tmp_path / "out", cfg) == []


# ---------------------------------------------------------------- VCTK


def test_vctk_pool(tmp_path, monkeypatch):
    root = tmp_path / "VCTK-Corpus-0.92"
    exp = fake.make_vctk(root)
    d = tmp_path / "data" / "pool_vctk"
    entries = vctk.build(root, d)
    assert [e.uid for e in entries] == exp["uids"]
    assert {e.prompt for e in entries} == {"speech"} and {e.fs for e in entries} == {48000}
    assert all(e.path.endswith("_mic1.flac") for e in entries)
    assert not any(s in e.uid for e in entries for s in vctk.EXCLUDED_SPEAKERS)
    assert read_pool(d) == entries
    before = (d / "wav.scp").read_text()
    _no_audio_reads(monkeypatch)
    assert vctk.build(root, d) == entries
    assert (d / "wav.scp").read_text() == before
    with pytest.raises(DataPrepError, match=r"^VCTK=.*missing wav48_silence_trimmed"):
        vctk.build(tmp_path / "data", tmp_path / "p")
    with pytest.raises(DataPrepError, match="VCTK is not set"):
        vctk.build("", tmp_path / "p")


# ---------------------------------------------------------------- WSJ0


def test_wsj0_pool_sphere(tmp_path):
    root = tmp_path / "wsj0"
    exp = fake.make_wsj0(root)
    entries = wsj0.build(root, exp["mix_list"], tmp_path / "pool_wsj0", tmp_path / "local")
    assert [e.uid for e in entries] == exp["uids"]
    assert {e.fs for e in entries} == {16000} and {e.prompt for e in entries} == {"speech"}
    paths = _by_uid(entries)
    assert paths["wsj0_02cc0201"].path.endswith("02cc0201.WV1")  # extension matched case-insensitively
    assert "/11-2.1/wsj0/si_tr_s/20g/" in paths["wsj0_20ga010m"].path  # CD folder found by scanning
    assert sf.info(paths["wsj0_01to030v"].path).frames == paths["wsj0_01to030v"].num_samples
    with pytest.raises(DataPrepError, match="WSJ0_2MIX_TR"):
        wsj0.build(root, tmp_path / "nope.txt", tmp_path / "p2", tmp_path / "local", force=True)


def test_wsj0_shorten_needs_sph2pipe(tmp_path, monkeypatch):
    root = tmp_path / "wsj0"
    exp = fake.make_wsj0(root, shorten=True)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DataPrepError, match=r"shorten-compressed NIST SPHERE.*sph2pipe on PATH.*sph2pipe -f wav"):
        wsj0.build(root, exp["mix_list"], tmp_path / "pool", tmp_path / "local")
    monkeypatch.undo()
    # a stand-in sph2pipe on PATH: the compressed file is converted into out_dir
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "sph2pipe"
    tool.write_text(
        f"#!{sys.executable}\n"
        "import sys, numpy as np, soundfile as sf\n"
        "_, _, _, src, dst = sys.argv\n"
        "data = np.frombuffer(open(src, 'rb').read()[1024:], dtype='<i2')\n"
        "sf.write(dst, data, 16000, format='WAV', subtype='PCM_16')\n"
    )
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    entries = wsj0.build(root, exp["mix_list"], tmp_path / "pool", tmp_path / "local")
    conv = _by_uid(entries)["wsj0_20ga010n"]
    assert conv.path == str(tmp_path / "local" / "11-2.1" / "wsj0" / "si_tr_s" / "20g" / "20ga010n.wav")
    assert conv.fs == 16000 and conv.num_samples == (exp["files"]["20ga010n"].stat().st_size - 1024) // 2


def test_wsj0_converted_merged_tree(tmp_path):
    src = tmp_path / "wsj0"
    exp = fake.make_wsj0(src)
    conv = tmp_path / "wsj0_wav"
    for f in src.rglob("*"):
        if f.suffix.lower() == ".wv1":
            rel = f.relative_to(src)
            out = conv / Path(*rel.parts[1:]).with_suffix(".wav")  # CD folders merged, as ESPnet does
            out.parent.mkdir(parents=True, exist_ok=True)
            x, fs = sf.read(f)
            sf.write(out, x, fs)
    entries = wsj0.build(conv, exp["mix_list"], tmp_path / "pool", tmp_path / "local")
    assert [e.uid for e in entries] == exp["uids"] and all(e.path.endswith(".wav") for e in entries)


# ---------------------------------------------------------------- LibriVox (URGENT)


def test_librivox_pool(tmp_path, monkeypatch):
    root = tmp_path / "librivox"
    exp = fake.make_librivox(root)
    out = tmp_path / "local" / "librivox"
    d = tmp_path / "pool_librivox"
    entries = librivox.build(root, d, out)
    got = {e.uid: e.fs for e in entries}
    assert got == exp["kept"]
    for e in entries:
        assert e.prompt == "speech"
        assert abs(e.num_samples - exp["seconds"] * e.fs) <= 1
        assert sf.info(e.path).samplerate == e.fs
        if e.uid in exp["kept_native"]:
            assert str(root) in e.path and "resampled" not in e.path  # already at its rate: path kept
        else:
            assert e.path.startswith(str(out / "resampled" / "00"))  # derived audio outside the corpus
    assert not any(p.name == "resampled" for p in root.rglob("*"))  # nothing written into the corpus
    assert (out / "resampled.scp").is_file() and (out / "vad_fraction").is_file()
    _no_audio_reads(monkeypatch)
    assert librivox.build(root, d, out) == entries
    monkeypatch.undo()
    with pytest.raises(DataPrepError, match=r"^LIBRIVOX_URGENT=.*missing dns5_fullband"):
        librivox.build(tmp_path, tmp_path / "p", out)
    (root / "datafiles" / librivox.DNSMOS_JSON).unlink()
    with pytest.raises(DataPrepError, match="dns5_clean_read_speech_resampled_dnsmos.json.gz not found"):
        librivox.build(root, tmp_path / "p", out)


def test_librivox_rules():
    assert [librivox.target_rate(b) for b in (3900, 4000, 4001, 11025, 11026, 12000, 22050, 23000, 24001)] == [
        8000,
        8000,
        16000,
        22050,
        24000,
        24000,
        44100,
        48000,
        48000,
    ]
    fs = 16000
    x = fake.source("speech", fs, fs, np.random.default_rng(0)) * 3
    assert librivox.speech_fraction(x, fs) >= 0.2
    assert librivox.speech_fraction(np.zeros(fs, np.float32), fs) == 0.0
    # 22.05 kHz is analysed at 16 kHz (webrtcvad has no 22.05 kHz mode)
    y = fake.source("speech", 22050, 22050, np.random.default_rng(1)) * 3
    assert librivox.speech_fraction(y, 22050) >= 0.2


# ---------------------------------------------------------------- FSD50K


def test_fsd50k_pool(tmp_path, monkeypatch):
    root = tmp_path / "fsd50k"
    exp = fake.make_fsd50k(root, bg_seconds=1.0)
    d = tmp_path / "pool_fsd50k"
    entries = fsd50k.build(root, d, bg_seconds=exp["bg_seconds"])
    assert {e.uid: e.prompt for e in entries} == exp["expected"]
    assert {e.fs for e in entries} == {44100}
    _no_audio_reads(monkeypatch)
    assert fsd50k.build(root, d, bg_seconds=exp["bg_seconds"]) == entries
    monkeypatch.undo()
    (root / "ontology.json").unlink()
    with pytest.raises(DataPrepError, match="ontology.json not found.*FSD50K_ONTOLOGY"):
        fsd50k.build(root, tmp_path / "p")
    with pytest.raises(DataPrepError, match=r"^FSD50K=.*no such directory.*FSD50K.dev_audio"):
        fsd50k.build(tmp_path / "p", tmp_path / "p")


def test_fsd50k_rules_paper_defaults(tmp_path):
    # the paper's 8 s border on metadata
    assert fsd50k.classify(1, 7.99) == "sfx"
    assert fsd50k.classify(1, 8.0) == "sfxbg"
    assert fsd50k.classify(3, 8.0) == "sfxbg"
    assert fsd50k.classify(2, 7.99) is None
    assert fsd50k.label_count("") == 1 and fsd50k.label_count(None) == 1
    assert fsd50k.label_count("Bark") == 1 and fsd50k.label_count("Bark,Dog") == 2
    fake.make_ontology(tmp_path / "o.json")
    import json

    onto = json.loads((tmp_path / "o.json").read_text())
    desc = fsd50k.descendants(onto, fsd50k.EXCLUDED_ANCESTORS)
    assert {"/m/09x0r", "/m/05zppz", "/m/01b_21", "/m/0l15bq", "/m/04szw", "/m/0342h"} <= desc
    assert not desc & {"/m/09l8g", "/m/04rlf", "/m/0k65p", "/m/05tny_"}
    # join on fname, not row position
    dev = [{"fname": "1", "mids": "/m/05tny_", "split": "train"}, {"fname": "2", "mids": "/m/05tny_", "split": "train"}]
    coll = [{"fname": "2", "labels": "A,B"}, {"fname": "1", "labels": "A"}]
    assert fsd50k.select(dev, coll, desc) == [("1", 1), ("2", 2)]


# ---------------------------------------------------------------- WHAM! noise 48 kHz


def test_wham_noise_pool(tmp_path, monkeypatch):
    root = tmp_path / "wham_noise"
    exp = fake.make_wham_noise(root)
    out = tmp_path / "local" / "wham_noise"
    d = tmp_path / "pool_wham_noise"
    entries = wham_noise.build(root, d, out)
    uids = [e.uid for e in entries]
    # Train rows only; 8.5 s -> 1 window, 16.2 s -> 3 windows (0, 4, 8 s), 5 s -> none
    assert uids == ["whamnoise_tr_a_00_000", "whamnoise_tr_b_01_000", "whamnoise_tr_b_01_001", "whamnoise_tr_b_01_002"]
    fs = exp["fs"]
    assert all(e.fs == fs and e.num_samples == 8 * fs and e.prompt == "sfxbg" for e in entries)
    e = _by_uid(entries)["whamnoise_tr_b_01_002"]
    assert e.path == str(out / "tr_b_01" / "002.wav")
    seg, _ = sf.read(e.path, dtype="int16")
    src, _ = sf.read(root / "high_res_wham" / "audio" / "tr_b_01.wav", dtype="int16")
    assert seg.shape == (8 * fs, 2)
    np.testing.assert_array_equal(seg, src[8 * fs : 16 * fs])  # bit-exact, channels kept
    assert not (root / "high_res_wham" / "high_res_wham_segment").exists()
    _no_audio_reads(monkeypatch)
    assert wham_noise.build(root, d, out) == entries
    # manifests make even a forced rebuild audio-free
    assert wham_noise.build(root, d, out, force=True) == entries
    monkeypatch.undo()
    with pytest.raises(DataPrepError, match=r"^WHAM_NOISE=.*missing high_res_wham/audio"):
        wham_noise.build(tmp_path / "local", tmp_path / "p", out)


# ---------------------------------------------------------------- DEMAND


def test_demand_pool(tmp_path):
    root = tmp_path / "demand"
    fake.make_demand(root, seconds=12.5)
    out = tmp_path / "local" / "demand"
    entries = demand.build(root, tmp_path / "pool_demand", out)
    envs = sorted({e.uid.split("_")[1] for e in entries})
    assert envs == sorted(demand.TRAIN_ENVIRONMENTS) and len(envs) == 13
    assert not set(envs) & set(demand.TEST_ENVIRONMENTS)
    assert len(entries) == 13 * 2  # 12.5 s -> windows at 0 and 4 s
    e = _by_uid(entries)["demand_NPARK_001"]
    assert e.path == str(out / "NPARK_001.wav") and e.fs == 48000 and e.num_samples == 8 * 48000
    seg, _ = sf.read(e.path, dtype="int16")
    src, _ = sf.read(root / "NPARK" / "ch01.wav", dtype="int16")
    np.testing.assert_array_equal(seg, src[4 * 48000 : 12 * 48000])
    with pytest.raises(DataPrepError, match=r"^DEMAND=.*ch01.wav"):
        demand.build(tmp_path / "local", tmp_path / "p", out)


# ---------------------------------------------------------------- MUSDB18-HQ + SAD


def test_musdb_sad_pool(tmp_path, monkeypatch):
    root = tmp_path / "musdb18hq"
    fake.make_musdb(root, seconds=3.0)
    out = tmp_path / "local" / "musdb_sad"
    d = tmp_path / "pool_musdb_sad"
    # 1 s windows, 0.5 s hop on 3 s stems -> 5 windows per stem
    entries = musdb_sad.build(root, d, out, window_seconds=1.0, hop_seconds=0.5)
    count = {}
    for e in entries:
        count[e.prompt] = count.get(e.prompt, 0) + 1
        assert e.fs == 44100 and e.num_samples == 44100
        assert sf.info(e.path).channels == 2
    # per track: drums 5, bass (active 0-1 s) 2, vocals (silent) 0, other 5; validation track excluded
    assert count == {"drums": 10, "bass": 4, "other": 10}
    assert not any("Johnny" in e.uid or "Johnny" in e.path for e in entries)
    e = _by_uid(entries)["musdb_Zeno_Co_-_Test_Track_bass_1"]
    assert e.path == str(out / "data" / "Zeno & Co - Test Track" / "bass_1.wav")
    assert (d / "wav.scp").read_text().count("Zeno & Co - Test Track/") == 12
    _no_audio_reads(monkeypatch)
    assert musdb_sad.build(root, d, out, window_seconds=1.0, hop_seconds=0.5) == entries
    monkeypatch.undo()
    with pytest.raises(DataPrepError, match=r"^MUSDB18HQ=.*missing train"):
        musdb_sad.build(tmp_path / "local", tmp_path / "p", out)


# ---------------------------------------------------------------- MoisesDB + SAD


def test_moisesdb_sad_pool(tmp_path):
    root = tmp_path / "moisesdb"
    exp = fake.make_moisesdb(root, seconds=3.0)
    out = tmp_path / "local" / "moisesdb_sad"
    entries = moisesdb.build(root, exp["splits"], tmp_path / "pool", out, window_seconds=1.0, hop_seconds=0.5)
    got = {}
    for e in entries:
        sid = e.uid[len("moisesdb_") :].rsplit("_", 1)[0]
        got.setdefault(sid, set()).add(e.prompt)
        assert e.path.startswith(str(out / "data")) and e.fs == 44100
    assert {k: v.pop() for k, v in got.items()} == exp["expected"]  # folds 1-3 only, stem mapping
    n = {}
    for e in entries:
        sid = e.uid[len("moisesdb_") :].rsplit("_", 1)[0]
        n[sid] = n.get(sid, 0) + 1
    # 5 windows for fully active sources, 2 for the source active in its first second
    assert sorted(set(n.values())) == [2, 5] and list(n.values()).count(2) == 1
    guitar = [e for e in entries if "/data/guitar/" in e.path]
    assert len(guitar) == 7 and {e.prompt for e in guitar} == {"other"}
    with pytest.raises(DataPrepError, match="splits.csv.*MOISESDB_SPLITS"):
        moisesdb.build(root, tmp_path / "splits.csv", tmp_path / "p", out)
    with pytest.raises(DataPrepError, match=r"^MOISESDB=.*missing moisesdb_v0.1"):
        moisesdb.build(tmp_path / "local", exp["splits"], tmp_path / "p", out)


# ---------------------------------------------------------------- FMA


def test_fma_pool(tmp_path, monkeypatch):
    root = tmp_path / "fma"
    exp = fake.make_fma(root)
    d = tmp_path / "pool_fma"
    assert fma.read_tracks(root / fma.TRACKS_CSV) == [
        "000002",
        "000005",
        "000140",
        "001482",
        "001483",
        "001484",
        "099999",
    ]
    entries = fma.build(root, d, nj=2)
    assert {e.uid: e.fs for e in entries} == exp["kept"]
    for e in entries:
        assert e.prompt == "musicbg"
        assert e.num_samples == sf.read(e.path)[0].shape[0]
        assert e.path.endswith(f"fma_medium/{e.uid[4:7]}/{e.uid[4:]}.mp3")
    _no_audio_reads(monkeypatch)
    assert fma.build(root, d) == entries
    monkeypatch.undo()
    with pytest.raises(DataPrepError, match=r"^FMA=.*no such directory.*fma_medium"):
        fma.build(tmp_path / "p", tmp_path / "p")
    monkeypatch.setattr(sf, "available_formats", lambda: {"WAV": "WAV"})
    with pytest.raises(DataPrepError, match="cannot decode MP3"):
        fma.build(root, d, force=True)


# ---------------------------------------------------------------- recipe entry point


def test_build_pools_checks_roots_first(tmp_path):
    root = tmp_path / "fsd50k"
    fake.make_fsd50k(root, bg_seconds=1.0)
    with pytest.raises(DataPrepError, match=r"VCTK='' is not a directory.*DEMAND='/nonexistent'"):
        build_pools.build_pools(["vctk", "demand"], {"DEMAND": "/nonexistent"}, tmp_path / "data")
    assert not (tmp_path / "data").exists()
    with pytest.raises(DataPrepError, match="unknown pool"):
        build_pools.build_pools(["speech"], {}, tmp_path / "data")
    out = build_pools.build_pools(["fsd50k"], {"FSD50K": str(root)}, tmp_path / "data", tmp_path / "data" / "local")
    # all fake clips are < 8 s: single-label ones are sfx, multi-label ones dropped
    assert {e.prompt for e in out["fsd50k"]} == {"sfx"}
    assert read_pool(tmp_path / "data" / "pool_fsd50k") == out["fsd50k"]
    # the on-the-fly mixer reads the same format
    mixer = pytest.importorskip("tuss_plugin.onthefly.mixer")
    by_prompt = mixer.read_pool_dir(tmp_path / "data" / "pool_fsd50k")
    assert sorted(e.uid for e in by_prompt["sfx"]) == [e.uid for e in out["fsd50k"]]


@pytest.mark.skipif(not (ROOT / "egs" / "TEMPLATE" / "tuss1" / "db.sh").is_file(), reason="no recipe template")
def test_pools_sh_fuss(tmp_path):
    """local/pools.sh of the FUSS recipe in a scratch copy of the recipe dir."""
    rec = tmp_path / "recipe"
    (rec / "local").mkdir(parents=True)
    for f in ("path.sh", "db.sh"):
        (rec / f).symlink_to(ROOT / "egs" / "TEMPLATE" / "tuss1" / f)
    shutil.copy(ROOT / "egs" / "fuss" / "tuss1" / "local" / "pools.sh", rec / "local" / "pools.sh")
    env = {k: v for k, v in os.environ.items() if k not in build_pools.POOL_CORPORA}
    env["FSD50K"] = str(tmp_path / "missing")
    res = subprocess.run(["local/pools.sh"], cwd=rec, env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "FSD50K=" in res.stderr and "not a directory" in res.stderr
    fake.make_fsd50k(tmp_path / "fsd50k", bg_seconds=1.0)
    env["FSD50K"] = str(tmp_path / "fsd50k")
    res = subprocess.run(["local/pools.sh", "--nj", "1"], cwd=rec, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert len(read_pool(rec / "data" / "pool_fsd50k")) == 5
