# SPDX-License-Identifier: Apache-2.0
"""Tiny deterministic test data: Kaldi-style data dirs, source pools and
untrained fixed-output model dirs."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch
import yaml

from conftest import ROOT, TESTS


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


def make_pool(root: Path, specs: Sequence[Tuple[str, int, float, int]], seed: int = 0) -> Path:
    """A pool dir from (prompt, fs, seconds, channels) specs; file names contain spaces."""
    rng = np.random.default_rng(seed)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    lines = {k: [] for k in ("wav.scp", "utt2prompt", "utt2fs", "utt2num_samples")}
    for i, (p, fs, sec, ch) in enumerate(specs):
        n = int(fs * sec)
        x = source(p, n, fs, rng)
        if ch > 1:  # other channels silent: channel 0 must be the one read
            x = np.stack([x] + [np.zeros(n, np.float32)] * (ch - 1), axis=1)
        uid = f"{root.name}_{p}_{i:03d}"
        path = root / "wav" / f"{uid} take.wav"
        sf.write(path, x, fs, subtype="FLOAT")
        lines["wav.scp"].append(f"{uid} {path}")
        lines["utt2prompt"].append(f"{uid} {p}")
        lines["utt2fs"].append(f"{uid} {fs}")
        lines["utt2num_samples"].append(f"{uid} {n}")
    for k, v in lines.items():
        (root / k).write_text("\n".join(v) + "\n")
    return root


FFN = [{"dim_inner": 16, "conv1d_kernel": 4}] * 2


def fixed_output_model(
    root: Path, kind: str = "bslocoformer", num_spk: int = 4, output_prompts: Optional[List[str]] = None
) -> Path:
    """An untrained tiny fixed-output model as an experiment dir (config.yaml, valid.loss.best.pth):
    the conventional ``bslocoformer`` or ESPnet's stock ``tfgridnetv2``, 16 kHz."""
    from tuss_plugin.tasks.tuss import TUSSTask

    conf = yaml.safe_load((TESTS / "conf" / "tuss_tiny.yaml").read_text())
    if kind == "bslocoformer":
        conf["separator"] = "bslocoformer"
        conf["separator_conf"] = dict(
            num_spk=num_spk,
            fs=16000,
            n_fft=256,
            emb_dim=8,
            num_groups=2,
            first_blocks=1,
            first_attention_dim=8,
            first_n_heads=2,
            first_freq_ffn=FFN,
            first_frame_ffn=FFN,
            second_blocks=0,
        )
        if output_prompts is not None:
            conf["separator_conf"]["output_prompts"] = output_prompts
    else:
        stock = yaml.safe_load(
            (ROOT / "egs" / "mini_tuss" / "tuss1" / "conf" / "tuning" / "train_tfgridnetv2_se.yaml").read_text()
        )
        for key in ("encoder", "encoder_conf", "decoder", "decoder_conf", "separator"):
            conf[key] = stock[key]
        conf["separator_conf"] = dict(
            stock["separator_conf"], n_srcs=num_spk, n_layers=1, lstm_hidden_units=8, attn_approx_qk_dim=16, emb_dim=8
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.yaml").write_text(yaml.safe_dump(conf))
    args = TUSSTask.get_parser().parse_args(["--config", str(root / "train.yaml"), "--fs", "16000"])
    torch.manual_seed(0)
    model = TUSSTask.build_model(args)
    config = vars(args)
    config.pop("config", None)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), root / "valid.loss.best.pth")
    return root
