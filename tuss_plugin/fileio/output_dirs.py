# SPDX-License-Identifier: Apache-2.0
"""The one owner of the rules for where commands write and what they may delete.

* A name derived from an input (``tuss-separate``'s ``<input stem>``) is never
  empty, ``.`` or ``..`` and has no ``/`` (:func:`check_derived_name`), so the
  directory it names is a new child of the output dir, never the output dir
  itself or its parent.
* A command never writes into or deletes through a symbolic link it did not
  make (:func:`check_not_symlink`).
* An output dir is never an input, never contains an input and lies inside an
  input only where the command's documented layout puts it there (the
  inference dirs inside an experiment dir, ``scoring/`` inside an inference
  dir): :func:`check_output_dir`.
* A command deletes only files it wrote itself: each output dir it cleans
  holds a manifest of the files the last run wrote (:class:`Manifest`), and a
  later run removes only listed files that it did not write again, never a
  file that merely matches a pattern.

Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, Path]


def derived_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot name a directory inside an output dir, or None."""
    if name in ("", ".", ".."):
        return f"gives the name {name!r}, which is not a new directory"
    if "/" in name or "\0" in name:
        return f"gives the name {name!r}, which is not a single file name"
    return None


def check_derived_name(name: str, source: PathLike) -> str:
    """``name`` (derived from ``source``) if it names a new child of an output
    dir; ``ValueError`` ``<source>: ...`` otherwise."""
    problem = derived_name_problem(name)
    if problem:
        raise ValueError(f"{source}: its name {problem}; rename the file")
    return name


def check_not_symlink(path: PathLike, what: str = "output directory") -> Path:
    """``Path(path)`` unless it is a symbolic link (``ValueError``): this
    toolkit neither writes into nor deletes through a link it did not make."""
    p = Path(path)
    if p.is_symlink():
        raise ValueError(
            f"{p}: the {what} is a symbolic link (to {os.readlink(p)}); "
            "refusing to write or delete through it: remove the link or choose another output"
        )
    return p


def _real(path: PathLike) -> Path:
    return Path(os.path.realpath(path))


def _inside(a: Path, b: Path) -> bool:
    """``a`` is ``b`` or below it (both resolved)."""
    return a == b or b in a.parents


def check_output_dir(
    out: PathLike,
    inputs: Sequence[Tuple[str, Optional[PathLike]]],
    nested_ok: Sequence[str] = (),
) -> None:
    """Refuse (``ValueError``) an output dir ``out`` that is, contains or lies
    inside one of ``inputs`` (``(option, path)``; None skipped; links resolved).

    ``nested_ok`` names the options whose input may hold ``out`` in a
    subdirectory (the command's layout: ``exp/enh_x/enhanced_test`` inside the
    model's experiment dir); ``out`` may still never be that input itself nor
    contain it.
    """
    o = _real(out)
    for option, path in inputs:
        if path is None:
            continue
        i = _real(path)
        if o == i:
            raise ValueError(f"{out}: the output dir is the input of {option} ({path}); choose another output dir")
        if _inside(i, o):
            raise ValueError(
                f"{out}: the output dir contains the input of {option} ({path}); choose another output dir"
            )
        if _inside(o, i) and option not in nested_ok:
            raise ValueError(
                f"{out}: the output dir lies inside the input of {option} ({path}); choose another output dir"
            )


def check_output_file(out: PathLike, inputs: Iterable[PathLike], what: str = "output") -> None:
    """Refuse (``ValueError``) an output file that is one of ``inputs`` (links resolved)."""
    o = _real(out)
    for p in inputs:
        if _real(p) == o:
            raise ValueError(f"{out}: the {what} is also an input of this command; choose another file")


def check_output_path(
    out: str,
    input_files: Iterable[PathLike] = (),
    option: str = "--output",
    ours: Optional[Callable[[Path], bool]] = None,
) -> Path:
    """An output file path checked before any work: not empty, not a directory,
    not one of ``input_files``, and an existing file there is replaced only if
    ``ours(path)`` says this command wrote it (so no list, audio or other file
    of the user is ever replaced). Returns it as a ``Path``; ``ValueError`` otherwise."""
    if not out or not out.strip():
        raise ValueError(f"{option}: empty path; give a file name")
    p = Path(out)
    if out.endswith("/") or p.is_dir():
        raise ValueError(f"{out}: {option} is a directory; give a file name")
    check_output_file(p, input_files, option)
    if p.exists() and ours is not None and not ours(p):
        raise ValueError(f"{out}: exists and was not written by this command; refusing to replace it")
    return p


class Manifest:
    """The files a command wrote into ``directory`` last time, kept in the
    hidden file ``name`` there (one JSON list of plain file names).

    :meth:`replace` records this run's files and removes those of the last
    run that this run did not write: only listed names, only regular files
    directly in ``directory`` (never a link, never a subdirectory).
    """

    def __init__(self, directory: PathLike, name: str) -> None:
        self.dir = Path(directory)
        self.path = self.dir / name

    def exists(self) -> bool:
        return self.path.is_file() and not self.path.is_symlink()

    def read(self) -> List[str]:
        """The names recorded last time ([] when there is no valid manifest)."""
        if not self.exists():
            return []
        try:
            names = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(names, list):
            return []
        return [n for n in names if isinstance(n, str) and derived_name_problem(n) is None]

    def write(self, names: Iterable[str]) -> None:
        from tuss_plugin.fileio.atomic import atomic_write_text

        atomic_write_text(self.path, json.dumps(sorted(set(names))) + "\n")

    def replace(self, written: Iterable[str]) -> List[Path]:
        """Record ``written`` (names in the directory) and remove what the last
        run wrote and this one did not; returns the removed paths."""
        keep = set(written)
        removed = []
        for name in self.read():
            p = self.dir / name
            if name in keep or p.is_symlink() or not p.is_file():
                continue
            p.unlink(missing_ok=True)
            removed.append(p)
        self.write(keep)
        return removed
