# SPDX-License-Identifier: Apache-2.0
"""ESPnet's inference options as ``tuss_inference`` options.

enh.sh users bring two YAML files and a few flags to inference:

* ``--inference_config``: options of ESPnet's ``enh_inference``
  (``segment_size``, ``hop_size``, ``normalize_output_wav``, ...);
* ``--inference_enh_config``: ``SeparateSpeech``'s ``inference_config``, which
  overrides the model's ``encoder``/``separator``/``decoder`` settings; for a
  TUSS model (Saijo et al., "Task-aware Unified Source Separation", ICASSP
  2025) its one use is ``separator_conf: {default_prompts: [...]}``;
* ``--inference_args "--normalize_output_wav true"``.

:func:`translate_config` turns either YAML into ``tuss_inference`` options
(``default_prompts`` -> ``prompts``) and refuses, in one line naming the file
and key, what has no meaning here; :func:`normalize_peak` is
``normalize_output_wav``.
"""

from __future__ import annotations

from typing import Collection, Dict

MODEL_KEYS = ("encoder", "encoder_conf", "separator", "separator_conf", "decoder", "decoder_conf")
# enh_inference options with no counterpart, and what to use instead
NO_COUNTERPART = {
    "normalize_segment_scale": "segments are aligned and cross-faded (segment_size/hop_size)",
    "show_progressbar": "progress is printed every 10 utterances",
    "ref_channel": "channels are separated independently",
    "fs": "the rate of each file is read from it",
    "batch_size": "one utterance at a time",
    "dtype": "use precision (fp32, bf16, auto)",
    "ngpu": "use device (cpu, cuda)",
    "enh_s2t_task": "TUSS models are enhancement models",
}
# ESPnet's peak after normalize_output_wav
OUTPUT_PEAK = 0.9


def translate_config(conf: Dict, where: str, known: Collection[str]) -> Dict:
    """``tuss_inference`` options from a YAML of ours, of ``enh_inference`` or of
    ``SeparateSpeech`` (``where``: its name in errors; ``known``: our option names).
    Keys that are none of these are kept, for the caller to refuse."""
    out = {}
    for key, value in conf.items():
        if key == "separator_conf" and isinstance(value, dict):
            for sub, val in value.items():
                if sub != "default_prompts":
                    raise ValueError(
                        f"{where}: separator_conf.{sub}: only default_prompts can be set at inference "
                        "(the model's other settings come from its training config)"
                    )
                out["prompts"] = [str(p) for p in val]
        elif key in MODEL_KEYS:
            raise ValueError(f"{where}: {key}: the model's modules come from its training config")
        elif key in NO_COUNTERPART and key not in known:
            raise ValueError(f"{where}: {key}: ESPnet enh_inference option with no counterpart ({NO_COUNTERPART[key]})")
        else:
            out[key] = value
    return out


def normalize_peak(est):
    """Each output (first axis) scaled to a peak of 0.9, as ESPnet's ``normalize_output_wav``
    (a silent output stays silent)."""
    import numpy as np

    peak = np.abs(est).reshape(len(est), -1).max(axis=1)  # (N,)
    scale = np.where(peak > 0, OUTPUT_PEAK / np.where(peak > 0, peak, 1), 1.0)
    return (est * scale.reshape((-1,) + (1,) * (est.ndim - 1))).astype(np.float32)
