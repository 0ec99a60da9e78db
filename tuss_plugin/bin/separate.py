#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Separate audio files with a TUSS model.

    tuss-separate --model exp/enh_tuss_mini --prompts speech sfxbg musicbg \
        [--segment 6 --hop 3] [--outdir separated] [--spectrogram] IN.wav [IN2.flac ...]

MODEL is an experiment dir, a packed model zip, a model file or a dir written
by ``import_reference``. Any format, rate, bit depth and channel count that
soundfile reads is accepted; each output has the input's rate and channels
and is written to ``OUTDIR/<input stem>/<k>_<prompt>.wav`` (k = position in the
prompt list). Files appear complete or not at all.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np

PROG = "tuss-separate"


class CLIError(Exception):
    """A problem reported as one line, with a non-zero exit."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="IN", help="audio files")
    p.add_argument("-m", "--model", required=True, help="exp dir, packed zip, model file or imported dir")
    p.add_argument("-p", "--prompts", nargs="+", default=None, help="one output per prompt")
    p.add_argument("-o", "--outdir", default="separated", help="output root (default: separated)")
    p.add_argument("--segment", type=float, default=None, help="segment length in seconds (long files)")
    p.add_argument("--hop", type=float, default=None, help="segment shift in seconds (default: --segment)")
    p.add_argument("--spectrogram", action="store_true", help="also write a PNG of mixture and outputs")
    p.add_argument("--subtype", default="FLOAT", help="WAV subtype of the outputs (FLOAT, PCM_16, PCM_24)")
    p.add_argument("-d", "--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--list-prompts", action="store_true", help="print the model's prompts and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def check_input(path: str):
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such file")
    if p.is_dir():
        raise CLIError(f"{path}: is a directory, not an audio file")
    try:
        info = sf.info(str(p))
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise CLIError(f"{path}: not a readable audio file ({str(e).splitlines()[0]})") from None
    if info.frames == 0:
        raise CLIError(f"{path}: contains no samples")
    return info


def spectrogram_png(path: Path, signals: List[np.ndarray], titles: List[str], fs: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tuss_plugin.fileio import atomic_write

    fig, axes = plt.subplots(len(signals), 1, figsize=(10, 2.2 * len(signals)), sharex=True, squeeze=False)
    nfft = 1024 if fs >= 32000 else 512
    for ax, x, t in zip(axes[:, 0], signals, titles):
        x = x if x.ndim == 1 else x.mean(axis=1)
        if len(x) < nfft:
            x = np.pad(x, (0, nfft - len(x)))
        ax.specgram(x + 1e-9, NFFT=nfft, Fs=fs, noverlap=nfft * 3 // 4, cmap="magma")
        ax.set_ylabel("Hz")
        ax.set_title(t, fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)


def separate_file(sep, path: str, outdir: Path, prompts: List[str], subtype: str,
                  spectrogram: bool, progress: bool) -> List[Path]:
    import soundfile as sf

    from tuss_plugin.audio import resample
    from tuss_plugin.fileio import atomic_write

    try:
        x, fs = sf.read(path, dtype="float32", always_2d=True)  # (L, C)
    except Exception as e:  # noqa: BLE001
        raise CLIError(f"{path}: cannot read audio ({str(e).splitlines()[0]})") from None
    if x.shape[0] == 0:
        raise CLIError(f"{path}: contains no samples")
    if not np.isfinite(x).all():
        raise CLIError(f"{path}: contains NaN or Inf samples")
    xm = resample(x, fs, sep.fs)
    if xm.ndim == 1:
        xm = xm[:, None]
    blocks = sep.iter_separate(xm, prompts)
    if progress and sep.segment_size is not None:
        from tqdm import tqdm

        from tuss_plugin.inference import segment_starts

        n_seg = len(segment_starts(xm.shape[0], int(round(sep.segment_size * sep.fs)),
                                   int(round(sep.hop_size * sep.fs))))
        blocks = tqdm(blocks, total=n_seg, desc=Path(path).name, unit="seg", file=sys.stderr)
    est = np.concatenate(list(blocks), axis=1)  # (N, L', C)
    dest = outdir / Path(path).stem
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    outs = []
    for k, (p, e) in enumerate(zip(prompts, est), 1):
        y = resample(e, sep.fs, fs)
        y = y[:, None] if y.ndim == 1 else y
        y = np.pad(y, ((0, max(0, x.shape[0] - y.shape[0])), (0, 0)))[: x.shape[0]]
        y = y[:, 0] if x.shape[1] == 1 else y
        target = dest / f"{k}_{p}.wav"
        atomic_write(target, lambda tmp, y=y: sf.write(tmp, y, fs, subtype=subtype, format="WAV"))
        written.append(target)
        outs.append(y)
    if spectrogram:
        png = dest / "spectrogram.png"
        spectrogram_png(png, [x[:, 0] if x.shape[1] == 1 else x] + outs,
                        ["mixture"] + [f"{k}: {p}" for k, p in enumerate(prompts, 1)], fs)
        written.append(png)
    return written


def main(cmd: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(cmd)
    try:
        import torch

        from tuss_plugin.inference import SeparateAudio

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            sep = SeparateAudio.from_pretrained(args.model, device=device,
                                                segment_size=args.segment, hop_size=args.hop)
        except (OSError, ValueError, KeyError) as e:
            raise CLIError(f"cannot load model {args.model}: {e}") from None
        if args.list_prompts:
            print(" ".join(sep.prompts))
            return 0
        if not args.prompts:
            raise CLIError("give the prompts to separate with --prompts (see --list-prompts)")
        if not args.inputs:
            raise CLIError("no input files")
        try:
            prompts = sep.validate_prompts(args.prompts)
        except ValueError as e:
            raise CLIError(f"invalid prompt list: {e}") from None
        for path in args.inputs:
            check_input(path)
        outdir = Path(args.outdir)
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CLIError(f"{outdir}: cannot create output directory ({e.strerror})") from None
        if not os.access(outdir, os.W_OK):
            raise CLIError(f"{outdir}: output directory is not writable")
        for path in args.inputs:
            try:
                files = separate_file(sep, path, outdir, prompts, args.subtype, args.spectrogram,
                                      progress=not args.quiet)
            except OSError as e:
                raise CLIError(f"{path}: cannot write outputs ({e})") from None
            print(f"{PROG}: {path} -> {files[0].parent}/ ({len(prompts)} outputs)")
    except CLIError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
