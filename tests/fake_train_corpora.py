# SPDX-License-Identifier: Apache-2.0
"""Tiny fake trees of the TUSS training corpora, in their real on-disk layouts.

Names, sample rates, channel counts and metadata formats follow the real
corpora (``docs/datasets.md`` section 2); durations are cut to the minimum
each selection rule needs. Every ``make_*`` writes under ``root`` and returns
a dict of what a correct pool must contain.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import soundfile as sf

from datagen import source


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _write(path: Path, data: np.ndarray, fs: int, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, fs, **kw)
    return path


def _noise(n: int, fs: int, channels: int, seed: int) -> np.ndarray:
    x = 0.05 * _rng(seed).standard_normal((n, channels)).astype(np.float32)
    return x[:, 0] if channels == 1 else x


# ---------------------------------------------------------------- VCTK 0.92


def make_vctk(root: Path) -> Dict:
    """``wav48_silence_trimmed/<spk>/<spk>_<nnn>_mic{1,2}.flac``, 48 kHz mono, with excluded speakers."""
    audio = root / "wav48_silence_trimmed"
    fs = 48000
    kept = []
    for spk, n_utt in (("p225", 2), ("p226", 1), ("p232", 1), ("p257", 1), ("p287", 1), ("p280", 1), ("s5", 1)):
        for u in range(1, n_utt + 1):
            stem = f"{spk}_{u:03d}"
            _write(audio / spk / f"{stem}_mic1.flac", source("speech", fs // 10, fs, _rng(u)), fs)
            if spk != "p280":  # p280 has no mic2 files
                _write(audio / spk / f"{stem}_mic2.flac", source("speech", fs // 10, fs, _rng(u)), fs)
            if spk not in ("p226", "p287", "p232", "p257"):
                kept.append(f"vctk_{stem}_mic1")
    (root / "txt" / "p225").mkdir(parents=True)
    (root / "txt" / "p225" / "p225_001.txt").write_text("Please call Stella.\n")
    (root / "speaker-info.txt").write_text("ID  AGE  GENDER  ACCENTS  REGION\n")
    (root / "README.txt").write_text("VCTK fake\n")
    return {"uids": sorted(kept), "fs": fs}


# ---------------------------------------------------------------- WSJ0


def make_wsj0(root: Path, shorten: bool = False) -> Dict:
    """CD folders ``11-*.1/wsj0/si_tr_s/<spk>/<utt>.wv1`` (uncompressed NIST SPHERE) + ``mix_2_spk_tr.txt``.

    One file has an upper-case ``.WV1`` extension. With ``shorten=True`` one
    file's header claims shorten compression (what LDC ships).
    """
    fs = 16000
    layout = {"11-1.1": ["01t", "02c"], "11-2.1": ["20g"]}
    utts = {"01t": ["01to030v", "01to0310"], "02c": ["02cc0201"], "20g": ["20ga010m", "20ga010n"]}
    files = {}
    for disc, spks in layout.items():
        for spk in spks:
            for i, utt in enumerate(utts[spk]):
                ext = ".WV1" if utt == "02cc0201" else ".wv1"
                p = root / disc / "wsj0" / "si_tr_s" / spk / f"{utt}{ext}"
                _write(p, source("speech", fs // 5 + 100 * i, fs, _rng(i)), fs, format="NIST", subtype="PCM_16")
                files[utt] = p
                # a secondary-microphone file that must be ignored
                _write(p.with_suffix(".wv2"), np.zeros(100, np.float32), fs, format="NIST", subtype="PCM_16")
    # an unused speaker of si_dt_05
    _write(
        root / "11-2.1" / "wsj0" / "si_dt_05" / "050" / "050a0501.wv1",
        np.zeros(100, np.float32),
        fs,
        format="NIST",
        subtype="PCM_16",
    )
    if shorten:
        # what LDC ships: the header announces shorten-compressed samples
        p = files["20ga010n"]
        body = p.read_bytes()[1024:]
        head = "\n".join(
            [
                "NIST_1A",
                "   1024",
                "channel_count -i 1",
                f"sample_rate -i {fs}",
                "sample_n_bytes -i 2",
                "sample_sig_bits -i 16",
                "sample_coding -s26 pcm,embedded-shorten-v2.00",
                "sample_byte_format -s2 01",
                f"sample_count -i {len(body) // 2}",
                "end_head",
                "",
            ]
        ).encode()
        p.write_bytes(head + b" " * (1024 - len(head)) + body)
    mix = root / "mix_2_spk_tr.txt"
    lines = [
        "wsj0/si_tr_s/01t/01to030v.wav 0.76421 wsj0/si_tr_s/20g/20ga010m.wav -0.76421",
        "wsj0/si_tr_s/01t/01to030v.wav 1.2 wsj0/si_tr_s/02c/02cc0201.wav -1.2",
        "wsj0/si_tr_s/20g/20ga010n.wav 0.5 wsj0/si_tr_s/20g/20ga010m.wav -0.5",
    ]
    mix.write_text("\n".join(lines) + "\n")
    return {
        "mix_list": mix,
        "uids": sorted(f"wsj0_{u}" for u in ("01to030v", "20ga010m", "02cc0201", "20ga010n")),
        "unused": "wsj0_01to0310",
        "files": files,
        "fs": fs,
    }


# ---------------------------------------------------------------- DNS5 LibriVox (URGENT)


def make_librivox(root: Path) -> Dict:
    """``dns5_fullband/Track1_Headset/mnt/dnsv5/clean/read_speech/<6-hex>/<uid>.wav`` + the two json.gz lists.

    Clips are 48 kHz (two at 16 kHz, one in the second extraction variant);
    bandwidths map them to 8/16/22.05/44.1/48 kHz. One clip is silence (VAD
    drop), one has BAK < 3 (DNSMOS drop), one is missing from the DNSMOS list,
    one is listed but absent from disk.
    """
    base = Path("dns5_fullband/Track1_Headset/mnt/dnsv5/clean/read_speech")
    seconds = 0.5
    clips = [
        # uid, native fs, bandwidth, kind, subfolder variant, BAK (None = unscored)
        ("book_00001_chp_0001_reader_00001_0_seg_1", 48000, 3900.0, "speech", "000000", 3.5),
        ("book_00001_chp_0001_reader_00001_1_seg_1", 48000, 10000.0, "speech", "000000", 2.5),
        ("book_00002_chp_0003_reader_00002_0_seg_1", 48000, 20000.0, "speech", "000001", 4.0),
        ("book_00002_chp_0003_reader_00002_1_seg_1", 48000, 24000.0, "speech", "000001", 3.0),
        ("book_00003_chp_0001_reader_00003_0_seg_1", 16000, 7900.0, "speech", "000001", 3.2),
        ("book_00003_chp_0001_reader_00003_1_seg_1", 16000, 8000.0, "silence", "000001", 3.9),
        ("book_00004_chp_0002_reader_00004_0_seg_1", 48000, 11000.0, "speech", "variant", 3.4),
        ("book_00004_chp_0002_reader_00004_1_seg_1", 48000, 16000.0, "speech", "000000", None),
    ]
    bandwidth, dnsmos = {}, {}
    for i, (uid, fs, bw, kind, sub, bak) in enumerate(clips):
        n = int(seconds * fs)
        x = source("speech", n, fs, _rng(i)) * 3 if kind == "speech" else np.zeros(n, np.float32)
        rel = base / ("read_speech/000000" if sub == "variant" else sub) / f"{uid}.wav"
        listed = base / "000000" / f"{uid}.wav" if sub == "variant" else rel
        _write(root / rel, x, fs, subtype="PCM_16")
        bandwidth[uid] = [f"./{listed}", bw]
        if bak is not None:
            dnsmos[uid] = {"OVRL": 3.0, "SIG": 3.5, "BAK": bak, "P808_MOS": 3.6}
    # listed but not on disk
    bandwidth["book_00009_chp_0001_reader_00009_0_seg_1"] = [
        str(base / "000000" / "book_00009_chp_0001_reader_00009_0_seg_1.wav"),
        8000.0,
    ]
    dnsmos["book_00009_chp_0001_reader_00009_0_seg_1"] = {"OVRL": 3.0, "SIG": 3.5, "BAK": 4.0, "P808_MOS": 3.6}
    with gzip.open(root / "dns5_clean_read_speech.json.gz", "wt") as f:
        json.dump(bandwidth, f)
    (root / "datafiles").mkdir()
    with gzip.open(root / "datafiles" / "dns5_clean_read_speech_resampled_dnsmos.json.gz", "wt") as f:
        json.dump(dnsmos, f)
    expected_fs = {
        "book_00001_chp_0001_reader_00001_0_seg_1": 8000,
        "book_00004_chp_0002_reader_00004_0_seg_1": 22050,  # stored in the read_speech/read_speech variant
        "book_00002_chp_0003_reader_00002_0_seg_1": 44100,
        "book_00002_chp_0003_reader_00002_1_seg_1": 48000,
        "book_00003_chp_0001_reader_00003_0_seg_1": 16000,
    }
    return {
        "kept": {f"librivox_{u}": fs for u, fs in expected_fs.items()},
        "kept_native": [
            "librivox_book_00002_chp_0003_reader_00002_1_seg_1",
            "librivox_book_00003_chp_0001_reader_00003_0_seg_1",
        ],
        "seconds": seconds,
    }


# ---------------------------------------------------------------- FSD50K


def make_ontology(path: Path) -> None:
    """A small AudioSet-style ontology: the four excluded roots with children, and kept classes."""
    nodes = [
        ("/m/09l8g", "Human voice", ["/m/09x0r"]),
        ("/m/09x0r", "Speech", ["/m/05zppz"]),
        ("/m/05zppz", "Male speech, man speaking", []),
        ("/m/09hlz4", "Respiratory sounds", ["/m/01b_21"]),
        ("/m/01b_21", "Cough", []),
        ("/t/dd00012", "Human group actions", ["/m/0l15bq"]),
        ("/m/0l15bq", "Clapping", []),
        ("/m/04rlf", "Music", ["/m/04szw"]),
        ("/m/04szw", "Musical instrument", ["/m/0342h"]),
        ("/m/0342h", "Guitar", []),
        ("/m/0dgw9r", "Human sounds", ["/m/09l8g", "/m/09hlz4", "/m/0k65p"]),
        ("/m/0k65p", "Hands", ["/m/025_jnm"]),
        ("/m/025_jnm", "Finger snapping", []),
        ("/m/0jbk", "Animal", ["/m/0bt9lr"]),
        ("/m/0bt9lr", "Dog", ["/m/05tny_"]),
        ("/m/05tny_", "Bark", []),
        ("/m/07pp_mv", "Alarm", ["/m/01y3hg"]),
        ("/m/01y3hg", "Smoke detector, smoke alarm", []),
    ]
    data = [
        {
            "id": i,
            "name": n,
            "description": "",
            "citation_uri": "",
            "positive_examples": [],
            "child_ids": c,
            "restrictions": [],
        }
        for i, n, c in nodes
    ]
    path.write_text(json.dumps(data, indent=1))


def make_fsd50k(root: Path, bg_seconds: float = 1.0) -> Dict:
    """FSD50K tree with smeared ground truth, raw collection labels (different row order) and an ontology.

    Clip lengths straddle ``bg_seconds`` (the test passes a small border; the
    paper's 8 s is tested on metadata).
    """
    fs = 44100
    short, long = 0.5 * bg_seconds, 1.2 * bg_seconds
    # fname, smeared labels, smeared mids, split, raw collection labels, seconds, expected prompt
    rows = [
        ("1001", "Bark,Dog,Animal", "/m/05tny_,/m/0bt9lr,/m/0jbk", "train", "Bark", short, "sfx"),
        ("1002", "Bark,Dog,Animal", "/m/05tny_,/m/0bt9lr,/m/0jbk", "train", "Bark", long, "sfxbg"),
        (
            "1003",
            "Bark,Smoke_detector_and_smoke_alarm,Alarm,Dog,Animal",
            "/m/05tny_,/m/01y3hg,/m/07pp_mv,/m/0bt9lr,/m/0jbk",
            "train",
            "Bark,Smoke_detector",
            short,
            None,
        ),
        (
            "1004",
            "Bark,Smoke_detector_and_smoke_alarm,Alarm,Dog,Animal",
            "/m/05tny_,/m/01y3hg,/m/07pp_mv,/m/0bt9lr,/m/0jbk",
            "train",
            "Bark,Smoke_detector",
            long,
            "sfxbg",
        ),
        (
            "1005",
            "Male_speech_and_man_speaking,Speech,Human_voice",
            "/m/05zppz,/m/09x0r,/m/09l8g",
            "train",
            "Male_speech",
            short,
            None,
        ),
        ("1006", "Guitar,Musical_instrument,Music", "/m/0342h,/m/04szw,/m/04rlf", "train", "Guitar", long, None),
        (
            "1007",
            "Cough,Respiratory_sounds,Human_sounds",
            "/m/01b_21,/m/09hlz4,/m/0dgw9r",
            "train",
            "Cough",
            short,
            None,
        ),
        ("1008", "Clapping,Human_group_actions", "/m/0l15bq,/t/dd00012", "train", "Clapping", short, None),
        (
            "1009",
            "Finger_snapping,Hands,Human_sounds",
            "/m/025_jnm,/m/0k65p,/m/0dgw9r",
            "train",
            "Finger_snapping",
            short,
            "sfx",
        ),
        ("1010", "Smoke_detector_and_smoke_alarm,Alarm", "/m/01y3hg,/m/07pp_mv", "train", "", short, "sfx"),
        ("1011", "Bark,Dog,Animal", "/m/05tny_,/m/0bt9lr,/m/0jbk", "val", "Bark", short, None),
        # a clip whose only smeared mid is an excluded root itself (not a descendant): kept
        ("1012", "Human_voice", "/m/09l8g", "train", "Human_voice", short, "sfx"),
    ]
    gt = root / "FSD50K.ground_truth"
    coll = root / "FSD50K.metadata" / "collection"
    gt.mkdir(parents=True)
    coll.mkdir(parents=True)
    with open(gt / "dev.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fname", "labels", "mids", "split"])
        for r in rows:
            w.writerow([r[0], r[1], r[2], r[3]])
    with open(gt / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fname", "labels", "mids"])
        w.writerow(["2001", "Bark,Dog,Animal", "/m/05tny_,/m/0bt9lr,/m/0jbk"])
    (gt / "vocabulary.csv").write_text("0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n")
    # collection rows in reverse order: joining by position would be wrong
    with open(coll / "collection_dev.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fname", "labels", "mids"])
        for r in reversed(rows):
            w.writerow([r[0], r[4], ""])
    (root / "FSD50K.metadata" / "collection" / "collection_eval.csv").write_text(
        "fname,labels,mids\n2001,Bark,/m/05tny_\n"
    )
    for r in rows:
        _write(
            root / "FSD50K.dev_audio" / f"{r[0]}.wav",
            _noise(int(round(r[5] * fs)), fs, 1, int(r[0])),
            fs,
            subtype="PCM_16",
        )
    _write(root / "FSD50K.eval_audio" / "2001.wav", _noise(fs // 10, fs, 1, 0), fs, subtype="PCM_16")
    (root / "FSD50K.doc").mkdir()
    (root / "FSD50K.doc" / "README.md").write_text("FSD50K fake\n")
    make_ontology(root / "ontology.json")
    expected = {f"fsd50k_{r[0]}": r[6] for r in rows if r[6] is not None}
    return {"expected": expected, "fs": fs, "bg_seconds": bg_seconds}


# ---------------------------------------------------------------- WHAM! noise 48 kHz


def make_wham_noise(root: Path, seconds: Dict[str, float] = None) -> Dict:
    """``high_res_wham/audio/<name>.wav`` (48 kHz, 2 ch) + ``high_res_metadata.csv`` (Train/Valid/Test)."""
    fs = 48000
    seconds = seconds or {"tr_a": 8.5, "tr_b": 16.2, "tr_short": 5.0, "cv_a": 9.0, "tt_a": 9.0}
    split = {"tr": "Train", "cv": "Valid", "tt": "Test"}
    audio = root / "high_res_wham" / "audio"
    rows = []
    for i, (name, sec) in enumerate(seconds.items()):
        fname = f"{name}_{i:02d}.wav"
        _write(audio / fname, _noise(int(sec * fs), fs, 2, i), fs, subtype="PCM_16")
        rows.append([fname, "street", f"{sec:.2f}", "x", split[name.split("_")[0]], "2", "ok"])
    with open(root / "high_res_wham" / "high_res_metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Filename", "Location", "File Length (sec)", "Noise Band", "WHAM! Split", "Channels", "Notes"])
        w.writerows(rows)
    return {"fs": fs, "seconds": seconds}


# ---------------------------------------------------------------- DEMAND


def make_demand(root: Path, seconds: float = 12.5) -> Dict:
    """``<ENV>/ch01.wav``, ``ch02.wav`` (48 kHz mono) for all 18 environments, plus a ``zip_files`` folder."""
    from tuss_plugin.dataprep.pools.demand import ENVIRONMENTS

    fs = 48000
    for i, env in enumerate(ENVIRONMENTS):
        n = int(seconds * fs)
        _write(root / env / "ch01.wav", _noise(n, fs, 1, i), fs, subtype="PCM_16")
        _write(root / env / "ch02.wav", _noise(fs // 10, fs, 1, i + 100), fs, subtype="PCM_16")
    (root / "zip_files").mkdir()
    return {"fs": fs, "seconds": seconds}


# ---------------------------------------------------------------- MUSDB18-HQ (train stems)


def sad_signal(fs: int, seconds: float, active: List[tuple], channels: int = 2, seed: int = 0) -> np.ndarray:
    """Noise that is loud inside the ``active`` (start, end) seconds and zero elsewhere."""
    n = int(round(seconds * fs))
    x = np.zeros((n, channels), np.float32)
    rng = _rng(seed)
    for s, e in active:
        a, b = int(round(s * fs)), int(round(e * fs))
        x[a:b] = 0.3 * rng.standard_normal((b - a, channels))
    return x if channels > 1 else x[:, 0]


def make_musdb(root: Path, fs: int = 44100, seconds: float = 3.0) -> Dict:
    """``train/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav`` (stereo) incl. a validation track."""
    tracks = ["A Classic Education - NightOwl", "Johnny Lokke - Promises & Lies", "Zeno & Co - Test Track"]
    for ti, t in enumerate(tracks):
        stems = {
            "drums": sad_signal(fs, seconds, [(0, seconds)], seed=ti),
            "bass": sad_signal(fs, seconds, [(0, seconds / 3)], seed=ti + 10),  # active in the first third only
            "vocals": np.zeros((int(round(seconds * fs)), 2), np.float32),  # silent stem
            "other": sad_signal(fs, seconds, [(0, seconds)], seed=ti + 20),
        }
        for s, x in stems.items():
            _write(root / "train" / t / f"{s}.wav", x, fs, subtype="PCM_16")
        _write(root / "train" / t / "mixture.wav", sum(stems.values()), fs, subtype="PCM_16")
    _write(root / "test" / "Al James - Schoolboy Facination" / "mixture.wav", np.zeros((100, 2), np.float32), fs)
    return {"tracks": [t for t in tracks if not t.startswith("Johnny Lokke")], "fs": fs, "seconds": seconds}


# ---------------------------------------------------------------- MoisesDB


def make_moisesdb(root: Path, fs: int = 44100, seconds: float = 3.0) -> Dict:
    """``moisesdb_v0.1/<uuid>/data.json`` + ``<stemName>/<source-uuid>.wav`` and a query-bandit ``splits.csv``."""
    base = root / "moisesdb_v0.1"
    tracks = {
        "0a1b2c3d-0000-4000-8000-000000000001": 1,
        "0a1b2c3d-0000-4000-8000-000000000002": 3,
        "0a1b2c3d-0000-4000-8000-000000000003": 4,  # valid fold
        "0a1b2c3d-0000-4000-8000-000000000004": 5,  # test fold
    }
    stems_of = {
        1: [("vocals", 1), ("bass", 1), ("drums", 1), ("guitar", 2)],
        3: [("vocals", 1), ("piano", 1), ("bowed_strings", 1), ("other_plucked", 1)],
        4: [("vocals", 1), ("bass", 1)],
        5: [("drums", 1)],
    }
    expected = {}
    k = 0
    for t, fold in tracks.items():
        stems = []
        for name, count in stems_of[fold if fold in stems_of else 1]:
            entries = []
            for c in range(count):
                k += 1
                sid = f"5e6f7a8b-1111-4111-8111-{k:012d}"
                active = [(0, seconds)] if not (name == "guitar" and c == 1) else [(0, seconds / 3)]
                _write(base / t / name / f"{sid}.wav", sad_signal(fs, seconds, active, seed=k), fs, subtype="PCM_16")
                entries.append({"id": sid, "trackType": name, "type": name, "extension": "wav", "has_bleed": False})
                if fold in (1, 2, 3):
                    expected[sid] = name if name in ("bass", "drums", "vocals") else "other"
            stems.append({"stemName": name, "tracks": entries})
        meta = {"song": f"Song {fold}", "artist": "Fake", "genre": "pop", "stems": stems}
        (base / t / "data.json").write_text(json.dumps(meta, indent=1))
    splits = root / "splits.csv"
    with open(splits, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["song_id", "split"])
        for t, fold in tracks.items():
            w.writerow([t, fold])
    return {"splits": splits, "expected": expected, "fs": fs, "seconds": seconds}


# ---------------------------------------------------------------- FMA medium


def make_fma(root: Path, seconds: float = 0.5) -> Dict:
    """``fma_medium/<3 digits>/<6 digits>.mp3`` (44.1 kHz stereo) + ``fma_metadata/tracks.csv`` (2-row header)."""
    fs = 44100
    # track id, subset, split, kind
    tracks = [
        (2, "small", "training", "ok"),
        (5, "medium", "training", "ok"),
        (140, "medium", "training", "ok22k"),
        (1482, "medium", "training", "zeros"),
        (1483, "medium", "training", "broken"),
        (1484, "medium", "training", "missing"),
        (1485, "large", "training", "ok"),
        (1486, "medium", "validation", "ok"),
        (1487, "small", "test", "ok"),
        (99999, "medium", "training", "ok"),
    ]
    top = ["", "album", "album", "artist", "set", "set", "track", "track", "track"]
    sub = ["", "title", "tags", "bio", "split", "subset", "genre_top", "title", "tags"]
    path = root / "fma_metadata" / "tracks.csv"
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(top)
        w.writerow(sub)
        w.writerow(["track_id"] + [""] * (len(top) - 1))
        for tid, subset, split, _ in tracks:
            w.writerow(
                [
                    tid,
                    "Album, with comma",
                    "[]",
                    'line one\nline two, "quoted"',
                    split,
                    subset,
                    "Rock",
                    f"Track {tid}",
                    "['a', 'b']",
                ]
            )
    (root / "fma_metadata" / "genres.csv").write_text("genre_id,#tracks,parent,title,top_level\n")
    kept = []
    for i, (tid, subset, split, kind) in enumerate(tracks):
        tid6 = f"{tid:06d}"
        p = root / "fma_medium" / tid6[:3] / f"{tid6}.mp3"
        p.parent.mkdir(parents=True, exist_ok=True)
        rate = 22050 if kind == "ok22k" else fs
        if kind in ("ok", "ok22k"):
            sf.write(str(p), sad_signal(rate, seconds, [(0, seconds)], seed=i) * 0.5, rate, format="MP3")
        elif kind == "zeros":
            sf.write(str(p), np.zeros((int(seconds * fs), 2), np.float32), fs, format="MP3")
        elif kind == "broken":
            p.write_bytes(b"\xff\xfb" + bytes(range(256)) * 4)
        if kind in ("ok", "ok22k") and subset != "large" and split == "training":
            kept.append((f"fma_{tid6}", rate))
    return {"kept": dict(kept), "seconds": seconds}
