# SPDX-License-Identifier: Apache-2.0
"""Streaming audio through a model: block-wise reading and resampling of the
input (:func:`read_blocks`, :class:`ForwardReader`) and block-wise writing of
the outputs (:func:`write_blocks`), so memory depends on the segment, not on
the length of the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence, Tuple, Union

import numpy as np


def resampled_length(n: int, fs_in: int, fs_out: int) -> int:
    """Number of samples soxr produces for ``n`` input samples (round half up)."""
    if fs_in == fs_out:
        return n
    return (2 * n * fs_out + fs_in) // (2 * fs_in)


class ForwardReader:
    """A long signal read forward only, sliced like an array.

    ``reader[a:b]`` returns samples ``a..b-1`` as float32 (b - a, C); starts must
    not decrease, and samples before the last start are dropped, so memory is
    bounded by the largest slice plus one block. Samples the block iterator
    does not deliver up to ``n`` are zeros; extra samples are ignored.

    Args:
        blocks: iterator of float32 blocks (n_block, C).
        n: nominal length.
        channels: C.
    """

    def __init__(self, blocks: Iterator[np.ndarray], n: int, channels: int):
        self._blocks = iter(blocks)
        self._n = int(n)
        self._c = int(channels)
        self._buf = np.zeros((0, self._c), dtype=np.float32)  # samples [_start, _start + len)
        self._start = 0
        self._done = False

    @property
    def shape(self) -> Tuple[int, int]:
        return (self._n, self._c)

    def _drop_before(self, start: int) -> None:
        while start > self._start + self._buf.shape[0] and not self._done:
            self._start += self._buf.shape[0]
            self._buf = self._buf[:0]
            self._pull()
        cut = min(max(start - self._start, 0), self._buf.shape[0])
        self._buf = self._buf[cut:]
        self._start += cut

    def _pull(self) -> bool:
        try:
            block = next(self._blocks)
        except StopIteration:
            self._done = True
            return False
        block = np.asarray(block, dtype=np.float32).reshape(-1, self._c)  # (n_block, C)
        self._buf = np.concatenate([self._buf, block]) if self._buf.shape[0] else block
        return True

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("ForwardReader supports x[a:b] only")
        start = 0 if item.start is None else int(item.start)
        stop = self._n if item.stop is None else min(int(item.stop), self._n)
        if start < self._start:
            raise ValueError(f"ForwardReader: sample {start} was already dropped (at {self._start})")
        self._drop_before(start)
        while self._start + self._buf.shape[0] < stop and not self._done:
            self._pull()
        out = self._buf[start - self._start : stop - self._start]
        if out.shape[0] < stop - start:
            out = np.concatenate([out, np.zeros((stop - start - out.shape[0], self._c), np.float32)])
        return out


def read_blocks(path: Union[str, Path], fs_out: int, blocksize: int = 1 << 16) -> Iterator[np.ndarray]:
    """Stream an audio file as float32 blocks (n_block, C) resampled to ``fs_out``.

    Uses soxr's streaming resampler with the quality of
    :func:`tuss_plugin.fileio.audio.resample` (HQ), which gives the same samples as
    resampling the whole file at once. Raises ``ValueError`` naming the file
    on NaN/Inf samples.
    """
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        fs_in, channels = f.samplerate, f.channels
        stream = None
        if fs_in != fs_out:
            import soxr

            stream = soxr.ResampleStream(fs_in, fs_out, channels, dtype="float32", quality="HQ")
        pos = 0
        it = f.blocks(blocksize=blocksize, dtype="float32", always_2d=True)
        while True:
            try:
                block = next(it)  # (n_block, C)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - libsndfile errors in the middle of a file
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ValueError(f"{path}: cannot read audio after {pos / fs_in:.3f} s ({msg})") from None
            bad = ~np.isfinite(block).all(axis=1)  # (n_block,)
            if bad.any():
                t = (pos + int(np.argmax(bad))) / fs_in
                raise ValueError(f"{path}: contains NaN or Inf samples (first at {t:.3f} s)")
            pos += block.shape[0]
            yield stream.resample_chunk(block) if stream is not None else block
    if stream is not None:
        yield stream.resample_chunk(np.zeros((0, channels), np.float32), last=True)


def check_length(n: int, fs: int, fs_model: int, where: str = "") -> None:
    """Refuse a signal that resamples to no sample at all at the model's rate."""
    if resampled_length(n, fs, fs_model) == 0:
        raise ValueError(
            f"{where}shorter than one sample at the model's rate "
            f"({n} samples at {fs} Hz; the model runs at {fs_model} Hz)"
        )


def write_blocks(
    blocks: Iterable[np.ndarray],
    files: Sequence,
    fs_model: int,
    fs_in: int,
    channels: int,
    n_in: int,
    path: Union[str, Path],
) -> None:
    """Write output blocks (N, n_block, C) at ``fs_model`` to ``files`` (one open
    ``soundfile.SoundFile`` per output, at ``fs_in`` with ``channels``), resampled
    on the fly and cut or zero-padded to ``n_in`` samples. Raises ``ValueError``
    naming ``path`` (the input) for a wrong number of outputs or NaN/Inf outputs.
    """
    n_out = len(files)
    written = 0
    stream = None
    if fs_model != fs_in:
        import soxr

        stream = soxr.ResampleStream(fs_model, fs_in, n_out * channels, dtype="float32", quality="HQ")

    def emit(y: np.ndarray) -> None:  # y (n_block, N * C) at the input rate
        nonlocal written
        take = min(y.shape[0], n_in - written)
        for k, f in enumerate(files):
            f.write(y[:take, k * channels : (k + 1) * channels])
        written += take

    for block in blocks:  # (N, n_block, C) at the model rate
        if block.shape[0] != n_out:
            raise ValueError(f"{path}: the model gave {block.shape[0]} outputs for {n_out} prompts")
        if not np.isfinite(block).all():
            raise ValueError(f"{path}: the model produced NaN or Inf outputs (broken checkpoint?)")
        y = np.ascontiguousarray(block.transpose(1, 0, 2).reshape(block.shape[1], -1))  # (n_block, N*C)
        emit(stream.resample_chunk(y) if stream is not None else y)
    if stream is not None:
        emit(stream.resample_chunk(np.zeros((0, n_out * channels), np.float32), last=True))
    if written < n_in:
        emit(np.zeros((n_in - written, n_out * channels), np.float32))


class SegmentProgress:
    """Iterate blocks while advancing a progress bar by the segments consumed."""

    def __init__(self, blocks: Iterator[np.ndarray], bar):
        self.blocks, self.bar = blocks, bar

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for b in self.blocks:
                self.bar.update(1)
                yield b
        finally:
            self.bar.close()
