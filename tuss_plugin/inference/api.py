# SPDX-License-Identifier: Apache-2.0
"""``SeparateAudio``: separate audio with a trained or imported TUSS model.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
What every backend shares (prompt checks, resampling, segment-wise
processing, streaming): :mod:`.separation`; model files: :mod:`.model_files`;
the onnxruntime backend: :mod:`.onnx_backend`. Importing this module imports
no torch (the torch backend imports it when a model is loaded).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from tuss_plugin.inference.inputs import model_rate
from tuss_plugin.inference.model_files import load_model, resolve_model_files, state_digest
from tuss_plugin.inference.overlap_add import check_segment_values
from tuss_plugin.inference.separation import Separation
from tuss_plugin.inference.unpack import discard_unpacked
from tuss_plugin.precision import autocast, resolve_precision

if TYPE_CHECKING:
    import torch

# the backends of from_pretrained: the model in torch, or its exported graph in onnxruntime
BACKENDS = ("torch", "onnxruntime")


class SeparateAudio(Separation):
    """Waveform-in, waveform-out TUSS separation with the model in torch.

    Everything around the forward pass (prompt checks, resampling, channels,
    segment-wise processing, streaming files) is :class:`Separation`'s.

    Args:
        model: a ``TUSSEnhancementModel``.
        config: its training config (dict).
        device: torch device.
        segment_size: segment length in seconds (None: whole recording at once).
        hop_size: segment shift in seconds (default: ``segment_size``, no overlap).
        precision: ``"fp32"`` (default: float32 throughout), ``"bf16"``
            (bfloat16 autocast: matrix products and convolutions in bfloat16,
            normalisation statistics and the STFT in float32; outputs float32)
            or ``"auto"`` (bf16 where the device has native bfloat16 matrix
            units, see :func:`tuss_plugin.precision.native_bf16`, else fp32).
    """

    def __init__(
        self,
        model,
        config: dict,
        device: str = "cpu",
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
        precision: str = "fp32",
    ):
        self.model = model
        self.config = config
        self.device = device
        self.precision = resolve_precision(precision, device)
        check_segment_values(segment_size, hop_size)
        sep = model.separator
        fs = model_rate(config, sep)
        if fs is None:
            raise ValueError("the model's sampling rate is unknown: its config.yaml has no 'fs'")
        self.fs = fs
        self.vocab = getattr(sep, "vocab", None)
        self.set_segments(segment_size, hop_size)

    @classmethod
    def from_pretrained(
        cls,
        path: Union[str, Path],
        device: str = "cpu",
        cache_dir: Optional[str] = None,
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
        max_unpack_bytes: Optional[int] = None,
        precision: str = "fp32",
        backend: str = "torch",
        threads: Optional[int] = None,
    ) -> Separation:
        """Load an experiment dir (``config.yaml`` + ``.pth``), an imported
        reference dir, a model file, or a packed model zip.

        ``cache_dir`` and ``max_unpack_bytes``: see :func:`resolve_model_files`;
        the unpacked copy of a packed model that fails to load is removed.
        ``precision``: see the class.
        ``backend``: ``"torch"`` (default) or ``"onnxruntime"``: the graph
        written by ``tuss-export-onnx`` (``path``: the ``.onnx`` file, a
        directory holding ``model.onnx`` or a packed zip carrying it), run on
        the CPU in float32 without importing torch
        (:class:`~tuss_plugin.inference.onnx_backend.OnnxSeparateAudio`;
        ``threads``: its intra-op threads, default onnxruntime's choice).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend == "onnxruntime":
            from tuss_plugin.inference.onnx_backend import OnnxSeparateAudio

            return OnnxSeparateAudio.from_onnx(
                path, device, cache_dir, segment_size, hop_size, max_unpack_bytes, precision, threads
            )
        resolve_precision(precision, device)  # checked before anything is loaded
        config_file, model_file = resolve_model_files(path, cache_dir, max_unpack_bytes)
        try:
            model, config = load_model(config_file, model_file, device)
        except ValueError:
            discard_unpacked(config_file, cache_dir)
            raise
        return cls(model, config, device, segment_size=segment_size, hop_size=hop_size, precision=precision)

    def stft_window(self) -> Tuple[int, int]:
        """(window, frame shift) of the model's encoder in samples at ``self.fs``
        (0 where the encoder has none)."""
        enc = getattr(self.model, "encoder", None)
        window = max(int(getattr(enc, "n_fft", 0) or 0), int(getattr(enc, "win_length", 0) or 0))
        window = window or int(getattr(enc, "kernel_size", 0) or 0)  # convolutional encoders
        shift = int(getattr(enc, "hop_length", 0) or getattr(enc, "stride", 0) or 0)
        return window, shift

    def fingerprint(self) -> Dict[str, object]:
        """What determines the outputs besides the input and the prompts, whatever
        the device: hashes of the weights and of the config, the model's rate and
        the segment settings (``tuss_inference`` keys its finished outputs on it)."""
        config = json.dumps(self.config, sort_keys=True, default=str)
        return {
            "weights": state_digest(self.model.state_dict()),
            "config": hashlib.sha256(config.encode("utf-8")).hexdigest(),
            "fs": self.fs,
            "segment_size": self.segment_size,
            "hop_size": self.hop_size,
            # bf16 outputs differ from fp32 ones (fp32 keeps the key of earlier versions)
            **({"precision": self.precision} if self.precision != "fp32" else {}),
        }

    def separate_tensor(self, mix: torch.Tensor, prompts) -> torch.Tensor:
        """Separate at the model's rate: mix (B, L) float -> (B, N, L)."""
        import torch

        with torch.inference_mode():
            return self._separate_tensor(mix, prompts)

    def _separate_tensor(self, mix: torch.Tensor, prompts) -> torch.Tensor:
        import torch

        lengths = torch.full((mix.shape[0],), mix.shape[1], dtype=torch.long)
        with warnings.catch_warnings():
            # a 1-sample input has no std (the model then uses 0 + eps)
            warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom")
            with autocast(self.precision, self.device):
                est, _, _, _ = self.model.separate(mix.to(self.device), lengths.to(self.device), prompts)
        return torch.stack(est, dim=1).float()  # (B, N, L)

    def separate_block(self, x: np.ndarray, prompts: Optional[Sequence[str]]) -> np.ndarray:
        """Separate one block at the model's rate: x (L, C) -> (N, L, C) float32
        (the channels are separated as a batch)."""
        import torch

        mix = torch.from_numpy(np.ascontiguousarray(x.T))  # (C, L)
        return self.separate_tensor(mix, prompts).cpu().numpy().transpose(1, 2, 0)  # (N, L, C)
