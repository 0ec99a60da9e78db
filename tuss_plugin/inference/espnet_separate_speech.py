# SPDX-License-Identifier: Apache-2.0
"""ESPnet's ``SeparateSpeech`` at any input rate for the plugin's models.

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025) and
the conventional ``bslocoformer`` separate at the rate their band layout was
built for. ESPnet's ``SeparateSpeech.__call__(speech_mix, fs)`` resamples only
models with ``model_conf.always_forward_in_48k`` (with torchaudio's filter)
and otherwise runs any input rate through the model as it is: a silently
wrong result for a 48 kHz model given 16 kHz audio. When
``espnet2.bin.enh_inference`` is imported (by anyone, see
:mod:`tuss_plugin.import_hooks`), :func:`adapt_separate_speech` wraps the
class's ``__call__`` so that for the plugin's separators the input is
resampled to the model's rate and the outputs back, as
:class:`tuss_plugin.inference.SeparateAudio` does (soxr, HQ), so both give the
same samples at any rate. Other models keep ESPnet's behaviour untouched.
``normalize_output_wav`` (each output scaled to a peak of 0.9) is applied at
the input rate, after resampling back.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Callable, List, Optional

# attribute set on the wrapped __call__ (the wrapping is done once per process)
_MARK = "_tuss_rate_adapted"
# ESPnet's peak after normalize_output_wav
_OUTPUT_PEAK = 0.9


def plugin_model_rate(separate_speech) -> Optional[int]:
    """The rate a ``SeparateSpeech``'s model separates at, for the plugin's
    separators (``tuss``, ``bslocoformer``); None for any other model."""
    from tuss_plugin.inference.inputs import model_rate
    from tuss_plugin.registry import SEPARATORS

    separator = getattr(getattr(separate_speech, "enh_model", None), "separator", None)
    if not isinstance(separator, tuple(SEPARATORS.values())):
        return None
    return model_rate(vars(separate_speech.enh_train_args), separator)


def _resample_rows(x, fs_in: int, fs_out: int, n_out: Optional[int] = None):
    """Resample each row of (B, L[, C]) as SeparateAudio does ((L, C) per row);
    cut or zero-pad to ``n_out`` samples when given."""
    import numpy as np

    from tuss_plugin.fileio.audio import resample

    rows = []
    for row in x:  # (L[, C])
        y = resample(np.asarray(row, dtype=np.float32).reshape(row.shape[0], -1), fs_in, fs_out)  # (L', C)
        if n_out is not None:
            y = np.pad(y, ((0, max(0, n_out - y.shape[0])), (0, 0)))[:n_out]
        rows.append(y.reshape((y.shape[0],) + row.shape[1:]))  # (L'[, C])
    return np.stack(rows)  # (B, L'[, C])


def rate_adapted_call(original: Callable) -> Callable:
    """``SeparateSpeech.__call__`` that serves the plugin's models at any input rate."""

    @functools.wraps(original)
    def __call__(self, speech_mix, fs: int = 8000, **kwargs) -> List:
        rate = plugin_model_rate(self)
        if rate is None or int(fs) == rate or getattr(speech_mix, "ndim", 0) < 2:
            return original(self, speech_mix, fs=fs, **kwargs)
        import numpy as np

        from tuss_plugin.inference.inputs import as_array, check_fs

        fs = check_fs(fs)
        x = as_array(speech_mix)  # (B, L[, C])
        n = x.shape[1]
        normalize = self.normalize_output_wav
        self.normalize_output_wav = False  # applied below, at the input's rate
        try:
            waves = original(self, _resample_rows(x, fs, rate), fs=rate, **kwargs)  # N x (B, L'[, C])
        finally:
            self.normalize_output_wav = normalize
        out = []
        for w in waves:
            w = _resample_rows(as_array(w), rate, fs, n_out=n)  # (B, L[, C])
            if normalize:
                w = w / np.abs(w).max(axis=1, keepdims=True) * _OUTPUT_PEAK
            out.append(w.astype(np.float32))
        return out

    setattr(__call__, _MARK, True)
    return __call__


def adapt_separate_speech(module: ModuleType) -> None:
    """Wrap ``module.SeparateSpeech.__call__`` (``module``: ``espnet2.bin.enh_inference``); idempotent."""
    cls = getattr(module, "SeparateSpeech", None)
    if cls is None or getattr(cls.__call__, _MARK, False):
        return
    cls.__call__ = rate_adapted_call(cls.__call__)
