# SPDX-License-Identifier: Apache-2.0
"""Speech metrics of one separated output against its reference, as ESPnet's
enhancement recipes report them beside SI-SNR/SDR: STOI and ESTOI (``pystoi``,
in percent) and PESQ MOS-LQO wide-band (16 kHz) and narrow-band (8 kHz)
(``pesq``). A value that cannot be computed is NaN with a reason.
"""

from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np

from tuss_plugin.fileio.audio import resample
from tuss_plugin.utils.errors import MissingPackageError, one_line

# reference prompts whose outputs get the speech metrics
SPEECH_PROMPTS = ("speech",)
SPEECH_COLUMNS = ["stoi", "estoi", "pesq_wb", "pesq_nb"]
# PESQ modes: (column, rate the pair is resampled to, the package's mode)
PESQ_MODES = (("pesq_wb", 16000, "wb"), ("pesq_nb", 8000, "nb"))
STOI_TOO_SHORT = "Not enough STFT frames"  # the start of pystoi's warning when it returns 1e-5


def _pesq_package():
    """The ``pesq`` module; ``MissingPackageError`` when it is not installed."""
    try:
        import pesq
    except ImportError:
        raise MissingPackageError(
            "the speech metrics need the pesq package (make -C tools installs it; or use --no_speech_metrics)"
        ) from None
    return pesq


def _stoi(est: np.ndarray, ref: np.ndarray, fs: int, extended: bool) -> Tuple[float, Optional[str]]:
    """pystoi's (E)STOI in percent and None, or NaN and the reason: pystoi warns and
    returns 1e-5 when fewer than 30 frames remain after its silence removal."""
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(ref, est, fs, extended=extended))
    if any(str(w.message).startswith(STOI_TOO_SHORT) for w in caught):
        return float("nan"), "too short (under 30 frames after silence removal)"
    return 100.0 * value, None


def _pesq(est: np.ndarray, ref: np.ndarray, fs: int, rate: int, mode: str) -> Tuple[float, Optional[str]]:
    """PESQ MOS-LQO of the pair resampled to ``rate`` (16 kHz wide-band, 8 kHz
    narrow-band) and None, or NaN and the reason: the rate below ``rate``, a
    silent output (the package cannot level-align it) or the package's error
    (e.g. no utterances detected, shorter than 1/4 s)."""
    if fs < rate:
        return float("nan"), f"signals at {fs} Hz, below {rate} Hz"
    if not np.any(est):
        return float("nan"), "silent output"
    pesq = _pesq_package()
    r, e = resample(ref, fs, rate), resample(est, fs, rate)
    try:
        with np.errstate(all="ignore"):
            return float(pesq.pesq(rate, r, e, mode)), None
    except (pesq.PesqError, ValueError) as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else one_line(err)
        return float("nan"), reason.strip().lower() or type(err).__name__


def speech_metrics(est: np.ndarray, ref: np.ndarray, fs: int) -> Tuple[Dict[str, float], List[Tuple[str, str]]]:
    """STOI and ESTOI (percent), PESQ wide-band and narrow-band of one output
    against its reference; and, for each NaN among them, ``(column, reason)``."""
    values, notes = {}, []
    results = [("stoi", _stoi(est, ref, fs, False)), ("estoi", _stoi(est, ref, fs, True))]
    results += [(col, _pesq(est, ref, fs, rate, mode)) for col, rate, mode in PESQ_MODES]
    for col, (value, reason) in results:
        values[col] = value
        if reason is not None:
            notes.append((col, reason))
    return values, notes


def no_speech_metrics() -> Dict[str, float]:
    """The speech-metric cells of an output whose prompt is not speech."""
    return {c: float("nan") for c in SPEECH_COLUMNS}
