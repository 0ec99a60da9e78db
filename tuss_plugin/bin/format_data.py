#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 2: copy a Kaldi-style TUSS data dir to a dump dir at one rate.

    python -m tuss_plugin.bin.format_data --fs 16k data/test dump/raw/test

Reads ``wav.scp``, ``spk1.scp..spkN.scp`` and ``utt2prompts``; resamples every
mixture and reference to ``--fs`` (soxr), writes them under ``<out>/data/``
and writes ``wav.scp``, ``spk1..N.scp``, ``spk.scp`` (all references of an
utterance on one line), ``utt2prompts``, ``utt2category`` (number of prompts),
``utt2num_samples``, ``utt2spk``, ``spk2utt``. Unreadable or missing audio is
reported by name and skipped (``--on_error skip``, default) or stops the stage
(``--on_error stop``). Finished utterances are not redone when a run is resumed.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.audio import resample
from tuss_plugin.fileio import atomic_write, atomic_write_text
from tuss_plugin.kaldi_io import parse_fs, read_dict, read_scp, write_list


def load_audio(path: str, channel: Optional[int] = None) -> Tuple[np.ndarray, int]:
    """Read audio as float32 (n_samples,) [one channel] or (n_samples, C)."""
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise ValueError(f"{path}: cannot read audio ({e})") from None
    if x.shape[0] == 0:
        raise ValueError(f"{path}: no samples")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: NaN or Inf samples")
    if channel is not None:
        if channel >= x.shape[1]:
            raise ValueError(f"{path}: has {x.shape[1]} channel(s), channel {channel} requested")
        return x[:, channel], sr
    return (x[:, 0] if x.shape[1] == 1 else x), sr


def _write_wav(path: Path, x: np.ndarray, fs: int, subtype: str) -> None:
    atomic_write(path, lambda tmp: sf.write(tmp, x, fs, subtype=subtype, format="WAV"))


def process(job) -> Tuple[str, Optional[List[str]], Optional[str]]:
    """Resample one utterance; returns (utt, [mix, ref1..], error)."""
    utt, paths, outdir, fs, subtype = job
    outs = [outdir / "data" / f"{utt}.wav"] + [outdir / "data" / f"{utt}_s{k}.wav" for k in range(1, len(paths))]
    if all(p.exists() for p in outs):
        return utt, [str(p) for p in outs], None
    try:
        sigs = []
        for p in paths:
            x, sr = load_audio(p)
            if x.ndim != 1:
                raise ValueError(f"{p}: {x.shape[1]} channels; split channels in local/data.sh")
            sigs.append(resample(x, sr, fs))
        n = sigs[0].shape[0]
        for p, s in zip(paths[1:], sigs[1:]):
            if abs(s.shape[0] - n) > 1:
                raise ValueError(f"{p}: {s.shape[0]} samples at {fs} Hz, the mixture has {n}")
        for out, s in zip(outs, sigs):
            s = s[:n] if s.shape[0] >= n else np.pad(s, (0, n - s.shape[0]))
            _write_wav(out, s, fs, subtype)
    except (ValueError, OSError) as e:
        return utt, None, str(e)
    return utt, [str(p) for p in outs], None


def main(cmd: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="data dir (wav.scp, spk*.scp, utt2prompts)")
    parser.add_argument("dst", help="output dump dir")
    parser.add_argument("--fs", default="16k", help="target sampling rate (16k, 44.1k, 48000, ...)")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes")
    parser.add_argument("--subtype", default="FLOAT", help="WAV subtype of the written audio")
    parser.add_argument("--on_error", choices=["skip", "stop"], default="skip",
                        help="unreadable/missing audio: report and skip, or stop")
    args = parser.parse_args(cmd)
    src, dst = Path(args.src), Path(args.dst)
    fs = parse_fs(args.fs)
    try:
        wavs = read_scp(src / "wav.scp")
        prompts = read_dict(src / "utt2prompts")
    except (OSError, ValueError) as e:
        print(f"format_data: error: {e}", file=sys.stderr)
        return 1
    refs: Dict[int, Dict[str, str]] = {}
    k = 1
    while (src / f"spk{k}.scp").exists():
        refs[k] = read_scp(src / f"spk{k}.scp")
        k += 1
    problems = []
    jobs = []
    for utt, mix in wavs.items():
        if utt not in prompts:
            problems.append(f"{utt}: no entry in {src / 'utt2prompts'}")
            continue
        n = len(prompts[utt])
        missing = [k for k in range(1, n + 1) if utt not in refs.get(k, {})]
        if missing:
            problems.append(f"{utt}: {n} prompts but no reference in spk{missing[0]}.scp")
            continue
        jobs.append((utt, [mix] + [refs[k][utt] for k in range(1, n + 1)], dst.resolve(), fs, args.subtype))
    (dst / "data").mkdir(parents=True, exist_ok=True)
    done: Dict[str, List[str]] = {}
    if args.nj > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(args.nj) as ex:
            results = list(ex.map(process, jobs, chunksize=8))
    else:
        results = [process(j) for j in jobs]
    for utt, outs, err in results:
        if err:
            problems.append(f"{utt}: {err}")
        else:
            done[utt] = outs
    for p in problems:
        print(f"format_data: {'error' if args.on_error == 'stop' else 'skipped'}: {p}", file=sys.stderr)
    if problems and args.on_error == "stop":
        return 1
    if not done:
        print(f"format_data: error: no usable utterance in {src}", file=sys.stderr)
        return 1
    write_list(dst / "wav.scp", ((u, o[0]) for u, o in done.items()))
    write_list(dst / "spk.scp", ((u, o[1:]) for u, o in done.items()))
    kmax = max(len(o) - 1 for o in done.values())
    for k in range(1, kmax + 1):
        write_list(dst / f"spk{k}.scp", ((u, o[k]) for u, o in done.items() if len(o) > k))
    for k in range(kmax + 1, 100):  # stale lists of an earlier run
        if (dst / f"spk{k}.scp").exists():
            (dst / f"spk{k}.scp").unlink()
    write_list(dst / "utt2prompts", ((u, prompts[u]) for u in done))
    write_list(dst / "utt2category", ((u, f"{len(prompts[u])}src") for u in done))
    write_list(dst / "utt2num_samples", ((u, str(sf.info(o[0]).frames)) for u, o in done.items()))
    write_list(dst / "utt2spk", ((u, u) for u in done))
    write_list(dst / "spk2utt", ((u, u) for u in done))
    atomic_write_text(dst / "fs", f"{fs}\n")
    summary = {"utterances": len(done), "skipped": len(problems), "fs": fs}
    atomic_write_text(dst / "format_summary.json", json.dumps(summary) + "\n")
    print(f"format_data: {src} -> {dst}: {len(done)} utterances at {fs} Hz"
          + (f", {len(problems)} skipped (listed above)" if problems else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
