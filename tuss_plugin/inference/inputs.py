# SPDX-License-Identifier: Apache-2.0
"""Checks of what :meth:`tuss_plugin.inference.SeparateAudio.__call__` is given:
a mixture held in memory and its sampling rate, each refused with one line."""

from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from tuss_plugin.utils.values import check_rate

# the in-memory API refuses arrays with more channels (a channel-first array is the usual cause)
MAX_CHANNELS = 64


def model_rate(config: dict, separator) -> Optional[int]:
    """The rate a model separates at: the training audio's (``fs`` of its config,
    which recipes store), else its separator's ``fs``, else ``separator_conf.fs``;
    None when none is known."""
    fs = config.get("fs") or getattr(separator, "fs", None) or (config.get("separator_conf") or {}).get("fs")
    return None if fs is None else int(fs)


def as_array(mixture) -> np.ndarray:
    """A numpy view of the input; tensors (any device, with gradients, bfloat16) included."""
    torch = sys.modules.get("torch")  # a tensor exists only where torch is imported
    if torch is not None and isinstance(mixture, torch.Tensor):
        t = mixture.detach().to("cpu")
        return (t.float() if t.is_floating_point() else t).numpy()
    return np.asarray(mixture)


def check_mixture(x: np.ndarray) -> np.ndarray:
    """``x`` if it is a finite float (n_samples,) or (n_samples, n_channels) array
    with samples, at most MAX_CHANNELS channels and no more channels than
    samples; ``ValueError`` otherwise (a channel-first array is the usual cause)."""
    if x.ndim not in (1, 2):
        raise ValueError(f"expected (n_samples,) or (n_samples, n_channels), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("the mixture has no samples")
    if x.ndim == 2 and x.shape[1] == 0:
        raise ValueError("the mixture has no channels")
    if x.ndim == 2 and (x.shape[1] > x.shape[0] or x.shape[1] > MAX_CHANNELS):
        raise ValueError(
            f"got shape {x.shape}: expected (n_samples, n_channels) with at most {MAX_CHANNELS} "
            "channels and no more channels than samples (transpose a channel-first array)"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"expected float samples, got {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("the mixture contains NaN or Inf samples")
    return x


def check_fs(fs) -> int:
    """The sampling rate as an int: a positive integer (Hz) up to MAX_FS, else ``ValueError``."""
    if isinstance(fs, (bool, np.bool_)):
        raise ValueError(f"invalid sampling rate {bool(fs)}: expected a positive integer (Hz)")
    try:
        fs_i = int(fs)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"invalid sampling rate {fs!r}") from None
    if fs_i <= 0 or fs_i != fs:
        raise ValueError(f"invalid sampling rate {fs!r}: expected a positive integer (Hz)")
    return check_rate(fs_i, minimum=1)  # arrays: any positive rate (files and options: MIN_FS)
