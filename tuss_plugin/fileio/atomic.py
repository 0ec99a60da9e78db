# SPDX-License-Identifier: Apache-2.0
"""Atomic writing (outputs appear complete or not at all), clean-up of
interrupted writes, output locks and full-disk reports.

Temporary files are named ``.<target name>.tuss.<host>.<pid>.<random><suffix>``
beside their target: :func:`sweep_temp_files` recognises this toolkit's own
leftovers by that name and removes those whose writer (same host, that pid) is
no longer running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Union

PathLike = Union[str, Path]

# .<target>.tuss.<host>.<pid>.<8 random characters of mkstemp><suffix of the target>
_TEMP_NAME = re.compile(
    r"\.(?P<target>.+)\.tuss\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]*)?"
)


def current_umask() -> int:
    """The process's file-mode creation mask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_tag() -> str:
    """This machine's name as it appears in temporary file names."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "localhost"


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (of any user)."""
    if pid <= 0:
        return True  # not a process id: never treat its files as abandoned
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def _own_prefix(path: Path) -> str:
    """The name prefix of this process's temporary files for ``path``."""
    return f".{path.name}.tuss.{_host_tag()}.{os.getpid()}."


def remove_own_temps(path: PathLike) -> None:
    """Remove this process's temporary files for ``path`` (:func:`temp_path`).

    By name, not by a list the writer kept: a signal can arrive after
    ``mkstemp`` made a file and before its name reached the writer's list.
    """
    path = Path(path)
    prefix = _own_prefix(path)
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix) and entry.name.endswith(path.suffix) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


def temp_path(path: PathLike) -> str:
    """A new empty temporary file beside ``path`` (same directory, so a rename is atomic).

    Its name, ``.<name>.tuss.<host>.<pid>.<random><suffix>``, tells
    :func:`sweep_temp_files` which process wrote it.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_own_prefix(path), suffix=path.suffix)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs get the usual mode
    finally:
        os.close(fd)
    return tmp


def atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it."""
    try:
        tmp = temp_path(path)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        remove_own_temps(path)
        if isinstance(e, OSError) and not e.filename:  # a failed write (full disk): name the file
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[PathLike]) -> Iterator[List[str]]:
    """Write several files at once: yields temporary paths beside ``paths``.

    All temporaries are renamed onto their targets when the block ends without
    an exception; on any exception (including ``KeyboardInterrupt``) they are
    deleted and no target is touched.
    """
    tmps: List[str] = []
    try:
        for p in paths:
            tmps.append(temp_path(p))
        yield tmps
        for tmp, p in zip(tmps, paths):
            os.replace(tmp, p)
    except BaseException:
        for p in paths:
            remove_own_temps(p)
        raise


def sweep_temp_files(directory: PathLike) -> List[Path]:
    """Remove this toolkit's temporary files left in ``directory`` by killed writers.

    Only files named by :func:`temp_path` on this machine whose writing process
    no longer exists are removed (files of running writers, of other machines
    and any other file stay). Returns the removed paths; a missing directory
    has none.
    """
    removed: List[Path] = []
    host = _host_tag()
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        m = _TEMP_NAME.fullmatch(entry.name)
        if m is None or m["host"] != host or (m["suffix"] or "") != Path(m["target"]).suffix:
            continue
        if not entry.is_file(follow_symlinks=False) or _pid_alive(int(m["pid"])):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:  # swept by a parallel job
            continue
        removed.append(Path(entry.path))
    return removed


class Terminated(BaseException):
    """SIGTERM received (see :func:`raise_on_sigterm`); like ``KeyboardInterrupt``,
    not an ``Exception``, so that only clean-up code sees it on the way out."""


@contextlib.contextmanager
def raise_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` inside the block.

    The exception unwinds through the ``except BaseException`` / ``finally``
    clauses of the atomic writers, so temporary files are removed as on Ctrl-C.
    (kill -9 cannot be caught; :func:`sweep_temp_files` removes what it
    leaves.) Only the main thread can handle signals: elsewhere the block runs
    unchanged.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame) -> None:
        raise Terminated(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LockedError(RuntimeError):
    """Another process holds the lock (see :func:`exclusive_lock`)."""


def _lock_fd(path: Path) -> int:
    """An open descriptor of ``path`` holding an exclusive ``flock`` (see :func:`exclusive_lock`)."""
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(f"{path} is locked by another process") from None
        except OSError:  # no locking on this file system: run unlocked
            return fd
        # the previous holder may have removed the file between our open and flock
        try:
            st, fst = os.stat(path), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path: PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created, removed on release).

    Uses ``flock``, so the lock of a killed holder is released with it (its
    leftover file is simply taken over). Raises :class:`LockedError` at once if
    another process holds it. On file systems without ``flock`` the block runs
    unlocked.
    """
    path = Path(path)
    fd = _lock_fd(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())  # for people looking at it
        yield
    finally:
        try:
            os.unlink(path)  # still locked: no other process holds this file
        except FileNotFoundError:
            pass
        os.close(fd)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, _w)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: PathLike, dst: PathLike) -> None:
    """Copy ``src`` to ``dst`` so that ``dst`` is always either the old or the new file."""

    def _w(tmp: str) -> None:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())

    atomic_write(dst, _w)


# below this many free bytes, a failed write is reported as a full disk
LOW_DISK_BYTES = 1 << 20


def disk_full_problem(error: BaseException, directory: PathLike) -> Optional[str]:
    """``no space left on device (...)`` when ``error`` of a write into
    ``directory`` comes from a full disk or quota (errno ENOSPC/EDQUOT, or
    libsndfile's bare "System error." with almost no space left), else None."""
    import errno

    if not isinstance(error, (OSError, RuntimeError)):
        return None  # bad input, not the disk
    code = getattr(error, "errno", None)
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        free = None
    if code == errno.EDQUOT:
        return f"disk quota exceeded in {directory}"
    if code == errno.ENOSPC or (free is not None and free < LOW_DISK_BYTES):
        left = f"{free} bytes free" if free is not None else "no space"
        return f"no space left on device in {directory} ({left}); nothing partial was kept"
    return None
