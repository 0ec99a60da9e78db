# SPDX-License-Identifier: Apache-2.0
"""The source-pool format: what on-the-fly mixing draws from (TUSS, Saijo et al., ICASSP 2025).

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
resampled clips) with the builder's ``--out_dir``; relative ones are relative
to the recipe dir, as in ESPnet data dirs.

This module is the one reader (:func:`read_pool`) and writer
(:func:`write_pool`) of the format, used by the pool builders
(:mod:`tuss_plugin.dataprep`) and by the on-the-fly mixer
(:mod:`tuss_plugin.onthefly.mixer`); it needs no audio library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.kaldi_io import read_scp, write_list
from tuss_plugin.prompts import DEFAULT_PROMPTS, check_prompt_name
from tuss_plugin.utils.errors import DataPrepError

PathLike = Union[str, Path]

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
