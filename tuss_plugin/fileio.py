# SPDX-License-Identifier: Apache-2.0
"""File helpers: atomic writing (outputs appear complete or not at all) and
checks of input audio files that fail with one line naming the file."""
from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, Path]

# subtypes whose samples can be NaN or Inf (integer PCM cannot)
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_path(path: PathLike) -> str:
    """A new empty temporary file beside ``path`` (same directory, so a rename is atomic)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    finally:
        os.close(fd)
    return tmp


def atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it."""
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
        for tmp in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


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


def _wav_data_size(path: PathLike) -> Optional[Tuple[int, int, int]]:
    """(declared data bytes, bytes present, block align) of a RIFF/WAVE file, else None."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        align = 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt = f.read(min(csize, 16))
                if len(fmt) >= 14:
                    align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                return csize, size - pos - 8, align
            pos += 8 + csize + (csize & 1)
    return None


def check_audio_file(path: PathLike, scan_nonfinite: bool = True, blocksize: int = 1 << 16):
    """Check an input audio file; returns its ``soundfile`` info.

    Raises ``ValueError`` with one line ``<path>: <problem>`` for a missing
    path, a directory, a file soundfile cannot read (empty, not audio,
    malformed header), a WAV whose data chunk is shorter than its header
    declares (truncated copy), a file without samples, and (``scan_nonfinite``,
    float files only, read block-wise) NaN or Inf samples.
    """
    import numpy as np
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise ValueError(f"{path}: no such file")
    if p.is_dir():
        raise ValueError(f"{path}: is a directory, not an audio file")
    try:
        info = sf.info(str(p))
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a readable audio file ({msg})") from None
    try:
        wav = _wav_data_size(p)
    except (OSError, struct.error):
        wav = None
    if wav is not None:
        declared, present, align = wav
        # 0 and 0xFFFFFFFF mark a length unknown to the writer (streamed recordings)
        if declared not in (0, 0xFFFFFFFF) and present < declared:
            if align > 0:
                what = f"declares {declared // align} samples, the file holds {present // align}"
            else:
                what = f"declares {declared} data bytes, the file holds {present}"
            raise ValueError(f"{path}: truncated audio file (the header {what})")
    if info.frames == 0:
        raise ValueError(f"{path}: contains no samples")
    if scan_nonfinite and info.subtype in FLOAT_SUBTYPES:
        pos, first_bad = 0, None
        try:
            with sf.SoundFile(str(p)) as f:
                for block in f.blocks(blocksize=blocksize, dtype="float32", always_2d=True):
                    bad = ~np.isfinite(block).all(axis=1)  # (n_block,)
                    if bad.any():
                        first_bad = pos + int(np.argmax(bad))
                        break
                    pos += block.shape[0]
        except Exception as e:  # noqa: BLE001
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{path}: cannot read audio ({msg})") from None
        if first_bad is not None:
            t = first_bad / info.samplerate
            raise ValueError(f"{path}: contains NaN or Inf samples (first at {t:.3f} s)")
    return info
