# SPDX-License-Identifier: Apache-2.0
"""What every TUSS separator of this package does around its forward pass.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
:class:`Separation` holds the prompt checks, resampling, channels,
segment-wise processing and streaming from and to files; a backend adds the
forward pass of one block at the model's rate (:meth:`Separation.separate_block`)
and its STFT window: the torch model (:class:`tuss_plugin.inference.api.SeparateAudio`)
or the exported ONNX graph (:class:`tuss_plugin.inference.onnx_backend.OnnxSeparateAudio`).
Importing this module imports no torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from tuss_plugin.fileio.audio import resample
from tuss_plugin.inference.inputs import as_array, check_fs, check_mixture
from tuss_plugin.inference.overlap_add import OverlapAdd, check_segment_span, check_segment_values
from tuss_plugin.inference.streaming import (
    ForwardReader,
    SegmentProgress,
    check_length,
    read_blocks,
    resampled_length,
    write_blocks,
)
from tuss_plugin.loss.permutation import category_groups

if TYPE_CHECKING:
    import torch


class Separation:
    """Waveform-in, waveform-out separation around a backend's forward pass.

    Long recordings can be processed segment-wise (CSS-style): windows of
    ``segment_size`` seconds every ``hop_size`` seconds are separated on their
    own, outputs of repeated prompts are aligned to the previous window on the
    overlap (only within the same prompt, never across prompts), and overlaps
    are cross-faded. Memory then depends on the segment size, not on the length.
    A segment must span at least one STFT window of the model and the hop at
    least one STFT frame shift (2048 and 512 samples at 48 kHz, 42.7 and 10.7 ms,
    for the released models); shorter ones are refused (see :meth:`set_segments`).

    A backend sets ``fs`` (the model's rate), ``vocab`` (its prompt vocabulary
    or None), ``model`` (None without a torch model) and calls
    :meth:`set_segments`; it defines :meth:`stft_window` and :meth:`separate_block`.
    """

    fs: int
    vocab: object
    model: object = None
    segment_size: Optional[float] = None
    hop_size: Optional[float] = None

    def stft_window(self) -> Tuple[int, int]:
        """(window, frame shift) of the model's encoder in samples at ``self.fs``."""
        raise NotImplementedError

    def separate_block(self, x: np.ndarray, prompts: Optional[Sequence[str]]) -> np.ndarray:
        """Separate one block at the model's rate: x (L, C) -> (N, L, C) float32."""
        raise NotImplementedError

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
