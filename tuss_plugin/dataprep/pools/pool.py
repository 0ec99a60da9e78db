# SPDX-License-Identifier: Apache-2.0
"""What the pool builders share (TUSS training corpora, Saijo et al., ICASSP 2025).

The pool format itself (:class:`PoolEntry`, :func:`read_pool`,
:func:`write_pool`) is owned by :mod:`tuss_plugin.fileio.pools` and re-exported here.
This module has the helpers every corpus module shares: fixed-window cutting
with a per-source manifest (resumable), a parallel map with a progress bar,
safe uids and the ``--force``/``--nj`` CLI plumbing. The builders of the
recipes' pools are registered in :mod:`tuss_plugin.dataprep.pools.build_pools`.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, TypeVar, Union

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.atomic import atomic_write, atomic_write_text
from tuss_plugin.fileio.pools import (
    PoolEntry,
    pool_is_current,
    read_pool,
    write_pool,
)
from tuss_plugin.utils.errors import DataPrepError

PathLike = Union[str, Path]
T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ audio helpers


def audio_info(path: PathLike) -> sf._SoundFileInfo:
    """``soundfile.info`` with an error naming the file."""
    try:
        return sf.info(str(path))
    except Exception as exc:  # soundfile raises several types
        raise DataPrepError(f"{path}: cannot read the audio header ({exc})") from None


def read_dtype(subtype: str) -> str:
    """Numpy dtype that reads a file of this soundfile subtype losslessly."""
    if subtype == "PCM_16":
        return "int16"
    if subtype in ("PCM_24", "PCM_32"):
        return "int32"
    if subtype == "DOUBLE":
        return "float64"
    return "float32"


def write_wav_atomic(path: PathLike, data: np.ndarray, fs: int, subtype: Optional[str] = None) -> None:
    """Write a WAV file through a temporary file beside ``path`` (parents are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def _w(tmp: str) -> None:
        sf.write(tmp, data, fs, format="WAV", subtype=subtype)

    atomic_write(path, _w)


def window_starts(num_samples: int, window: int, hop: int) -> List[int]:
    """Starts of the full windows of ``window`` samples every ``hop`` samples (tail dropped)."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive")
    if num_samples < window:
        return []
    return list(range(0, num_samples - window + 1, hop))


def load_manifest(path: Path, key: str) -> Optional[List[dict]]:
    """Items of a per-source manifest written by :func:`save_manifest`, if built with ``key``."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != key:
        return None
    items = data.get("items", [])
    if not all(Path(it["path"]).is_file() for it in items):
        return None
    return items


def save_manifest(path: Path, key: str, items: List[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"key": key, "items": items}, indent=1) + "\n")


def cut_windows(
    src: PathLike,
    out_dir: PathLike,
    name: Callable[[int], str],
    window_seconds: float,
    hop_seconds: float,
    manifest: PathLike,
) -> List[dict]:
    """Cut ``src`` into full windows (channels and sample format kept), resumable.

    Window ``i`` goes to ``out_dir / name(i)``; ``manifest`` (JSON) records the
    written windows and the options, so a re-run with the same options reads no
    audio. Returns ``[{"path", "fs", "num_samples"}, ...]``.
    """
    src, out_dir, manifest = Path(src), Path(out_dir), Path(manifest)
    key = f"src={src} window={window_seconds} hop={hop_seconds}"
    done = load_manifest(manifest, key)
    if done is not None:
        return done
    info = audio_info(src)
    fs = info.samplerate
    win, hop = int(round(window_seconds * fs)), int(round(hop_seconds * fs))
    starts = window_starts(info.frames, win, hop)
    items = []
    if starts:
        data, _ = sf.read(str(src), dtype=read_dtype(info.subtype), always_2d=True)
        data = data if data.shape[1] > 1 else data[:, 0]  # (T, C) or (T,) for mono
        subtype = info.subtype if info.subtype in sf.available_subtypes("WAV") else None
        for i, s in enumerate(starts):
            out = out_dir / name(i)
            if not out.is_file() or audio_info(out).frames != win:
                write_wav_atomic(out, data[s : s + win], fs, subtype)
            items.append({"path": str(out), "fs": fs, "num_samples": win})
    save_manifest(manifest, key, items)
    return items


# ------------------------------------------------------------------ loops


def _call(args: tuple) -> object:
    func, item = args
    return func(item)


def parallel_map(
    func: Callable[[T], R], items: Sequence[T], nj: int = 1, desc: str = "", chunksize: int = 16
) -> Iterator[R]:
    """``map(func, items)`` in input order with a tqdm progress bar on stderr.

    ``nj > 1`` runs ``func`` in ``nj`` forked worker processes (``func`` must be a
    module-level function). ``TUSS_PROGRESS=0`` hides the bar.
    """
    from tqdm import tqdm

    disable = os.environ.get("TUSS_PROGRESS", "1") == "0"
    bar = tqdm(total=len(items), desc=desc, disable=disable, mininterval=2.0, unit="file")
    try:
        if nj <= 1 or len(items) < 2:
            for item in items:
                yield func(item)
                bar.update(1)
        else:
            # fork, as torch's DataLoader does on Linux: workers inherit the imported modules
            ctx = multiprocessing.get_context("fork")
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                workers = ctx.Pool(nj)
            with workers:
                for result in workers.imap(_call, [(func, it) for it in items], chunksize=chunksize):
                    yield result
                    bar.update(1)
    finally:
        bar.close()


# ------------------------------------------------------------------ CLI plumbing


def add_common_args(parser, default_pool: str, derived: bool = False) -> None:
    """``--pool_dir``, ``--force`` (and ``--out_dir`` for corpora that write derived audio)."""
    parser.add_argument(
        "--pool_dir", default=f"data/pool_{default_pool}", help="output pool dir (default: %(default)s)"
    )
    if derived:
        parser.add_argument(
            "--out_dir",
            default=f"data/local/{default_pool}",
            help="where derived audio is written, never inside the corpus (default: %(default)s)",
        )
    parser.add_argument("--force", action="store_true", help="rebuild even if the pool is up to date")


def summarize(name: str, entries: Iterable[PoolEntry]) -> str:
    """``pool_x: N files, H h (prompt: n, ...; fs: ...)``."""
    entries = list(entries)
    hours = sum(e.num_samples / e.fs for e in entries) / 3600.0
    prompts: Dict[str, int] = {}
    rates: Dict[int, int] = {}
    for e in entries:
        prompts[e.prompt] = prompts.get(e.prompt, 0) + 1
        rates[e.fs] = rates.get(e.fs, 0) + 1
    p = ", ".join(f"{k} {v}" for k, v in sorted(prompts.items()))
    r = ", ".join(f"{k} Hz {v}" for k, v in sorted(rates.items()))
    return f"pool_{name}: {len(entries)} files, {hours:.2f} h ({p}; {r})"


def finish(name: str, pool_dir: PathLike, entries: Sequence[PoolEntry], key: str) -> List[PoolEntry]:
    """Drop empty files (with a warning), write the pool and log its summary."""
    empty = [e for e in entries if e.num_samples <= 0 or e.fs <= 0]
    if empty:
        log.warning("pool_%s: %d empty file(s) dropped, e.g. %s", name, len(empty), empty[0].path)
        entries = [e for e in entries if e.num_samples > 0 and e.fs > 0]
    write_pool(pool_dir, entries, key)
    log.info("%s -> %s", summarize(name, entries), pool_dir)
    return sorted(entries, key=lambda e: e.uid)


def up_to_date(name: str, pool_dir: PathLike, key: str, force: bool) -> Optional[List[PoolEntry]]:
    """The existing entries when the pool is current and ``force`` is false, else None."""
    if not force and pool_is_current(pool_dir, key):
        entries = read_pool(pool_dir)
        log.info("%s: up to date (%s); use --force to rebuild", pool_dir, summarize(name, entries))
        return entries
    return None


# ------------------------------------------------------------------ recipe entry point

#: pool name -> (db.sh variable of its corpus root, what the root must hold)
