# SPDX-License-Identifier: Apache-2.0
"""Reading and writing Kaldi-style text lists (``<key> <value...>`` per line)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Tuple, Union

from tuss_plugin.fileio import atomic_write_text

PathLike = Union[str, Path]


def read_list(path: PathLike, min_fields: int = 2) -> List[Tuple[str, List[str]]]:
    """Lines of a list as ``(key, fields)``; errors name the file and line."""
    out = []
    seen = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < min_fields:
                raise ValueError(f"{path}:{lineno}: expected '<key> <value>', got {line.strip()!r}")
            if parts[0] in seen:
                raise ValueError(f"{path}:{lineno}: duplicate key {parts[0]}")
            seen.add(parts[0])
            out.append((parts[0], parts[1:]))
    return out


def read_dict(path: PathLike) -> Dict[str, List[str]]:
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
            if parts[0] in out:
                raise ValueError(f"{path}:{lineno}: duplicate key {parts[0]}")
            out[parts[0]] = parts[1]
    return out


def write_list(path: PathLike, items: Iterable[Tuple[str, Union[str, Iterable[str]]]]) -> None:
    """Write ``key value`` lines sorted by key, atomically."""
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
