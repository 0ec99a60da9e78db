# SPDX-License-Identifier: Apache-2.0
"""Batches of waveforms moved between sampling rates (validation at each corpus's own rate).

The TUSS authors validate a model trained at 48 kHz on every corpus at that
corpus's own rate: the mixture is resampled to 48 kHz, separated, and the
estimates are resampled back before the loss against the native references
(Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025; their
release resamples with torchaudio's windowed-sinc resampler). Here the one
resampler of the project is used, soxr HQ (:func:`tuss_plugin.fileio.audio.resample`),
as in inference; no gradient flows through it, so this serves validation only.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from tuss_plugin.fileio.audio import resample


def resample_batch(x: torch.Tensor, fs_in: int, fs_out: int, length: Optional[int] = None) -> torch.Tensor:
    """(B, L) waveforms at ``fs_in`` -> (B, L') at ``fs_out`` (soxr HQ, row by row, float32),
    on ``x``'s device and in its dtype; ``length``: cut or zero-pad to it (default: soxr's
    length, round(L * fs_out / fs_in))."""
    rows = x.detach().float().cpu().numpy()  # (B, L)
    out = [np.asarray(resample(r, int(fs_in), int(fs_out)), dtype=np.float32) for r in rows]
    n = max(len(o) for o in out) if length is None else int(length)
    y = np.zeros((len(out), n), dtype=np.float32)  # (B, n)
    for b, o in enumerate(out):
        y[b, : min(n, len(o))] = o[:n]
    return torch.from_numpy(y).to(device=x.device, dtype=x.dtype)
