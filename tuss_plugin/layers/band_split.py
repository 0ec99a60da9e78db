# SPDX-License-Identifier: Apache-2.0
"""Band-split encoder and band-wise decoding module.

The band layout follows BS-RoFormer as used by TUSS (Saijo et al., "Task-aware
Unified Source Separation", ICASSP 2025): narrow bands at low frequencies,
wider ones higher up. The table is derived from the sample rate and FFT size
and clipped at Nyquist, so it builds for any ``fs`` / ``n_fft``.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from tuss_plugin.layers import kernels

# (low Hz, high Hz, bins per band) of the fixed-width part of the table
BAND_RANGES: Tuple[Tuple[float, float, int], ...] = (
    (0.0, 1000.0, 2),
    (1000.0, 2000.0, 4),
    (2000.0, 4000.0, 12),
    (4000.0, 8000.0, 24),
    (8000.0, 16000.0, 48),
)


def band_widths(fs: int, n_fft: int) -> List[int]:
    """Number of frequency bins of each band for a given sample rate and FFT size.

    For each range in :data:`BAND_RANGES` the number of bands is
    ``ceil(range_width / (bins * fs / 2 / n_bins))`` with ``n_bins = n_fft // 2 + 1``
    (the released models divide by ``n_bins``). Ranges are clipped at Nyquist and
    the last band of a range shrinks when the bins run out. The remaining bins
    above 16 kHz are split into 4 near-equal bands at ``fs >= 48000`` (the last
    takes the remainder) and into 2 otherwise. At 48 kHz / 2048 this gives the
    released models' 61 bands.

    Args:
        fs: sampling rate in Hz.
        n_fft: FFT size.

    Returns:
        list of band widths in bins; their sum is ``n_fft // 2 + 1``.
    """
    if fs <= 0 or n_fft < 2:
        raise ValueError(f"invalid STFT setting: fs={fs}, n_fft={n_fft}")
    n_bins = n_fft // 2 + 1
    nyquist = fs / 2
    bin_hz = nyquist / n_bins
    widths: List[int] = []
    used = 0
    for lo, hi, bins in BAND_RANGES:
        if lo >= nyquist or used >= n_bins:
            break
        hi = min(hi, nyquist)
        n_bands = math.ceil((hi - lo) / (bins * bin_hz))
        for _ in range(n_bands):
            width = min(bins, n_bins - used)
            if width <= 0:
                break
            widths.append(width)
            used += width
    rest = n_bins - used
    if rest > 0:
        n_rest = min(4 if fs >= 48000 else 2, rest)
        base = rest // n_rest
        widths.extend([base] * (n_rest - 1) + [rest - base * (n_rest - 1)])
    assert sum(widths) == n_bins, (widths, n_bins)
    return widths


def width_runs(widths: Sequence[int]) -> List[Tuple[int, int, int, int]]:
    """Runs of consecutive bands of equal width: ``(first band, n bands, width, first bin)``.

    Bands of one run are processed together with grouped convolutions, which
    gives the same result as one small convolution per band, much faster.
    """
    runs = []
    q = b0 = 0
    while q < len(widths):
        n = 1
        while q + n < len(widths) and widths[q + n] == widths[q]:
            n += 1
        runs.append((q, n, widths[q], b0))
        b0 += n * widths[q]
        q += n
    return runs


# Positions of the parameterised layers in each band's nn.Sequential. They are
# part of the state-dict keys (``encoder.bands.<q>.<i>.weight``, as in the
# authors' release, see tuss_plugin.convert.release), so the layout stays as it is.
ENC_NORM, ENC_CONV = 0, 1  # GroupNorm(1, 2b), Conv1d(2b, C, 1)
# GroupNorm(1, C), Conv1d(C, 4C, 1), Conv1d(4C, 4C, 1), Conv1d(4C, 4bS, 1);
# positions 2 and 4 are Tanh, 6 is the GLU (no parameters)
DEC_NORM, DEC_CONV1, DEC_CONV2, DEC_CONV3 = 0, 1, 3, 5


def _cat_params(mods: Sequence[nn.Module], name: str) -> torch.Tensor:
    return torch.cat([getattr(m, name) for m in mods], dim=0)


class BandSplitEncoder(nn.Module):
    """Band-split module: complex spectrum -> one embedding per band and frame.

    For a band of ``b`` bins, the real and imaginary parts of those bins
    (channel order: bin-major, re/im fastest) are normalised with
    ``GroupNorm(1, 2b)`` and projected with ``Conv1d(2b, emb_dim, 1)`` over time.

    ``bands[q]`` is band q's ``Sequential(GroupNorm, Conv1d)``: it holds the
    parameters under the state-dict names of the released checkpoints
    (``bands.<q>.0.*``, ``bands.<q>.1.*``) and is band q's encoder on its own
    (B, 2b, T) input; :meth:`forward` runs each run of equal-width bands at once.

    Args:
        widths: band widths in bins (see :func:`band_widths`).
        emb_dim: embedding dimension C.
    """

    def __init__(self, widths: Sequence[int], emb_dim: int):
        super().__init__()
        self.widths = list(widths)
        self.bands = nn.ModuleList(
            nn.Sequential(nn.GroupNorm(1, 2 * b), nn.Conv1d(2 * b, emb_dim, 1))  # ENC_NORM, ENC_CONV
            for b in self.widths
        )

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Encode a spectrum.

        Shapes: B batch, T frames, F bins, Q bands, C emb_dim.

        Args:
            spec: complex STFT, (B, T, F).

        Returns:
            band features, (B, C, T, Q).
        """
        return self.forward_real(torch.view_as_real(spec))  # (B, T, F, 2) view

    def forward_real(self, x: torch.Tensor) -> torch.Tensor:
        """Encode a spectrum given as real and imaginary parts: x (B, T, F, 2) -> (B, C, T, Q)
        (real arithmetic only, as an ONNX graph needs it)."""
        B, T = x.shape[0], x.shape[1]
        feats = []
        for q0, n, b, f0 in width_runs(self.widths):
            mods = self.bands[q0 : q0 + n]
            norms, convs = [m[ENC_NORM] for m in mods], [m[ENC_CONV] for m in mods]
            xb = x[:, :, f0 : f0 + n * b].reshape(B, T, n * 2 * b)  # (B, T, n*2b): band, bin, re/im
            xb = xb.transpose(1, 2)  # (B, n*2b, T)
            # one GroupNorm(1, 2b) per band == group_norm with n groups
            xb = F.group_norm(xb, n, _cat_params(norms, "weight"), _cat_params(norms, "bias"), norms[0].eps)
            h = F.conv1d(xb, _cat_params(convs, "weight"), _cat_params(convs, "bias"), groups=n)  # (B, n*C, T)
            feats.append(h.view(B, n, -1, T).permute(0, 2, 3, 1))  # (B, C, T, n)
        return torch.cat(feats, dim=-1)  # (B, C, T, Q)


class BandwiseDecoder(nn.Module):
    """Band-wise decoding module: band features -> complex mask.

    Per band: ``GroupNorm(1, C)``, ``Conv1d(C, 4C, 1)``, tanh,
    ``Conv1d(4C, 4C, 1)``, tanh, ``Conv1d(4C, 4bS, 1)``, GLU over channels; the
    ``2bS`` outputs are ordered (output, re/im, bin). TUSS decodes one output per
    prompt stream (S = 1); the conventional baseline decodes S sources at once.

    ``bands[q]`` is band q's ``Sequential`` of these seven layers: it holds the
    parameters under the state-dict names of the released checkpoints
    (``bands.<q>.{0,1,3,5}.*``, see :data:`DEC_NORM` ...) and is band q's
    decoder on its own (B', C, T) input; :meth:`forward` runs the bands in
    batched products.

    Args:
        widths: band widths in bins (see :func:`band_widths`).
        emb_dim: embedding dimension C.
        num_outputs: masks S decoded from one stream.
        hidden_factor: width of the hidden layers in multiples of C.
    """

    def __init__(
        self,
        widths: Sequence[int],
        emb_dim: int,
        num_outputs: int = 1,
        hidden_factor: int = 4,
    ):
        super().__init__()
        self.widths = list(widths)
        self.num_outputs = num_outputs
        hid = hidden_factor * emb_dim
        self.bands = nn.ModuleList(
            nn.Sequential(
                nn.GroupNorm(1, emb_dim),  # DEC_NORM
                nn.Conv1d(emb_dim, hid, 1),  # DEC_CONV1
                nn.Tanh(),
                nn.Conv1d(hid, hid, 1),  # DEC_CONV2
                nn.Tanh(),
                nn.Conv1d(hid, 4 * b * num_outputs, 1),  # DEC_CONV3
                nn.GLU(dim=1),
            )
            for b in self.widths
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Decode band features into a complex mask.

        Shapes: B' streams (batch x prompts), C emb_dim, T frames, Q bands, F bins.

        Args:
            feats: (B', C, T, Q).

        Returns:
            complex mask, (B', S, T, F).
        """
        Bp, _, T, _ = feats.shape
        S = self.num_outputs
        masks = []
        for m in self.forward_parts(feats):  # (n, B', T, S, 2, b) each
            n, b = m.shape[0], m.shape[-1]
            m = torch.complex(m[..., 0, :], m[..., 1, :])  # (n, B', T, S, b)
            masks.append(m.permute(1, 3, 2, 0, 4).reshape(Bp, S, T, n * b))  # (B', S, T, n*b)
        return torch.cat(masks, dim=-1)  # (B', S, T, F)

    def forward_parts(self, feats: torch.Tensor) -> List[torch.Tensor]:
        """The mask in real arithmetic, one part per batched product of bands:
        feats (B', C, T, Q) -> [(n, B', T, S, 2, b) float32: n bands of b bins,
        (re, im)], in band order."""
        Bp, C, T = feats.shape[0], feats.shape[1], feats.shape[2]
        S = self.num_outputs
        x = feats.permute(0, 2, 3, 1)  # (B', T, Q, C) view (contiguous for TUSS' layout)
        parts = []
        # bands of equal width, a batch of n per product (see kernels.band_groups)
        for q0, n, b, _ in kernels.band_groups(width_runs(self.widths)):
            mods = self.bands[q0 : q0 + n]
            layers = (DEC_NORM, DEC_CONV1, DEC_CONV2, DEC_CONV3)
            norm, c1, c2, c3 = ([m[i] for m in mods] for i in layers)  # each: n modules
            # the n bands of a run as a batch of n matrix products over B'*T rows
            h = x[:, :, q0 : q0 + n].permute(2, 0, 1, 3).reshape(n, Bp, T * C)  # (n, B', T*C)
            # GroupNorm(1, C) of each band: statistics over (T, C) per stream
            var, mean = torch.var_mean(h, dim=-1, unbiased=False, keepdim=True)  # (n, B', 1)
            h = (h - mean) * torch.rsqrt(var + norm[0].eps)
            h = h.view(n, Bp * T, C)  # (n, B'*T, C)
            h = torch.addcmul(_stack_params(norm, "bias")[:, None], h, _stack_params(norm, "weight")[:, None])
            # tanh in place: the products' outputs are not needed by their backward
            h = _bmm_conv1x1(h, c1).tanh_()  # (n, B'*T, 4C)
            h = _bmm_conv1x1(h, c2).tanh_()  # (n, B'*T, 4C)
            h = _bmm_conv1x1(h, c3)  # (n, B'*T, 4bS)
            h = F.glu(h, dim=-1)  # (n, B'*T, 2bS): (S, re/im, bin)
            parts.append(h.view(n, Bp, T, S, 2, b).float())  # (n, B', T, S, 2, b)
        return parts


def _stack_params(mods: Sequence[nn.Module], name: str) -> torch.Tensor:
    return torch.stack([getattr(m, name) for m in mods])


def _bmm_conv1x1(h: torch.Tensor, convs: Sequence[nn.Conv1d]) -> torch.Tensor:
    """n kernel-size-1 convolutions as one batched product: (n, R, Cin) -> (n, R, Cout)."""
    w = _stack_params(convs, "weight").squeeze(-1)  # (n, Cout, Cin)
    b = _stack_params(convs, "bias")  # (n, Cout)
    return torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
