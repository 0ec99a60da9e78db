# SPDX-License-Identifier: Apache-2.0
"""The one rule for every text file this toolkit reads (lists, configs, tables).

A file is opened only if it is a regular file: a FIFO, device or socket is
refused in one line instead of blocking the command (the check is made on
the opened descriptor, opened non-blocking, so a file swapped in between
cannot slip through). Its bytes are decoded as UTF-8, strictly: an invalid
byte or a NUL is one line ``<file>:<line>: ...`` naming the byte's offset
in the file and its column in the line. A leading byte-order mark is removed
(editors on some systems write one; it would otherwise become part of the
first id). YAML is read with ``yaml.safe_load`` and every YAML problem (tags
included) is one line naming the file.

Standard library only (``utils/validate_data_dir.py`` and
:mod:`tuss_plugin.fileio.kaldi_io` use it without importing torch or numpy).
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any, Dict, List, Union

PathLike = Union[str, Path]

BOM = "\ufeff"
# the largest text file read whole (lists of a million utterances are ~100 MB)
MAX_TEXT_BYTES = 1 << 30


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (from ``st_mode``)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def regular_file_problem(path: PathLike) -> str:
    """Why ``path`` cannot be opened as a file ('' when it is a regular file,
    or a link to one)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISREG(st.st_mode):
        return ""
    return f"not a regular file ({file_kind(st.st_mode)})"


def check_regular_file(path: PathLike) -> Path:
    """``Path(path)`` if it is a regular file, else ``ValueError`` ``<path>: <problem>``."""
    problem = regular_file_problem(path)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return Path(path)


def read_bytes(path: PathLike, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file (``ValueError`` naming the file otherwise).

    Opened with ``O_NONBLOCK`` and checked on the descriptor: opening a FIFO
    this way returns at once, and it is refused before anything is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: not a regular file (a directory)") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: not a regular file ({file_kind(st.st_mode)})")
        if st.st_size > limit:
            raise ValueError(f"{path}: {st.st_size} bytes, more than a text file of this toolkit may hold ({limit})")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    finally:
        os.close(fd)


def _position(data: bytes, offset: int) -> str:
    """``<line>: byte <offset> (column <c>)`` of a byte offset, 1-based line and column."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"{line}: byte {offset} (line {line}, column {column})"


def decode_text(data: bytes, path: PathLike) -> str:
    """``data`` as UTF-8 text without a leading byte-order mark; ``ValueError``
    ``<path>:<line>: ...`` for an invalid byte or a NUL."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = _position(data, e.start)
        raise ValueError(f"{path}:{where}: invalid UTF-8 ({data[e.start : e.start + 1]!r}); save it as UTF-8") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise ValueError(f"{path}:{_position(data, nul)}: NUL byte; not a text file")
    return text[1:] if text.startswith(BOM) else text


def read_text(path: PathLike) -> str:
    """The text of a regular UTF-8 file (see the module docstring)."""
    return decode_text(read_bytes(path), path)


def open_text(path: PathLike) -> io.StringIO:
    """:func:`read_text` as a file object (``with open_text(p) as f: for line in f``)."""
    return io.StringIO(read_text(path), newline="")


def read_lines(path: PathLike) -> List[str]:
    """The lines of :func:`read_text` without their line ends."""
    return read_text(path).splitlines()


def load_yaml(path: PathLike, what: str = "YAML file") -> Any:
    """``yaml.safe_load`` of a regular UTF-8 file; ``ValueError`` naming the file
    for any problem (unreadable, not YAML, a tag such as ``!!python/object``)."""
    import yaml

    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"{path}: not a readable {what} (YAML error: {msg})") from None


def load_yaml_mapping(path: PathLike, what: str = "a YAML mapping") -> Dict[str, Any]:
    """:func:`load_yaml` of a file that must hold a mapping with string keys
    (an empty file is ``{}``); ``ValueError`` ``<path>: not <what> ...`` otherwise."""
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not {what} (holds a {type(data).__name__}, expected 'key: value' lines)")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ValueError(f"{path}: not {what} (key {bad[0]!r} is not a name)")
    return data
