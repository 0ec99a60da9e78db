# SPDX-License-Identifier: Apache-2.0
"""Segment-wise (CSS-style) processing: segments, cross-fades and the stitcher.

A long recording is separated in windows of ``segment_size`` seconds every
``hop_size`` seconds (:func:`segment_starts`); :class:`OverlapAdd` adds the
windows' outputs with linear cross-fades over the overlaps, after reordering
interchangeable outputs to match the previous window (:func:`align_outputs`:
outputs of one repeated prompt, Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025, Sec. II-B, searched by
:func:`tuss_plugin.loss.permutation.best_assignment`).
"""

from __future__ import annotations

import math
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tuss_plugin.loss.permutation import best_assignment, pair_scores


def _crossfade(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Weights of one segment: linear ramps over the overlaps, 1 elsewhere."""
    w = np.ones(length, dtype=np.float32)
    if fade_in > 0:
        w[:fade_in] = np.arange(1, fade_in + 1, dtype=np.float32) / (fade_in + 1)
    if fade_out > 0:
        w[length - fade_out :] = np.minimum(
            w[length - fade_out :], np.arange(fade_out, 0, -1, dtype=np.float32) / (fade_out + 1)
        )
    return w


def segment_starts(n: int, seg: int, hop: int) -> List[int]:
    """Start samples of the segments covering ``n`` samples (the last one ends at n)."""
    if n <= seg:
        return [0]
    starts = list(range(0, n - seg, hop))
    if not starts or starts[-1] != n - seg:
        starts.append(n - seg)
    return starts


def check_segment_values(
    segment_size: Optional[float],
    hop_size: Optional[float],
    names: Tuple[str, str] = ("segment_size", "hop_size"),
) -> None:
    """Segment settings in seconds: a segment in (0, MAX_SECONDS] (:func:`tuss_plugin.utils.values.check_seconds`),
    a finite hop in (0, segment]."""
    from tuss_plugin.utils.values import check_seconds

    seg_name, hop_name = names
    check_seconds(segment_size, seg_name)
    if hop_size is not None and (segment_size is None or not math.isfinite(hop_size)):
        raise ValueError(f"{hop_name} must be a finite number of seconds in (0, {seg_name}], got {hop_size}")
    if hop_size is not None and not 0 < hop_size <= segment_size:
        raise ValueError(f"{hop_name} must be in (0, {seg_name}] seconds, got {hop_size}")


def segment_samples(segment_size: float, hop_size: float, fs: int) -> Tuple[int, int]:
    """(segment, hop) in samples at ``fs`` of settings in seconds (at least 1 each)."""
    return max(1, int(round(segment_size * fs))), max(1, int(round(hop_size * fs)))


def align_outputs(prev: np.ndarray, new: np.ndarray, groups: Sequence[Sequence[int]]) -> List[int]:
    """Order of the outputs of ``new`` that matches ``prev`` best: ``new[order]``.

    prev, new: (N, overlap, C) on the same samples. Outputs are exchanged only
    within a group (output positions of one repeated prompt, or all outputs of
    a separator without output slots), to maximise the summed correlation
    ``sum(prev[i] * new[j])`` over the group; ties keep the first best
    permutation (itertools order).
    """
    groups = [list(g) for g in groups if len(g) > 1]
    order = list(range(new.shape[0]))
    if not groups:
        return order
    n = new.shape[0]
    scores = pair_scores((n, n), groups, lambda i, j: float(np.sum(prev[i] * new[j])))  # (N, N)
    for i, j in best_assignment(scores, groups, maximize=True):
        order[i] = j
    return order


class OverlapAdd:
    """The stitcher of segment-wise processing; owns the pending samples.

    Segments of ``seg`` samples every ``hop`` cover ``n`` samples
    (:meth:`segments`); :meth:`add` takes the outputs (N, l, C) of the next
    segment, aligns the outputs of each group to the previous segment on the
    overlap (:func:`align_outputs`), adds them with linear cross-fades
    (:func:`_crossfade`) and returns the samples that no later segment touches,
    normalised by the summed weights. Pending samples never exceed one segment.

    Args:
        n: samples of the recording (at the model's rate).
        seg, hop: segment length and shift in samples (see :func:`segment_samples`).
        groups: output positions that may be exchanged between segments.
    """

    def __init__(self, n: int, seg: int, hop: int, groups: Sequence[Sequence[int]] = ()):
        self.n, self.seg = int(n), int(seg)
        self.starts = segment_starts(self.n, self.seg, int(hop))
        self.groups = [list(g) for g in groups if len(g) > 1]
        self._acc: Optional[np.ndarray] = None  # (N, pending, C): weighted sum of outputs
        self._wsum: Optional[np.ndarray] = None  # (pending,): sum of the weights
        self._acc_start = 0  # the first pending sample
        self._next = 0  # the segment add() takes next

    @classmethod
    def from_seconds(
        cls, n: int, fs: int, segment_size: float, hop_size: float, groups: Sequence[Sequence[int]] = ()
    ) -> "OverlapAdd":
        """The stitcher of settings in seconds at the rate ``fs``."""
        seg, hop = segment_samples(segment_size, hop_size, fs)
        return cls(n, seg, hop, groups)

    def __len__(self) -> int:
        return len(self.starts)

    def segments(self) -> Iterator[Tuple[int, int]]:
        """(start, end) samples of each segment, in order."""
        for start in self.starts:
            yield start, min(start + self.seg, self.n)

    def add(self, y: np.ndarray) -> Optional[np.ndarray]:
        """Add the outputs y (N, l, C) of the next segment; return the samples
        now final (N, n_final, C), or None if there are none yet."""
        i, starts = self._next, self.starts
        start = starts[i]
        end = min(start + self.seg, self.n)
        acc, wsum, acc_start = self._acc, self._wsum, self._acc_start
        fade_in = (acc_start + acc.shape[1] - start) if acc is not None else 0
        fade_out = (end - starts[i + 1]) if i + 1 < len(starts) else 0
        if acc is not None and fade_in > 0 and self.groups:
            ov = slice(start - acc_start, acc.shape[1])
            prev = acc[:, ov] / wsum[None, ov, None]  # (N, overlap, C)
            y = y[align_outputs(prev, y[:, :fade_in], self.groups)]
        w = _crossfade(end - start, max(fade_in, 0), max(fade_out, 0))  # (l,)
        if acc is None:
            acc, wsum, acc_start = y * w[None, :, None], w, start
        else:
            keep = start - acc_start  # samples of acc before this segment
            new_len = end - acc_start
            acc2 = np.zeros((y.shape[0], new_len, y.shape[2]), dtype=np.float32)  # (N, new_len, C)
            w2 = np.zeros(new_len, dtype=np.float32)
            acc2[:, : acc.shape[1]] = acc
            w2[: wsum.shape[0]] = wsum
            acc2[:, keep:] += y * w[None, :, None]
            w2[keep:] += w
            acc, wsum = acc2, w2
        self._next = i + 1
        # everything before the next segment's start is final
        final = (starts[i + 1] if i + 1 < len(starts) else self.n) - acc_start
        out = None
        if final > 0:
            out = acc[:, :final] / wsum[None, :final, None]  # (N, final, C)
            acc, wsum, acc_start = acc[:, final:], wsum[final:], acc_start + final
        self._acc, self._wsum, self._acc_start = acc, wsum, acc_start
        return out


def check_segment_span(
    segment_size: float,
    hop_size: float,
    fs: int,
    window: int,
    shift: int,
    names: Tuple[str, str] = ("segment_size", "hop_size"),
) -> None:
    """Refuse a segment shorter than one STFT ``window`` or a hop shorter than one
    frame ``shift`` (samples at ``fs``; 0: no bound), naming the option (``names``)."""
    for value, name, bound, what in (
        (segment_size, names[0], window, "window"),
        (hop_size, names[1], shift, "frame shift"),
    ):
        if bound and int(round(value * fs)) < bound:
            least = math.ceil(bound / fs * 1e4) / 1e4
            raise ValueError(
                f"{name} {value:g} s is shorter than one STFT {what} of this model "
                f"({bound} samples at {fs} Hz); use at least {least:g} s"
            )
