# SPDX-License-Identifier: Apache-2.0
"""Tiny fake trees of the five TUSS evaluation corpora in their real layouts.

Folder and file names, sample rates, channel counts and WAV subtypes follow
the released corpora (see each recipe's README); the signals are short
deterministic noise/tones so the recipes' stages 1-2 can be tested without
the data. Each ``make_<corpus>(root)`` returns the directory the recipe's
db.sh variable points at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np
import soundfile as sf

# names used by the generators (tests check against them)
VCTK_DEMAND_TRAIN = ["p226_001", "p226_002", "p230_001", "p287_001"]  # p230 is not a dev speaker
VCTK_DEMAND_TEST = ["p232_001", "p232_002", "p257_001"]
WHAM_NAMES = {
    "cv": [
        "011a010b_1.7054_20do010c_-1.7054",
        "01to030v_0.76421_20ga010m_-0.76421",
        "40na010x_1.4291_027c0107_-1.4291",
    ],
    "tt": ["050a050a_0.032494_446o030v_-0.032494", "22go010f_0.41364_445c020s_-0.41364"],
    "tr": ["409o030d_1.2532_01zc020y_-1.2532"],
}
# FUSS: per split, per example, which source files exist and which are all zeros
FUSS_EXAMPLES = {
    "validation": {  # non-silent counts: 3, 1 (dropped), 1 (dropped), 4, 2, 2
        "example0000": ["bg", "fg", "fg"],
        "example0001": ["bg", "silent"],
        "example0002": ["bg"],
        "example0003": ["bg", "fg", "fg", "fg"],
        "example0004": ["bg", "fg", "silent"],
        "example0005": ["bg", "fg"],
    },
    "eval": {  # non-silent counts: 2, 1 (dropped), 3
        "example0000": ["bg", "silent", "fg"],
        "example0001": ["bg"],
        "example0002": ["bg", "fg", "fg"],
    },
    "train": {"example00000": ["bg", "fg"]},
}
MUSDB_TRAIN = ["A Classic Education - NightOwl", "Actions - One Minute Smile", "Johnny Lokke - Promises & Lies"]
MUSDB_TEST = ["Al James - Schoolboy Facination", "Angels In Amplifiers - I'm Alright"]
DNR_IDS = {"tr": ["1234", "56789"], "cv": ["99999", "100", "2345"], "tt": ["31337", "742"]}


def _signal(rng: np.random.Generator, n: int, channels: int = 1, level: float = 0.1) -> np.ndarray:
    """(n,) or (n, channels) band-limited noise with a random tone, |x| < 0.5."""
    t = np.arange(n)[:, None]
    x = rng.standard_normal((n, channels)) * 0.3
    x = np.cumsum(x, axis=0) * 0.05 - np.linspace(0, 1, n)[:, None] * np.cumsum(x, axis=0)[-1] * 0.05
    x += np.sin(2 * np.pi * rng.uniform(0.005, 0.05, size=channels) * t)
    x = level * x / (np.max(np.abs(x)) + 1e-9)
    return x[:, 0] if channels == 1 else x


def _write(path: Path, x: np.ndarray, fs: int, subtype: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, fs, subtype=subtype)
    return path


def _q16(x: np.ndarray) -> np.ndarray:
    """What a 16-bit PCM file stores."""
    return np.round(np.clip(x, -1, 1 - 2**-15) * 32768) / 32768


def make_vctk_demand(root: Path, seconds: float = 0.5) -> Path:
    """``clean_/noisy_{trainset_28spk,testset}_wav``, 48 kHz mono 16-bit, log files."""
    rng = np.random.default_rng(1)
    fs = 48000
    logs: Dict[str, List[str]] = {"trainset_28spk": [], "testset": []}
    for split, names in (("trainset_28spk", VCTK_DEMAND_TRAIN), ("testset", VCTK_DEMAND_TEST)):
        for i, name in enumerate(names):
            n = int(fs * seconds) + 480 * i  # lengths differ per file
            clean = _q16(_signal(rng, n, level=0.3))
            noisy = _q16(clean + _signal(rng, n, level=0.1))
            _write(root / f"clean_{split}_wav" / f"{name}.wav", clean, fs, "PCM_16")
            _write(root / f"noisy_{split}_wav" / f"{name}.wav", noisy, fs, "PCM_16")
            (root / f"clean_{split}_txt").mkdir(parents=True, exist_ok=True)
            (root / f"clean_{split}_txt" / f"{name}.txt").write_text("Please call Stella.\n")
            logs[split].append(f"{name} {'living' if split == 'testset' else 'cafe'} {2.5 + 5 * (i % 4)}")
    for split, lines in logs.items():
        (root / f"log_{split}.txt").write_text("\n".join(lines) + "\n")
    (root / "log_readme.txt").write_text("Log files: <file> <noise type> <SNR>\n")
    return root


def make_wham(root: Path, scheme: str = "whamr", seconds: float = 0.5) -> Path:
    """``wav16k/{min,max}/{tr,cv,tt}/...`` in the WHAM! (``scheme="wham"``) or
    WHAMR! (``"whamr"``) folder names; 16 kHz mono."""
    rng = np.random.default_rng(2)
    fs = 16000
    if scheme == "wham":
        folders = {"mix": ["mix_both"], "s1": "s1", "s2": "s2", "extra": ["mix_clean", "mix_single"]}
        subtype = "PCM_16"
    else:
        folders = {
            "mix": ["mix_both_anechoic"],
            "s1": "s1_anechoic",
            "s2": "s2_anechoic",
            "extra": ["mix_clean_anechoic", "mix_single_anechoic", "mix_both_reverb", "s1_reverb"],
        }
        subtype = "FLOAT"
    for mode in ("min", "max"):
        for split, names in WHAM_NAMES.items():
            if mode == "min" and split != "tt":
                continue
            d = root / "wav16k" / mode / split
            for i, name in enumerate(names):
                n = int(fs * seconds) + 160 * i
                s1, s2, noise = (_signal(rng, n, level=v) for v in (0.3, 0.25, 0.1))
                for f, x in ((folders["s1"], s1), (folders["s2"], s2), ("noise", noise)):
                    _write(d / f / f"{name}.wav", x, fs, subtype)
                _write(d / folders["mix"][0] / f"{name}.wav", s1 + s2 + noise, fs, subtype)
                for f in folders["extra"]:
                    _write(d / f / f"{name}.wav", s1 + s2, fs, subtype)
    (root / "wav8k").mkdir(parents=True, exist_ok=True)
    if scheme == "whamr":
        (root / "metadata").mkdir(parents=True, exist_ok=True)
    return root


def make_fuss(root: Path, seconds: float = 0.5) -> Path:
    """``ssdata/{train,validation,eval}/exampleNNNN{.wav,.jams,.txt,_sources/}`` and
    the example lists; 16 kHz mono 16-bit; some source files are all zeros."""
    rng = np.random.default_rng(3)
    fs = 16000
    n = int(fs * seconds)
    ss = root / "ssdata"
    for split, examples in FUSS_EXAMPLES.items():
        lines = []
        for ex, kinds in examples.items():
            d = ss / split
            srcs, names = [], []
            for j, kind in enumerate(kinds):
                name = "background0_sound.wav" if j == 0 else f"foreground{j - 1}_sound.wav"
                x = np.zeros(n) if kind == "silent" else _q16(_signal(rng, n, level=0.2))
                _write(d / f"{ex}_sources" / name, x, fs, "PCM_16")
                srcs.append(x)
                names.append(f"{split}/{ex}_sources/{name}")
            _write(d / f"{ex}.wav", _q16(np.sum(srcs, axis=0)), fs, "PCM_16")
            (d / f"{ex}.jams").write_text("{}\n")
            (d / f"{ex}.txt").write_text("0.0\t10.0\tbackground\n")
            lines.append("\t".join([f"{split}/{ex}.wav"] + names))
        (ss / f"{split}_example_list.txt").write_text("\n".join(lines) + "\n")
    return root


def make_musdb18hq(root: Path, seconds: float = 0.5) -> Path:
    """``{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav``,
    44.1 kHz stereo 16-bit. ``mixture.wav`` is the stem sum scaled by 0.98, so
    it differs from the sum of the references (the evaluation recomputes it)."""
    rng = np.random.default_rng(4)
    fs = 44100
    for split, tracks in (("train", MUSDB_TRAIN), ("test", MUSDB_TEST)):
        for i, t in enumerate(tracks):
            n = int(fs * seconds) + 441 * i
            stems = {s: _q16(_signal(rng, n, channels=2, level=0.2)) for s in ("drums", "bass", "other", "vocals")}
            for s, x in stems.items():
                _write(root / split / t / f"{s}.wav", x, fs, "PCM_16")
            _write(root / split / t / "mixture.wav", _q16(0.98 * sum(stems.values())), fs, "PCM_16")
    return root


def make_dnr(root: Path, seconds: float = 0.5) -> Path:
    """``{tr,cv,tt}/<id>/{mix,speech,music,sfx}.wav`` + ``annots.csv``, 44.1 kHz
    mono float (real files are 60 s; these are short); a stray file per split."""
    rng = np.random.default_rng(5)
    fs = 44100
    n = int(fs * seconds)
    for split, ids in DNR_IDS.items():
        for i in ids:
            d = root / split / i
            srcs = {s: _signal(rng, n, level=v) for s, v in (("speech", 0.3), ("music", 0.2), ("sfx", 0.1))}
            for s, x in srcs.items():
                _write(d / f"{s}.wav", x, fs, "FLOAT")
            _write(d / "mix.wav", sum(srcs.values()), fs, "FLOAT")
            (d / "annots.csv").write_text(
                ",file,class,mix start time,mix end time,clip start sample,clip end sample,clip gain,annotation\n"
                "0,speech/1272-128104-0000.flac,speech,0.0,0.4,0,17640,-17.0,hello\n"
            )
        (root / split / f"{split}_list.txt").write_text("\n".join(ids) + "\n")  # not a mixture folder
    return root


def make_all(base: Path, names: Optional[Iterable[str]] = None) -> Dict[str, Path]:
    """Every fake corpus under ``base``: {db.sh variable: root}."""
    makers = {
        "VCTK_DEMAND": lambda: make_vctk_demand(base / "vctk_demand"),
        "WHAM": lambda: make_wham(base / "whamr", "whamr"),
        "FUSS": lambda: make_fuss(base / "fuss"),
        "MUSDB18HQ": lambda: make_musdb18hq(base / "musdb18hq"),
        "DNR": lambda: make_dnr(base / "dnr_v2"),
    }
    return {k: f() for k, f in makers.items() if names is None or k in names}
