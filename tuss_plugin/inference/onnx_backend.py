# SPDX-License-Identifier: Apache-2.0
"""``SeparateAudio`` on an exported ONNX graph, run by onnxruntime; no torch.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.

:class:`OnnxSeparateAudio` is a :class:`~tuss_plugin.inference.separation.Separation`
(as :class:`~tuss_plugin.inference.api.SeparateAudio` is) whose forward pass is the graph of ``tuss-export-onnx``
(:class:`tuss_plugin.onnx.runtime.OnnxModel`); everything around it
(resampling, channels, segment-wise processing, streaming from and to files,
prompt checks) is the class's own, so the outputs are those of the torch
backend up to the graph's float32 round-off. ``SeparateAudio.from_pretrained(...,
backend="onnxruntime")`` builds it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from tuss_plugin.inference.separation import Separation
from tuss_plugin.onnx.runtime import OnnxModel, resolve_onnx_file


class OnnxSeparateAudio(Separation):
    """Waveform-in, waveform-out TUSS separation with onnxruntime (CPU, float32).

    Args:
        onnx: the opened graph.
        segment_size, hop_size: see :class:`SeparateAudio`.
    """

    def __init__(self, onnx: OnnxModel, segment_size: Optional[float] = None, hop_size: Optional[float] = None):
        from tuss_plugin.inference.overlap_add import check_segment_values

        check_segment_values(segment_size, hop_size)
        self.onnx = onnx
        self.model = None
        self.config = onnx.config
        self.device = "cpu"
        self.precision = "fp32"
        self.fs = onnx.fs
        self.vocab = onnx.vocab
        self.set_segments(segment_size, hop_size)

    @classmethod
    def from_onnx(
        cls,
        path: Union[str, Path],
        device: str = "cpu",
        cache_dir: Optional[str] = None,
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
        max_unpack_bytes: Optional[int] = None,
        precision: str = "fp32",
        threads: Optional[int] = None,
    ) -> "OnnxSeparateAudio":
        """Open the graph ``path`` names (see :func:`~tuss_plugin.onnx.runtime.resolve_onnx_file`).

        ``device`` must be the CPU and ``precision`` ``fp32`` or ``auto`` (the
        graph is float32); ``ValueError`` otherwise."""
        if str(device).split(":")[0] != "cpu":
            raise ValueError(f"the onnxruntime backend runs on the CPU, not {device!r}")
        if precision not in ("fp32", "auto"):
            raise ValueError(f"the onnxruntime backend runs in float32 (precision fp32 or auto), not {precision!r}")
        return cls(OnnxModel(resolve_onnx_file(path, cache_dir, max_unpack_bytes), threads), segment_size, hop_size)

    def stft_window(self) -> Tuple[int, int]:
        """(window, frame shift) of the graph's STFT in samples at ``self.fs``."""
        return self.onnx.n_fft, self.onnx.hop_length

    def fingerprint(self) -> Dict[str, object]:
        """As :meth:`SeparateAudio.fingerprint` (the weights' digest is the exported model's)."""
        config = json.dumps(self.config, sort_keys=True, default=str)
        return {
            "weights": self.onnx.weights_sha256,
            "config": hashlib.sha256(config.encode("utf-8")).hexdigest(),
            "fs": self.fs,
            "segment_size": self.segment_size,
            "hop_size": self.hop_size,
            "backend": "onnxruntime",
        }

    def separate_tensor(self, mix, prompts):
        raise NotImplementedError("the onnxruntime backend separates numpy arrays: use separate_block or __call__")

    def separate_block(self, x: np.ndarray, prompts: Optional[Sequence[str]]) -> np.ndarray:
        """x (L, C) -> (N, L, C) float32, the channels as a batch."""
        ids = self.onnx.prompt_indices(prompts)  # (N,)
        mix = np.ascontiguousarray(x.T, dtype=np.float32)  # (C, L)
        if mix.shape[1] < 2:  # the graph's shortest input (a 1-sample input has no std, as in torch)
            mix = np.pad(mix, ((0, 0), (0, 2 - mix.shape[1])))
            return self.onnx.run(mix, ids)[:, :, : x.shape[0]].transpose(1, 2, 0)
        return self.onnx.run(mix, ids).transpose(1, 2, 0)  # (N, L, C)
