# SPDX-License-Identifier: Apache-2.0
"""Reading and writing Kaldi-style text lists (``<key> <value...>`` per line).

Keys are utterance ids, and ids become file names (``<outdir>/<id>.wav``), so
every reader checks each key with :func:`check_utt_id`. The module needs
nothing beyond the standard library to be loaded (``utils/validate_data_dir.py``
loads it from its file without importing the package).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

PathLike = Union[str, Path]


def utt_id_problem(key: str) -> Optional[str]:
    """What makes ``key`` unusable as a file name inside an output dir, or None.

    The rule: not empty, no ``/`` (no absolute path, no subdirectory), no
    ``..``, no control character or whitespace, and no leading ``.`` (hidden
    file) or ``-`` (read as an option by command-line tools).
    """
    if not key:
        return "empty"
    if "/" in key:
        return "contains '/'"
    if key[0] in ".-":
        return f"starts with {key[0]!r}"
    if ".." in key:
        return "contains '..'"
    if any(unicodedata.category(c) == "Cc" or c.isspace() for c in key):
        return "contains a control character or whitespace"
    return None


def check_utt_id(key: str, where: str) -> str:
    """``key`` if it is a valid id; otherwise ``ValueError`` naming ``where``
    (``<file>:<line>``) and the id."""
    problem = utt_id_problem(key)
    if problem:
        raise ValueError(f"{where}: invalid id {key!r}: {problem} (ids become file names)")
    return key


_ID_ODD = re.compile(r"[^A-Za-z0-9.+-]+")


def make_id(*parts: object) -> str:
    """An id made from free-form names (corpus file names, MUSDB track folders
    with spaces and ``&``), the one sanitiser of the data preparation: within
    each part every run of characters other than letters, digits, ``.``, ``+``
    and ``-`` becomes one ``_`` (none at the part's ends); the non-empty parts
    are joined with ``_``. ``ValueError`` when nothing is left."""
    out = "_".join(filter(None, (_ID_ODD.sub("_", str(p)).strip("_") for p in parts)))
    if not out:
        raise ValueError(f"cannot make an id from {parts!r}")
    return out


def check_not_pipe(value: str, where: str) -> str:
    """``value`` unless it is a Kaldi pipe command (``... |``); such entries are
    never run, so they get one ``ValueError`` naming ``where``."""
    if value.rstrip().endswith("|"):
        raise ValueError(
            f"{where}: {value.strip()!r} is a pipe command; pipe entries are never run (list the path of an audio file)"
        )
    return value


def read_list(path: PathLike, min_fields: int = 2) -> List[Tuple[str, List[str]]]:
    """Lines of a list as ``(key, fields)``; errors (too few fields, invalid or
    duplicate key) name the file and line."""
    out = []
    seen = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < min_fields:
                raise ValueError(f"{path}:{lineno}: expected '<key> <value>', got {line.strip()!r}")
            check_utt_id(parts[0], f"{path}:{lineno}")
            if parts[0] in seen:
                raise ValueError(f"{path}:{lineno}: duplicate key {parts[0]}")
            seen.add(parts[0])
            out.append((parts[0], parts[1:]))
    return out


def read_dict(path: PathLike) -> Dict[str, List[str]]:
    """:func:`read_list` as ``{key: fields}``."""
    return dict(read_list(path))


def read_scp(path: PathLike) -> Dict[str, str]:
    """``<key> <path>`` lists; as in Kaldi, the rest of the line after the key is
    the path, so paths may contain spaces (MUSDB18 track folders do)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if len(parts) < 2:
                raise ValueError(f"{path}:{lineno}: expected '<key> <path>', got {line.strip()!r}")
            check_utt_id(parts[0], f"{path}:{lineno}")
            if parts[0] in out:
                raise ValueError(f"{path}:{lineno}: duplicate key {parts[0]}")
            out[parts[0]] = parts[1]
    return out


def write_list(path: PathLike, items: Iterable[Tuple[str, Union[str, Iterable[str]]]]) -> None:
    """Write ``key value`` lines sorted by key, atomically."""
    from tuss_plugin.fileio import atomic_write_text  # here: loading this module needs no package import

    lines = []
    for k, v in sorted(items, key=lambda kv: kv[0]):
        v = v if isinstance(v, str) else " ".join(v)
        lines.append(f"{k} {v}\n")
    atomic_write_text(path, "".join(lines))


def parse_fs(value: Union[str, int]) -> int:
    """``16k`` / ``44.1k`` / ``16000`` -> samples per second."""
    s = str(value).strip().lower()
    try:
        return int(round(float(s[:-1]) * 1000)) if s.endswith("k") else int(s)
    except ValueError:
        raise ValueError(f"invalid sampling rate {value!r} (use e.g. 16k, 44.1k or 48000)") from None
