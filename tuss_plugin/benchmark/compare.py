# SPDX-License-Identifier: Apache-2.0
"""ESPnet's stock separators at a size comparable to a TUSS config (``benchmark --compare``).

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

from __future__ import annotations

import copy
from typing import Dict, Optional

COMPARE_CHOICES = ("tfgridnetv2", "bsrnn")
# the inference paths of --modes, measured side by side (run by benchmark/modes.py)
MODES = ("eager_fp32", "eager_bf16", "onnxruntime_fp32", "compile_fp32", "compile_bf16", "authors_fp32")


def config_fs(conf: Dict) -> Optional[int]:
    """The sampling rate of a training config (``separator_conf.fs``, else ``fs``)."""
    fs = (conf.get("separator_conf") or {}).get("fs") or conf.get("fs")
    return int(fs) if fs else None


def compare_conf(name: str, conf: Dict, n_src: int) -> Dict:
    """Config of a stock ESPnet separator comparable to the TUSS config ``conf``.

    Both use the TUSS STFT (FFT size and hop of ``conf``) and decode ``n_src``
    outputs. ``bsrnn``: BSRNN on the TUSS band layout with ``num_channels =
    emb_dim`` and one layer pair per TF-Locoformer block of both TUSS modules.
    ``tfgridnetv2``: TF-GridNetV2 with ESPnet's defaults (``emb_dim`` 48, 6
    blocks, 192 LSTM units) except ``emb_hs = emb_ks = 4`` (the unfold over
    frequency has no overlap, as BSRNN/TUSS bands), on the same STFT.
    """
    from tuss_plugin.layers.band_split import band_widths

    sep = conf.get("separator_conf") or {}
    stft = dict(conf.get("encoder_conf") or {})
    n_fft, hop = int(stft.get("n_fft", 2048)), int(stft.get("hop_length", 512))
    fs = config_fs(conf) or 48000
    emb = int(sep.get("emb_dim", 64))
    n_blocks = int(sep.get("cross_prompt_blocks", 4)) + int(sep.get("cond_tse_blocks", 2))
    out = {k: copy.deepcopy(conf[k]) for k in ("criterions", "model_conf") if k in conf}
    if name == "bsrnn":
        starts, subbands = 0, []
        for w in band_widths(fs, n_fft):
            subbands.append([starts, starts + w - 1])
            starts += w
        out.update(
            encoder="tuss_stft",
            encoder_conf=stft,
            decoder="tuss_stft",
            decoder_conf=stft,
            separator="bsrnn",
            separator_conf=dict(num_spk=n_src, num_channels=emb, num_layers=n_blocks, target_fs=fs, subbands=subbands),
        )
    elif name == "tfgridnetv2":
        out.update(
            encoder="same",
            encoder_conf={},
            decoder="same",
            decoder_conf={},
            separator="tfgridnetv2",
            separator_conf=dict(n_srcs=n_src, n_fft=n_fft, stride=hop, window="hann", emb_ks=4, emb_hs=4),
        )
    else:
        raise ValueError(f"unknown comparison model {name!r}; choose from {COMPARE_CHOICES}")
    return out
