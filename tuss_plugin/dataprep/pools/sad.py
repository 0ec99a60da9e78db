# SPDX-License-Identifier: Apache-2.0
"""Source activity detection (SAD) of training stems, as in BSRNN.

The TUSS paper (Saijo et al., ICASSP 2025) trains on MUSDB18-HQ and MoisesDB
stems after removing silent parts with the SAD of Y. Luo and J. Yu, "Music
Source Separation with Band-split RNN" (IEEE/ACM TASLP 2023, Sec. IV-A):

1. peak-normalise the file (an all-zero file is skipped);
2. cut ``window_seconds`` (8 s) windows every ``hop_seconds`` (4 s), tail dropped;
3. split each window into ``num_chunks`` (16, i.e. 0.5 s) chunks; chunk power =
   sum of squares over samples and channels / samples, zero power -> ``min_power``;
4. threshold = max(15th percentile of all chunk powers of the file, ``min_thres``);
5. keep a window when at least ``num_chunks // 2`` chunks exceed the threshold.

Kept windows are written (all channels, peak-normalised, 16-bit PCM) to
``<out_dir>/data/<parent folder>/<file stem>_<k>.wav``, ``k`` counting kept
windows. Parameters: MUSDB ``min_power=1e-5, min_thres=1e-3``; MoisesDB
``1e-7, 1e-5``.

CLI (one stem file, for inspection)::

    python -m tuss_plugin.dataprep.pools.sad --out_dir data/local/sad some/track/drums.wav
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.dataprep.common import run_cli
from tuss_plugin.dataprep.pools.pool import (
    PathLike,
    load_manifest,
    parallel_map,
    save_manifest,
    window_starts,
    write_wav_atomic,
)
from tuss_plugin.utils.errors import DataPrepError

log = logging.getLogger(__name__)

MUSDB_SAD = {"min_power": 1e-5, "min_thres": 1e-3}
MOISESDB_SAD = {"min_power": 1e-7, "min_thres": 1e-5}


@dataclass(frozen=True)
class SADConfig:
    """Options of :func:`detect`; defaults are the paper's (MUSDB thresholds)."""

    window_seconds: float = 8.0
    hop_seconds: float = 4.0
    num_chunks: int = 16
    percentile: float = 15.0
    min_power: float = 1e-5
    min_thres: float = 1e-3

    def key(self) -> str:
        return (
            f"win={self.window_seconds} hop={self.hop_seconds} chunks={self.num_chunks} "
            f"pct={self.percentile} min_power={self.min_power} min_thres={self.min_thres}"
        )


def detect(audio: np.ndarray, fs: int, cfg: SADConfig = SADConfig()) -> Tuple[List[int], int]:
    """Window starts (in samples) kept by the SAD, and the number of windows tested.

    ``audio``: (T,) or (T, C), already peak-normalised. Windows are
    ``round(window_seconds * fs)`` samples; a file shorter than one window gives
    no window.
    """
    x = audio if audio.ndim == 2 else audio[:, None]  # (T, C)
    win = int(round(cfg.window_seconds * fs))
    hop = int(round(cfg.hop_seconds * fs))
    starts = window_starts(x.shape[0], win, hop)
    if not starts:
        return [], 0
    chunk = win // cfg.num_chunks
    powers = np.empty((len(starts), cfg.num_chunks), dtype=np.float64)  # (W, K)
    sq = np.square(x, dtype=np.float64).sum(axis=1)  # (T,) summed over channels
    for w, s in enumerate(starts):
        seg = sq[s : s + chunk * cfg.num_chunks].reshape(cfg.num_chunks, chunk)  # (K, chunk)
        powers[w] = seg.sum(axis=1) / chunk
    powers[powers == 0] = cfg.min_power
    threshold = max(float(np.percentile(powers, cfg.percentile)), cfg.min_thres)
    active = (powers > threshold).sum(axis=1)  # (W,)
    kept = [s for s, n in zip(starts, active) if n >= cfg.num_chunks // 2]
    return kept, len(starts)


def sad_file(path: PathLike, out_dir: PathLike, cfg: SADConfig = SADConfig()) -> List[dict]:
    """Run :func:`detect` on one stem file and write the kept windows (resumable).

    Output: ``<out_dir>/data/<parent folder name>/<stem>_<k>.wav``; a manifest
    ``.<stem>.sad.json`` beside them records the result so that a re-run with
    the same options reads no audio. Returns ``[{"path", "fs", "num_samples"}]``;
    an all-zero file returns ``[]`` with a warning.
    """
    path = Path(path)
    dest = Path(out_dir) / "data" / path.parent.name
    manifest = dest / f".{path.stem}.sad.json"
    key = f"src={path} {cfg.key()}"
    done = load_manifest(manifest, key)
    if done is not None:
        return done
    try:
        audio, fs = sf.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    except Exception as exc:
        raise DataPrepError(f"{path}: cannot read audio ({exc})") from None
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    items: List[dict] = []
    if peak == 0.0:
        log.warning("%s: all zeros, skipped by the source activity detection", path)
    else:
        audio = audio / peak
        kept, _ = detect(audio, fs, cfg)
        win = int(round(cfg.window_seconds * fs))
        for k, s in enumerate(kept):
            out = dest / f"{path.stem}_{k}.wav"
            seg = audio[s : s + win]
            write_wav_atomic(out, seg if seg.shape[1] > 1 else seg[:, 0], fs, "PCM_16")
            items.append({"path": str(out), "fs": int(fs), "num_samples": win})
    save_manifest(manifest, key, items)
    return items


class _SADJob:
    """Picklable ``sad_file`` with fixed output dir and options (for ``parallel_map``)."""

    def __init__(self, out_dir: PathLike, cfg: SADConfig) -> None:
        self.out_dir, self.cfg = str(out_dir), cfg

    def __call__(self, path: str) -> List[dict]:
        return sad_file(path, self.out_dir, self.cfg)


def sad_files(
    paths: Sequence[PathLike], out_dir: PathLike, cfg: SADConfig, nj: int = 1, desc: str = "SAD"
) -> List[List[dict]]:
    """:func:`sad_file` over many files (``nj`` processes), results in input order.

    Output names collide when two inputs share parent folder name and stem;
    that raises :class:`DataPrepError`.
    """
    seen = {}
    for p in paths:
        p = Path(p)
        k = (p.parent.name, p.stem)
        if k in seen:
            raise DataPrepError(f"{p} and {seen[k]} would write the same SAD windows ({k[0]}/{k[1]}_*.wav)")
        seen[k] = p
    return list(parallel_map(_SADJob(out_dir, cfg), [str(p) for p in paths], nj=nj, desc=desc, chunksize=1))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="stem files")
    parser.add_argument("--out_dir", required=True, help="windows go to <out_dir>/data/<parent>/<stem>_<k>.wav")
    parser.add_argument(
        "--preset", choices=["musdb", "moisesdb"], default="musdb", help="thresholds (default: %(default)s)"
    )
    parser.add_argument("--window_seconds", type=float, default=8.0)
    parser.add_argument("--hop_seconds", type=float, default=4.0)
    parser.add_argument("--nj", type=int, default=1)
    args = parser.parse_args(argv)
    preset = MUSDB_SAD if args.preset == "musdb" else MOISESDB_SAD
    cfg = SADConfig(window_seconds=args.window_seconds, hop_seconds=args.hop_seconds, **preset)
    results = sad_files(args.files, args.out_dir, cfg, nj=args.nj)
    for f, r in zip(args.files, results):
        print(f"{f}: kept {len(r)} windows")


if __name__ == "__main__":
    sys.exit(run_cli(main))
