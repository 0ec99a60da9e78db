# SPDX-License-Identifier: Apache-2.0
"""Audio helpers shared by inference, the CLI and the recipe tools."""

from __future__ import annotations

import numpy as np


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Resample (n_samples,) or (n_samples, C) float audio with soxr (HQ)."""
    if fs_in == fs_out:
        return x
    import soxr

    return soxr.resample(x, fs_in, fs_out, quality="HQ").astype(np.float32)
