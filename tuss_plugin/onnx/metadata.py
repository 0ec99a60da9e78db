# SPDX-License-Identifier: Apache-2.0
"""What an exported TUSS graph says about itself (ONNX ``metadata_props``),
written by :mod:`tuss_plugin.onnx.export` and read by
:mod:`tuss_plugin.onnx.runtime`; no torch.

Keys (all strings; JSON where noted):

- ``tuss.format``: ``1``;
- ``tuss.config``: the training config (JSON), from which the prompt
  vocabulary with its aliases and exclusion rules is rebuilt
  (:func:`tuss_plugin.prompts.model_vocabulary`);
- ``tuss.prompts``: the vocabulary's names (JSON list); input ``prompt_ids``
  holds 0-based indices into it;
- ``tuss.fs``: the model's sampling rate; ``tuss.n_fft``, ``tuss.hop_length``:
  its STFT; ``tuss.max_prompts``: the most prompts of one call;
- ``tuss.weights_sha256``: the digest of the weights (as ``SeparateAudio.fingerprint``).
"""

from __future__ import annotations

import json
from typing import Dict, Mapping

# the opset the graph is exported with (onnxruntime 1.32 runs opsets up to 23)
OPSET = 18
INPUTS = ("mixture", "prompt_ids")  # (B, L) float32, (B, N) int64
OUTPUT = "separated"  # (B, N, L) float32
FORMAT = "1"


def metadata_props(config: Mapping, max_prompts: int, n_fft: int, hop: int, weights_sha256: str) -> Dict[str, str]:
    """The ``metadata_props`` of a graph exported from a model of ``config``."""
    from tuss_plugin.prompts import model_vocabulary

    vocab = model_vocabulary(config)
    fs = config.get("fs") or (config.get("separator_conf") or {}).get("fs")
    return {
        "tuss.format": FORMAT,
        "tuss.config": json.dumps(config, sort_keys=True, default=str),
        "tuss.prompts": json.dumps(list(vocab.names)),
        "tuss.fs": str(int(fs)),
        "tuss.n_fft": str(int(n_fft)),
        "tuss.hop_length": str(int(hop)),
        "tuss.max_prompts": str(int(max_prompts)),
        "tuss.weights_sha256": weights_sha256,
    }
