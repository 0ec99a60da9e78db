# SPDX-License-Identifier: Apache-2.0
"""Tiny deterministic Kaldi-style data dirs for tests."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np
import soundfile as sf


def source(prompt: str, n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """A short signal loosely of the prompt's kind."""
    t = np.arange(n) / fs
    if prompt in ("speech", "vocals"):
        f0 = rng.uniform(100, 250) * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
        phase = 2 * np.pi * np.cumsum(f0) / fs
        x = sum(np.sin(k * phase) / k for k in range(1, 8))
        x *= 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)) ** 2
    elif prompt in ("sfxbg",):
        x = rng.standard_normal(n)
    elif prompt == "sfx":
        x = np.zeros(n)
        start = rng.integers(0, n // 2)
        length = n // 3
        x[start : start + length] = rng.standard_normal(length) * np.hanning(length)
    elif prompt == "drums":
        x = np.zeros(n)
        for s in range(0, n, fs // 4):
            m = min(400, n - s)
            x[s : s + m] = rng.standard_normal(m) * np.exp(-np.arange(m) / 60)
    elif prompt == "bass":
        x = np.sin(2 * np.pi * rng.uniform(40, 90) * t)
    else:  # other, musicbg, unknown: chords
        x = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(200, 1200, size=3))
    x = x / (np.sqrt(np.mean(x**2)) + 1e-8)
    return (0.1 * x).astype(np.float32)


def make_data_dir(
    root: Path,
    prompt_lists: Sequence[Sequence[str]],
    fs: int = 16000,
    seconds: float = 0.5,
    seed: int = 0,
) -> Path:
    """Write wavs and wav.scp, spk.scp (multi-column), spk1..K.scp, utt2prompts,
    utt2category, utt2num_samples, utt2spk/spk2utt into ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    n = int(fs * seconds)
    lines = {k: [] for k in ("wav.scp", "spk.scp", "utt2prompts", "utt2category", "utt2num_samples", "utt2spk")}
    per_k: List[List[str]] = []
    for i, prompts in enumerate(prompt_lists):
        utt = f"utt{i:03d}"
        refs = [source(p, n, fs, rng) * 10 ** (rng.uniform(-10, 0) / 20) for p in prompts]
        mix = np.sum(refs, axis=0)
        paths = []
        for k, r in enumerate(refs, 1):
            p = root / "wavs" / f"{utt}_s{k}.wav"
            sf.write(p, r, fs, subtype="FLOAT")
            paths.append(str(p))
            while len(per_k) < k:
                per_k.append([])
            per_k[k - 1].append(f"{utt} {p}")
        mp = root / "wavs" / f"{utt}_mix.wav"
        sf.write(mp, mix, fs, subtype="FLOAT")
        lines["wav.scp"].append(f"{utt} {mp}")
        lines["spk.scp"].append(f"{utt} {' '.join(paths)}")
        lines["utt2prompts"].append(f"{utt} {' '.join(prompts)}")
        lines["utt2category"].append(f"{utt} {len(prompts)}src")
        lines["utt2num_samples"].append(f"{utt} {n}")
        lines["utt2spk"].append(f"{utt} {utt}")
    for name, ls in lines.items():
        (root / name).write_text("\n".join(ls) + "\n")
    (root / "spk2utt").write_text("".join(f"{u} {u}\n" for u in (l.split()[0] for l in lines["utt2spk"])))
    for k, ls in enumerate(per_k, 1):
        (root / f"spk{k}.scp").write_text("\n".join(ls) + "\n")
    return root


def train_args(data: Path, outdir: Path, config: str, epochs: int = 1, extra: Sequence[str] = ()) -> List[str]:
    """Command-line arguments of tuss_train for a data dir from make_data_dir."""
    args = [
        "--config",
        config,
        "--output_dir",
        str(outdir),
        "--ngpu",
        "0",
        "--max_epoch",
        str(epochs),
        "--fold_length",
        "80000",
        "--seed",
        "0",
    ]
    for mode in ("train", "valid"):
        args += [
            f"--{mode}_data_path_and_name_and_type",
            f"{data}/wav.scp,speech_mix,sound",
            f"--{mode}_data_path_and_name_and_type",
            f"{data}/spk.scp,speech_refs,variable_columns_sound",
            f"--{mode}_data_path_and_name_and_type",
            f"{data}/utt2prompts,prompts,text",
            f"--{mode}_shape_file",
            f"{data}/utt2num_samples",
        ]
    return args + list(extra)
