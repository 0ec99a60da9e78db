# SPDX-License-Identifier: Apache-2.0
"""STFT encoder / iSTFT decoder with the padding of the released TUSS models.

The released TUSS models (Saijo et al., ICASSP 2025) use a square-root Hann
window and pad the signal with ``n_fft // 2`` zeros at both ends plus enough
zeros at the end for a whole number of frames (scipy-style), then run the STFT
without centring; the inverse uses a centred iSTFT and cuts the result to the
input length. ESPnet's stock ``stft`` encoder pads by reflection, so these are
separate ESPnet encoder/decoder classes (registered as ``tuss_stft``).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from espnet2.enh.decoder.abs_decoder import AbsDecoder
from espnet2.enh.encoder.abs_encoder import AbsEncoder


def make_window(kind: str, win_length: int) -> torch.Tensor:
    """Analysis/synthesis window: ``sqrt_hann`` (released models) or ``hann``."""
    if kind == "sqrt_hann":
        return torch.hann_window(win_length, periodic=True).sqrt()
    if kind == "hann":
        return torch.hann_window(win_length, periodic=True)
    raise ValueError(f"unknown window {kind!r}; use 'sqrt_hann' or 'hann'")


class TUSSSTFTEncoder(AbsEncoder):
    """Waveform -> complex STFT (B, T, F).

    Args:
        n_fft: FFT size (F = n_fft // 2 + 1).
        hop_length: frame shift in samples.
        win_length: window length (defaults to n_fft).
        window: ``sqrt_hann`` or ``hann``.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: Optional[int] = None,
        window: str = "sqrt_hann",
    ):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length or n_fft
        if self.win_length > n_fft:
            raise ValueError(f"win_length={self.win_length} > n_fft={n_fft}")
        self.register_buffer("window", make_window(window, self.win_length), persistent=False)

    @property
    def output_dim(self) -> int:
        return self.n_fft // 2 + 1

    def padding(self, n_samples: int) -> Tuple[int, int]:
        """Zeros added at the start and at the end of an ``n_samples`` signal."""
        half = self.n_fft // 2
        padded = n_samples + 2 * half
        extra = (-(padded - self.win_length) % self.hop_length) % self.win_length
        return half, half + extra

    def num_frames(self, n_samples: torch.Tensor) -> torch.Tensor:
        half = self.n_fft // 2
        padded = n_samples + 2 * half
        extra = (-(padded - self.win_length) % self.hop_length) % self.win_length
        return (padded + extra - self.win_length) // self.hop_length + 1

    def forward(
        self, input: torch.Tensor, ilens: torch.Tensor, fs: Optional[int] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """input: (B, L) waveform -> ((B, T, F) complex, (B,) frame counts)."""
        if input.dim() != 2:
            raise ValueError(f"expected a (batch, samples) waveform, got shape {tuple(input.shape)}")
        start, end = self.padding(input.shape[-1])
        x = torch.nn.functional.pad(input, (start, end))  # (B, L + pad)
        spec = torch.stft(
            x.float(),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(x.device),
            center=False,
            return_complex=True,
        )  # (B, F, T)
        return spec.transpose(1, 2), self.num_frames(ilens)  # (B, T, F)


class TUSSSTFTDecoder(AbsDecoder):
    """Complex STFT (B, T, F) -> waveform (B, L), L = ``max(ilens)``.

    Args: same as :class:`TUSSSTFTEncoder`.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: Optional[int] = None,
        window: str = "sqrt_hann",
    ):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length or n_fft
        self.register_buffer("window", make_window(window, self.win_length), persistent=False)

    def forward(
        self, input: torch.Tensor, ilens: torch.Tensor, fs: Optional[int] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """input: (B, T, F) complex, ilens: (B,) samples -> ((B, L), ilens)."""
        wav = torch.istft(
            input.transpose(1, 2),  # (B, F, T)
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(input.device),
            center=True,
        )  # (B, (T - 1) * hop)
        length = int(ilens.max())
        if wav.shape[-1] < length:
            wav = torch.nn.functional.pad(wav, (0, length - wav.shape[-1]))
        return wav[..., :length], ilens
