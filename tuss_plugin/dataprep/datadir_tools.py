# SPDX-License-Identifier: Apache-2.0
"""Kaldi's data-dir chores for TUSS data dirs: fix, copy, combine, subset.

Kaldi and ESPnet recipes keep a data dir consistent with ``fix_data_dir.sh``,
``copy_data_dir.sh``, ``combine_data.sh`` and ``subset_data_dir.sh``, which
know Kaldi's lists only. A TUSS data dir (see :mod:`tuss_plugin.fileio.datadir`)
also has ``utt2prompts``, ``spk<k>.scp`` (the k-th source of mixtures with k
or more prompts), ``spk.scp``, ``utt2category``, ``utt2channel``,
``utt2corpus``, ``utt2num_samples``; these functions treat every
utterance-keyed list of a dir alike (``wav.scp``, ``*.scp``, ``utt2*``,
``text``), so the extra lists stay in sync, and rebuild ``spk2utt`` from
``utt2spk``. Values are kept verbatim (paths with spaces, pipe commands).
Lists are written sorted by id, atomically; ids are checked by
:func:`tuss_plugin.fileio.kaldi_io.check_utt_id`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Union

from tuss_plugin.utils.errors import DataPrepError

PathLike = Union[str, Path]
# lists keyed by utterance; spk2utt is derived from utt2spk
_UTT_LIST = re.compile(r"(.+\.scp|utt2.+|text)")
DERIVED = ("spk2utt",)


def utt_lists(d: Path) -> List[Path]:
    """The utterance-keyed lists of data dir ``d``."""
    return sorted(p for p in d.iterdir() if p.is_file() and _UTT_LIST.fullmatch(p.name) and p.name not in DERIVED)


def read_raw(path: Path) -> Dict[str, str]:
    """``{utt: rest of the line}`` (values verbatim); bad ids or duplicates name file and line."""
    from tuss_plugin.fileio.kaldi_io import check_utt_id

    out: Dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        key = check_utt_id(parts[0], f"{path}:{lineno}")
        if key in out:
            raise DataPrepError(f"{path}:{lineno}: duplicate id {key}")
        out[key] = parts[1] if len(parts) > 1 else ""
    return out


def _write(path: Path, rows: Dict[str, str]) -> None:
    from tuss_plugin.fileio.kaldi_io import write_list

    write_list(path, rows.items())


def _write_spk2utt(d: Path) -> None:
    if not (d / "utt2spk").is_file():
        return
    spk2utt: Dict[str, List[str]] = {}
    for utt, spk in sorted(read_raw(d / "utt2spk").items()):
        spk2utt.setdefault(spk, []).append(utt)
    _write(d / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})


def _has_sources(lists: Dict[str, Dict[str, str]], utt: str, n: int) -> bool:
    """``utt`` is in spk1.scp .. spk<n>.scp."""
    return all(utt in lists.get(f"spk{k}.scp", {}) for k in range(1, n + 1))


def _required(d: Path, lists: Dict[str, Dict[str, str]]) -> set:
    """Utterances every list they need has: wav.scp, utt2spk, utt2prompts and
    spk1..spk<n>.scp for n prompts (spk.scp if that is how the dir lists them)."""
    if "wav.scp" not in lists:
        raise DataPrepError(f"{d / 'wav.scp'}: missing")
    keep = set(lists["wav.scp"])
    for name in ("utt2spk", "utt2prompts", "spk.scp"):
        if name in lists:
            keep &= set(lists[name])
    prompts = lists.get("utt2prompts", {})
    if prompts and "spk.scp" not in lists:
        keep = {u for u in keep if _has_sources(lists, u, len(prompts[u].split()))}
    return keep


def fix(d: PathLike) -> int:
    """Keep the utterances every list they need has, in every list; returns how many went."""
    d = Path(d)
    lists = {p.name: read_raw(p) for p in utt_lists(d)}
    keep = _required(d, lists)
    for name, rows in lists.items():
        _write(d / name, {u: v for u, v in rows.items() if u in keep})
    _write_spk2utt(d)
    return len(set(lists["wav.scp"]) - keep)


def subset(src: PathLike, dst: PathLike, utts: Iterable[str]) -> int:
    """Write the utterances ``utts`` of ``src`` into ``dst`` (every list); returns how many."""
    src, dst = Path(src), Path(dst)
    wanted = set(utts)
    dst.mkdir(parents=True, exist_ok=True)
    for p in utt_lists(src):
        _write(dst / p.name, {u: v for u, v in read_raw(p).items() if u in wanted})
    _write_spk2utt(dst)
    return len(read_raw(dst / "wav.scp"))


def copy(src: PathLike, dst: PathLike, prefix: str = "", suffix: str = "") -> int:
    """Copy ``src`` to ``dst`` with ids ``<prefix><utt><suffix>``; returns the utterances."""
    from tuss_plugin.fileio.kaldi_io import check_utt_id

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for p in utt_lists(src):
        rows = {check_utt_id(f"{prefix}{u}{suffix}", f"{p}: new id"): v for u, v in read_raw(p).items()}
        _write(dst / p.name, rows)
    _write_spk2utt(dst)
    return len(read_raw(dst / "wav.scp"))


def combine(dst: PathLike, srcs: Sequence[PathLike]) -> List[str]:
    """Write the union of ``srcs`` into ``dst``; an id in two sources is refused;
    a list some sources lack is left out, unless a TUSS dir needs it (then refused).
    Returns the names of the lists left out."""
    srcs = [Path(s) for s in srcs]
    dst = Path(dst)
    names = sorted({p.name for s in srcs for p in utt_lists(s)})
    merged: Dict[str, Dict[str, str]] = {}
    origin: Dict[str, Path] = {}
    left_out = []
    for name in names:
        have = [s for s in srcs if (s / name).is_file()]
        is_ref_list = re.fullmatch(r"spk[0-9]+\.scp", name) is not None  # only mixtures with >= k prompts
        if len(have) < len(srcs) and not is_ref_list:
            if name in ("wav.scp", "utt2prompts", "spk.scp"):
                missing = next(s for s in srcs if s not in have)
                raise DataPrepError(f"{missing / name}: missing (the other dirs have it)")
            left_out.append(name)
            continue
        merged[name] = {}
        for s in have:
            for u, v in read_raw(s / name).items():
                if u in merged[name]:
                    raise DataPrepError(f"{s / name}: id {u} is also in {origin[u] / name} (use copy --utt-prefix)")
                merged[name][u] = v
                origin[u] = s
    dst.mkdir(parents=True, exist_ok=True)
    for name, rows in merged.items():
        _write(dst / name, rows)
    _write_spk2utt(dst)
    return left_out


def first_or_last(src: PathLike, n: int, last: bool = False) -> List[str]:
    """The first (or last) ``n`` utterances of ``src`` in id order."""
    utts = sorted(read_raw(Path(src) / "wav.scp"))
    return utts[-n:] if last and n else utts[:n]
