# SPDX-License-Identifier: Apache-2.0
"""Audio files and signals: checks of input audio files that fail with one line
naming the file, the clipping check of fixed-point outputs, and the one
resampler of the project (soxr HQ).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

PathLike = Union[str, Path]

# subtypes whose samples can be NaN or Inf (integer PCM cannot)
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Resample (n_samples,) or (n_samples, C) float audio with soxr (HQ)."""
    if fs_in == fs_out:
        return x
    import soxr

    return soxr.resample(x, fs_in, fs_out, quality="HQ").astype(np.float32)


def check_no_clipping(x, subtype: str, path: PathLike) -> None:
    """Refuse (``ValueError`` naming ``path``) to write samples beyond full scale
    (|x| > 1) with a fixed-point subtype (``PCM_16``, ``PCM_24``, ...), which
    would clip them: say how many, and that ``FLOAT`` keeps them."""
    import numpy as np

    if subtype.upper() in FLOAT_SUBTYPES:
        return
    over = int(np.count_nonzero(np.abs(x) > 1.0))
    if over:
        share = 100.0 * over / max(1, np.size(x))
        raise ValueError(
            f"{path}: {over} of {np.size(x)} samples ({share:.3f}%) exceed full scale and would clip "
            f"in {subtype}; use --subtype FLOAT (or scale the audio)"
        )


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


def _file_kind(path: Path) -> str:
    """What a non-regular file is, in words."""
    from tuss_plugin.fileio.textfiles import file_kind  # the one rule for files the toolkit opens

    return file_kind(path.stat().st_mode)


def check_audio_file(path: PathLike, scan_nonfinite: bool = True, blocksize: int = 1 << 16):
    """Check an input audio file; returns its ``soundfile`` info.

    Raises ``ValueError`` with one line ``<path>: <problem>`` for a missing
    path, a directory, a FIFO, device or socket (never opened: a FIFO would
    block), a file soundfile cannot read (empty, not audio,
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
    if not p.is_file():  # opening a FIFO would wait for a writer forever
        raise ValueError(f"{path}: not a regular file ({_file_kind(p)}); give an audio file")
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
    from tuss_plugin.utils.values import check_rate  # the owner of the rates this toolkit takes

    check_rate(info.samplerate, f"sampling rate of {path}:")
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
