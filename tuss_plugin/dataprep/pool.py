# SPDX-License-Identifier: Apache-2.0
"""Source pools for on-the-fly mixing (training corpora of TUSS, Saijo et al., ICASSP 2025).

A pool is a directory ``data/pool_<name>/`` holding four Kaldi-style lists,
sorted by key and written atomically:

- ``wav.scp``          ``<uid> <path>`` (the rest of the line is the path; it may contain spaces)
- ``utt2prompt``       ``<uid> <prompt>`` (speech, sfx, sfxbg, drums, bass, vocals, other, musicbg,
                       or a category beyond them, e.g. of an added prompt)
- ``utt2fs``           ``<uid> <Hz>``
- ``utt2num_samples``  ``<uid> <n>``

and a marker ``.complete`` written last, holding the key of the options it
was built with (:func:`pool_is_current`). Paths are written as found: corpus
files start with the db.sh root, derived audio (segments, SAD windows,
resampled clips) with the ``--out_dir`` given; relative ones are relative to
the recipe dir, as in ESPnet data dirs. Besides the writer and reader this
module has the helpers every corpus module shares: fixed-window cutting with a
per-source manifest (resumable), a parallel map with a progress bar, safe
uids and the ``--force``/``--nj`` CLI plumbing. The builders of the recipes'
pools are registered in :mod:`tuss_plugin.dataprep.build_pools`.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, TypeVar, Union

import numpy as np
import soundfile as sf

from tuss_plugin.dataprep.common import DataPrepError
from tuss_plugin.fileio import atomic_write, atomic_write_text
from tuss_plugin.kaldi_io import read_scp, write_list
from tuss_plugin.prompts import DEFAULT_PROMPTS, check_prompt_name

PathLike = Union[str, Path]
T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("tuss_plugin.dataprep")

#: the prompt vocabulary of the paper (``sfxbg`` = SFX mix, ``musicbg`` = music mix);
#: pools may also hold categories beyond it (any valid prompt name, see
#: :func:`tuss_plugin.prompts.check_prompt_name`), e.g. for a prompt added to a
#: trained model (:mod:`tuss_plugin.bin.add_prompts`)
POOL_PROMPTS = DEFAULT_PROMPTS
POOL_FILES = ("wav.scp", "utt2prompt", "utt2fs", "utt2num_samples")
COMPLETE_MARKER = ".complete"


class PoolError(DataPrepError, ValueError):
    """A pool directory is incomplete or its lists are inconsistent (message names the file)."""


@dataclass(frozen=True)
class PoolEntry:
    """One source file of a pool.

    ``pool`` is the directory the entry was read from (set by :func:`read_pool`;
    not compared, not written).
    """

    uid: str
    path: str
    prompt: str
    fs: int
    num_samples: int
    pool: str = field(default="", compare=False)


_UID_BAD = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_uid(*parts: str) -> str:
    """Join ``parts`` with ``_`` into a key without whitespace (other odd characters -> ``_``)."""
    return "_".join(_UID_BAD.sub("_", str(p)).strip("_") for p in parts if str(p) != "")


def write_pool(pool_dir: PathLike, entries: Sequence[PoolEntry], key: Optional[str] = None) -> None:
    """Write the four lists of a pool (sorted by uid, atomically), then ``.complete``.

    Raises :class:`DataPrepError` for an empty pool, a duplicate uid, a uid with
    whitespace, a path with a newline or an invalid prompt name.
    """
    pool_dir = Path(pool_dir)
    if not entries:
        raise DataPrepError(f"{pool_dir}: no source passed the selection; the pool would be empty")
    seen: Dict[str, PoolEntry] = {}
    for e in entries:
        if not e.uid or any(c.isspace() for c in e.uid):
            raise DataPrepError(f"{pool_dir}: invalid uid {e.uid!r} (empty or with whitespace)")
        if e.uid in seen:
            raise DataPrepError(f"{pool_dir}: duplicate uid {e.uid} ({seen[e.uid].path} and {e.path})")
        try:
            check_prompt_name(e.prompt, f"{pool_dir}: uid {e.uid}")
        except ValueError as err:
            raise DataPrepError(str(err)) from None
        if "\n" in e.path or e.path != e.path.strip():
            raise DataPrepError(f"{pool_dir}: uid {e.uid} has a path with a newline or edge spaces: {e.path!r}")
        seen[e.uid] = e
    pool_dir.mkdir(parents=True, exist_ok=True)
    marker = pool_dir / COMPLETE_MARKER
    if marker.exists():
        marker.unlink()
    write_list(pool_dir / "utt2prompt", [(e.uid, e.prompt) for e in entries])
    write_list(pool_dir / "utt2fs", [(e.uid, str(int(e.fs))) for e in entries])
    write_list(pool_dir / "utt2num_samples", [(e.uid, str(int(e.num_samples))) for e in entries])
    write_list(pool_dir / "wav.scp", [(e.uid, e.path) for e in entries])
    atomic_write_text(marker, (key or "") + "\n")


def read_pool(pool_dir: PathLike) -> List[PoolEntry]:
    """Entries of a pool, sorted by uid.

    The one reader of the pool format, used by the pool builders and by the
    on-the-fly mixer. Raises :class:`PoolError` naming the file for a missing
    list, keys that differ between the lists, an unknown prompt, or a rate or
    length that is not a positive integer.
    """
    pool_dir = Path(pool_dir)
    for name in POOL_FILES:
        if not (pool_dir / name).is_file():
            raise PoolError(f"{pool_dir / name}: missing (a pool dir holds {', '.join(POOL_FILES)})")
    try:
        wav = read_scp(pool_dir / "wav.scp")
        lists = {name: read_scp(pool_dir / name) for name in POOL_FILES[1:]}
    except ValueError as e:  # malformed line; the message names file and line
        raise PoolError(str(e)) from None
    for name, d in lists.items():
        missing = sorted(set(wav) - set(d))
        if missing:
            raise PoolError(f"{pool_dir / name}: no entry for {missing[0]} (listed in {pool_dir / 'wav.scp'})")
        extra = sorted(set(d) - set(wav))
        if extra:
            raise PoolError(f"{pool_dir / name}: {extra[0]} is not listed in {pool_dir / 'wav.scp'}")
    out = []
    for uid in sorted(wav):
        prompt = lists["utt2prompt"][uid].strip()
        try:
            prompt = check_prompt_name(prompt, f"{pool_dir / 'utt2prompt'}: {uid}")
        except ValueError as err:
            raise PoolError(str(err)) from None
        values = []
        for name in ("utt2fs", "utt2num_samples"):
            text = lists[name][uid].strip()
            try:
                value = int(text)
            except ValueError:
                value = 0
            if value <= 0:
                raise PoolError(f"{pool_dir / name}: {uid}: expected a positive integer, got {text!r}")
            values.append(value)
        out.append(PoolEntry(uid, wav[uid], prompt, values[0], values[1], pool=str(pool_dir)))
    return out


def pool_is_current(pool_dir: PathLike, key: str) -> bool:
    """True when ``pool_dir`` was completed with the same option ``key`` (nothing to redo)."""
    marker = Path(pool_dir) / COMPLETE_MARKER
    if not marker.is_file() or not all((Path(pool_dir) / n).is_file() for n in POOL_FILES):
        return False
    return marker.read_text(encoding="utf-8").strip() == key.strip()


def make_key(name: str, **options: object) -> str:
    """A one-line description of how a pool was built (stored in ``.complete``)."""
    parts = [f"pool={name}"] + [f"{k}={options[k]}" for k in sorted(options)]
    return " ".join(str(p).replace("\n", " ") for p in parts)


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


def setup_logging(verbose: bool = True) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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


def run_cli(main: Callable[[], object]) -> None:
    """Run ``main``; a :class:`DataPrepError` becomes a one-line message and exit
    status 1, Ctrl-C one line and status 130 (see :func:`tuss_plugin.cli.run_main`)."""
    from tuss_plugin.cli import run_main

    def call() -> None:
        main()  # (what it returns is not an exit status)

    setup_logging()
    status = run_main(None, call)
    if status:
        sys.exit(status)


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
