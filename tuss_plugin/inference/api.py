# SPDX-License-Identifier: Apache-2.0
"""``SeparateAudio``: separate audio with a trained or imported TUSS model.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
Model files: :mod:`.model_files`; streaming: :mod:`.streaming`; segment-wise
processing: :mod:`.overlap_add`; input checks: :mod:`.inputs`; the
onnxruntime backend: :mod:`.onnx_backend`. Importing this module imports no
torch (the torch backend imports it when a model is loaded).
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from tuss_plugin.fileio.audio import resample
from tuss_plugin.inference.inputs import as_array, check_fs, check_mixture, model_rate
from tuss_plugin.inference.model_files import load_model, resolve_model_files, state_digest
from tuss_plugin.inference.overlap_add import OverlapAdd, check_segment_span, check_segment_values
from tuss_plugin.inference.streaming import (
    ForwardReader,
    SegmentProgress,
    check_length,
    read_blocks,
    resampled_length,
    write_blocks,
)
from tuss_plugin.inference.unpack import discard_unpacked
from tuss_plugin.loss.permutation import category_groups
from tuss_plugin.precision import autocast, resolve_precision

if TYPE_CHECKING:
    import torch

# the backends of from_pretrained: the model in torch, or its exported graph in onnxruntime
BACKENDS = ("torch", "onnxruntime")


class SeparateAudio:
    """Waveform-in, waveform-out TUSS separation.

    Long recordings can be processed segment-wise (CSS-style): windows of
    ``segment_size`` seconds every ``hop_size`` seconds are separated on their
    own, outputs of repeated prompts are aligned to the previous window on the
    overlap (only within the same prompt, never across prompts), and overlaps
    are cross-faded. Memory then depends on the segment size, not on the length.
    A segment must span at least one STFT window of the model and the hop at
    least one STFT frame shift (2048 and 512 samples at 48 kHz, 42.7 and 10.7 ms,
    for the released models); shorter ones are refused (see :meth:`set_segments`).

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
    ) -> "SeparateAudio":
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

    def set_segments(
        self,
        segment_size: Optional[float],
        hop_size: Optional[float] = None,
        names: Tuple[str, str] = ("segment_size", "hop_size"),
    ) -> None:
        """Set segment-wise processing (seconds; ``segment_size=None``: whole recordings).

        ``segment_size`` must be finite, > 0 and span at least one STFT window
        of the model; ``hop_size`` (default ``segment_size``) must be in
        ``(0, segment_size]`` and span at least one STFT frame shift. Raises
        ``ValueError`` naming the option (``names``, e.g. the flags of a CLI).
        """
        check_segment_values(segment_size, hop_size, names)
        hop = hop_size if hop_size is not None else segment_size
        if segment_size is not None:
            check_segment_span(segment_size, hop, self.fs, *self.stft_window(), names)
        self.segment_size, self.hop_size = segment_size, hop

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

    @property
    def prompts(self) -> Sequence[str]:
        """Names of the prompts this model knows."""
        return list(self.vocab.names) if self.vocab is not None else []

    def validate_prompts(self, prompts: Sequence[str]) -> list:
        """Canonical prompt names (raises ``ValueError`` for invalid lists)."""
        if self.vocab is None:
            raise ValueError("this model has no prompts")
        return self.vocab.validate(prompts)

    def _check_prompts(self, prompts: Optional[Sequence[str]]) -> Optional[List[str]]:
        if prompts is None:
            if self.vocab is not None:
                raise ValueError(f"this model needs prompts: one output per prompt ({', '.join(self.prompts)})")
            return None
        return self.validate_prompts(prompts)

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

    def _exchangeable_groups(self, prompts: Optional[Sequence[str]]) -> List[List[int]]:
        """Output positions whose order a segment may change: those of one repeated
        prompt; without prompts, all outputs of a separator without output slots
        (interchangeable outputs, as in training and scoring); none for slots."""
        if prompts is not None:
            return category_groups(prompts)
        separator = getattr(getattr(self, "model", None), "separator", None)
        if separator is None or getattr(separator, "output_prompts", None) is not None:
            return []
        return [list(range(int(separator.num_spk)))]

    def iter_separate(
        self, x: Union[np.ndarray, ForwardReader], prompts: Optional[Sequence[str]]
    ) -> Iterator[np.ndarray]:
        """Separate ``x`` (n_samples, C) at the model's rate, yielding finished
        blocks (N, n_block, C) in order; segment-wise when configured.

        ``x`` is an array or a :class:`ForwardReader` (slices are taken with
        non-decreasing starts)."""
        n = x.shape[0]
        if self.segment_size is None:
            yield self.separate_block(x[0:n], prompts)  # (N, L, C)
            return
        stitcher = OverlapAdd.from_seconds(
            n, self.fs, self.segment_size, self.hop_size, self._exchangeable_groups(prompts)
        )
        for start, end in stitcher.segments():
            block = stitcher.add(self.separate_block(x[start:end], prompts))  # (N, l, C) in
            if block is not None:
                yield block

    def num_segments(self, n_samples: int, fs: int) -> int:
        """Segments (forward passes) for a recording of ``n_samples`` at ``fs``."""
        if self.segment_size is None:
            return 1
        return len(
            OverlapAdd.from_seconds(resampled_length(n_samples, fs, self.fs), self.fs, self.segment_size, self.hop_size)
        )

    def __call__(
        self, mixture: Union[np.ndarray, torch.Tensor], fs: int, prompts: Optional[Sequence[str]] = None
    ) -> np.ndarray:
        """Separate one recording held in memory (see :meth:`separate_file` for long files).

        Args:
            mixture: (n_samples,) or (n_samples, n_channels) float array or
                tensor; channels (at most ``MAX_CHANNELS`` = 64, and no more
                than samples) are separated independently.
            fs: its sampling rate in Hz, an integer up to ``MAX_FS`` = 768000
                (resampled to the model's rate and back).
            prompts: prompt names, one output per prompt (None for separators
                without prompts).

        Returns:
            float32 numpy (n_src, n_samples) or (n_src, n_samples, n_channels),
            in the input's scale and length.

        Raises:
            ValueError: empty, non-float, non-finite or wrongly shaped input
                (e.g. channel-first), an invalid sampling rate or prompt list.
        """
        x = check_mixture(as_array(mixture))
        fs = check_fs(fs)
        names = self._check_prompts(prompts)
        check_length(x.shape[0], fs, self.fs, "the mixture is ")
        mono = x.ndim == 1
        x2 = (x[:, None] if mono else x).astype(np.float32)  # (L, C)
        n = x2.shape[0]
        xr = resample(x2, fs, self.fs)  # (L', C)
        if xr.ndim == 1:
            xr = xr[:, None]
        est = np.concatenate(list(self.iter_separate(xr, names)), axis=1)  # (N, L', C)
        if not np.isfinite(est).all():
            raise ValueError("the model produced NaN or Inf outputs (broken checkpoint?)")
        out = np.stack([resample(e, self.fs, fs) for e in est])  # (N, ~L, C)
        if out.ndim == 2:
            out = out[..., None]
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1]), (0, 0)))
        out = out[:, :n].astype(np.float32)
        return out[..., 0] if mono else out

    def separate_file(
        self,
        path: Union[str, Path],
        outputs: Sequence[Union[str, Path]],
        prompts: Optional[Sequence[str]] = None,
        subtype: str = "FLOAT",
        blocksize: int = 1 << 16,
        progress: bool = False,
    ) -> None:
        """Separate an audio file into one WAV file per prompt, streaming.

        The input is read block-wise and resampled on the fly; outputs are
        resampled back to the input's rate and written block by block to
        temporary files beside ``outputs``, which are renamed only when all
        are complete. With ``segment_size`` set, memory therefore depends on
        the segment length, not on the file length, and the samples equal
        those of :meth:`__call__` on the whole file.

        Args:
            path: input audio (any format, rate, bit depth and channel count
                soundfile reads).
            outputs: one WAV path per prompt (the input's rate and channels).
            prompts: prompt names (None for separators without prompts).
            subtype: WAV subtype of the outputs (FLOAT, PCM_16, PCM_24, ...;
                integer subtypes clip at full scale).
            blocksize: input frames read at a time.
            progress: show a progress bar (segments) on stderr.

        Raises:
            ValueError: ``<path>: <problem>`` for unreadable, truncated, empty or
                non-finite input, or invalid prompts / subtype.
            OSError: the outputs cannot be written.
        """
        import soundfile as sf

        from tuss_plugin.fileio.atomic import atomic_outputs
        from tuss_plugin.fileio.audio import check_audio_file

        names = self._check_prompts(prompts)
        info = check_audio_file(path, scan_nonfinite=False)
        if not sf.check_format("WAV", subtype):
            raise ValueError(f"invalid WAV subtype {subtype!r}; e.g. FLOAT, PCM_16, PCM_24")
        fs_in, channels, n_in = int(info.samplerate), int(info.channels), int(info.frames)
        check_length(n_in, fs_in, self.fs, f"{path}: ")
        n_model = resampled_length(n_in, fs_in, self.fs)
        reader = ForwardReader(read_blocks(path, self.fs, blocksize), n_model, channels)
        blocks = self.iter_separate(reader, names)
        if progress:
            from tqdm import tqdm

            blocks = SegmentProgress(
                blocks, tqdm(total=self.num_segments(n_in, fs_in), desc=Path(path).name, unit="seg", file=sys.stderr)
            )
        with atomic_outputs(outputs) as tmps:
            files = [
                sf.SoundFile(t, "w", samplerate=fs_in, channels=channels, subtype=subtype, format="WAV") for t in tmps
            ]
            try:
                write_blocks(blocks, files, self.fs, fs_in, channels, n_in, path)
            finally:
                for f in files:
                    f.close()
