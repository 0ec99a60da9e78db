# SPDX-License-Identifier: Apache-2.0
"""Spectrogram figures (PNG): ``tuss-separate --spectrogram`` and the examples of
recipe stage 6 (``tuss_plugin.bin.plot_examples``).

One colour scale per figure (the loudest cell's peak down to ``dynamic_range_db``
below it), so that a quiet output looks quiet next to its mixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

Cell = Optional[Tuple[np.ndarray, str]]  # (signal (n_samples,) or (n_samples, channels), title); None: empty


def _mono(x: np.ndarray, nfft: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x if x.ndim == 1 else x.mean(axis=1)
    return np.pad(x, (0, nfft - len(x))) if len(x) < nfft else x


def spectrogram_grid(
    path: Path,
    rows: Sequence[Sequence[Cell]],
    fs: int,
    title: Optional[str] = None,
    dynamic_range_db: float = 80.0,
    dpi: int = 80,
) -> None:
    """Write a PNG of spectrograms laid out as ``rows`` (each a list of cells of one
    row; all rows as long as the longest), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.mlab as mlab
    import matplotlib.pyplot as plt

    from tuss_plugin.fileio.atomic import atomic_write

    nfft = 1024 if fs >= 32000 else 512
    ncols = max(len(r) for r in rows)
    specs = {}  # (row, col) -> (power (freqs, frames), title, duration)
    for i, r in enumerate(rows):
        for j, c in enumerate(r):
            if c is not None:
                x = _mono(c[0], nfft)
                power = mlab.specgram(x, NFFT=nfft, Fs=fs, noverlap=nfft * 3 // 4)[0]
                specs[(i, j)] = (power, c[1], len(x) / fs)
    vmax = 10 * np.log10(max((float(p.max()) for p, _, _ in specs.values()), default=1.0) + 1e-20)
    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(5.5 * ncols if ncols > 1 else 10, 2.2 * len(rows)), sharex=True, squeeze=False
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for (i, j), (power, t, duration) in specs.items():
        ax = axes[i, j]
        ax.set_axis_on()
        db = 10 * np.log10(np.maximum(power, 10 ** ((vmax - dynamic_range_db - 10) / 10)))
        ax.imshow(
            db, origin="lower", aspect="auto", cmap="magma", extent=(0.0, duration, 0.0, fs / 2),
            vmin=vmax - dynamic_range_db, vmax=vmax, interpolation="nearest",
        )  # fmt: skip
        ax.set_ylabel("Hz")
        ax.set_title(t, fontsize=9)
    for j in range(ncols):
        axes[-1, j].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    plt.close(fig)
