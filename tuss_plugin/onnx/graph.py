# SPDX-License-Identifier: Apache-2.0
"""The TUSS model as one export-ready graph: waveforms and prompt indices in,
separated waveforms out, in real arithmetic and plain operators only.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.

:class:`ExportGraph` holds a loaded ``TUSSEnhancementModel`` and computes what
its ``separate`` computes (variance normalisation, the released models' STFT,
band-split encoder, cross-prompt module, conditional TSE module, band-wise
decoder, complex masking, iSTFT, de-normalisation), written so that
``torch.onnx.export`` sees no complex tensors, no data-dependent Python
branches and no fast-path kernels:

- the STFT is a strided convolution with the windowed DFT basis (cosine and
  sine rows), the iSTFT a strided transposed convolution with the windowed
  inverse basis divided by the overlap-added squared window, as
  ``torch.istft(center=True)`` does; the end padding is the fixed
  ``n_fft // 2 + hop - 1`` zeros (the frames are those of
  :meth:`~tuss_plugin.layers.stft.TUSSSTFTEncoder.padding`: the extra zeros
  there are fewer than one hop);
- RoPE is the rotation of interleaved pairs with cosine and sine tables,
  attention explicit products and softmax, RMSGroupNorm and the SwiGLU
  convolution-deconvolution FFN their plain formulations
  (:meth:`~tuss_plugin.layers.tf_locoformer.SwiGLUConvDeconv1d._forward_conv`);
- the band-split encoder and band-wise decoder are the model's own
  (:meth:`~tuss_plugin.layers.band_split.BandSplitEncoder.forward_real`,
  :meth:`~tuss_plugin.layers.band_split.BandwiseDecoder.forward_parts`).

Prompts are 0-based indices into the vocabulary's names
(``PromptVocabulary.names``); any count, repeats included, in one graph.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn as nn

from tuss_plugin.layers.tf_locoformer import LocoformerPath, RMSGroupNorm, TFLocoformerStack


def dft_bases(n_fft: int, window: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(analysis (2F, 1, n_fft), synthesis (2F, 1, n_fft)) float32 bases, F = n_fft // 2 + 1.

    ``window`` (win_length,) is centred in ``n_fft`` (as ``torch.stft`` does).
    Analysis rows: ``w cos`` (real parts), ``-w sin`` (imaginary parts).
    Synthesis rows: the inverse real DFT (``irfft``: bins 1 .. n_fft/2 - 1
    counted twice, the imaginary parts of DC and Nyquist ignored) times ``w``.
    """
    n_bins = n_fft // 2 + 1
    w = torch.zeros(n_fft, dtype=torch.float64)
    left = (n_fft - window.numel()) // 2
    w[left : left + window.numel()] = window.detach().to("cpu", torch.float64)
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_bins, dtype=torch.float64)
    ang = 2 * math.pi * torch.remainder(k[:, None] * n[None, :], n_fft) / n_fft  # (F, n_fft)
    cos, sin = torch.cos(ang), torch.sin(ang)
    sin[0] = 0.0
    if n_fft % 2 == 0:
        sin[-1] = 0.0
    analysis = torch.cat([cos * w, -sin * w])  # (2F, n_fft)
    weight = torch.full((n_bins, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    synthesis = torch.cat([cos * weight * w, -sin * weight * w]) / n_fft  # (2F, n_fft)
    return analysis.float().unsqueeze(1), synthesis.float().unsqueeze(1)


def rms_group_norm(norm: RMSGroupNorm, x: torch.Tensor) -> torch.Tensor:
    """RMSGroupNorm: x (B', L, C) -> (B', L, C)."""
    Bp, L, C = x.shape
    xg = x.reshape(Bp, L, norm.num_groups, C // norm.num_groups)  # (B', L, G, d)
    den = torch.linalg.vector_norm(xg, dim=-1, keepdim=True) * xg.shape[-1] ** -0.5 + norm.eps  # (B', L, G, 1)
    return (xg / den).reshape(Bp, L, C) * norm.gamma


def self_attention(attn, x: torch.Tensor) -> torch.Tensor:
    """Multi-head self-attention with RoPE on interleaved pairs: x (B', L, C) -> (B', L, C)."""
    Bp, L, _ = x.shape
    H = attn.n_heads
    qkv = attn.qkv(x).reshape(Bp, L, 3, H, -1)  # (B', L, 3, H, D)
    D = qkv.shape[-1]
    pos = torch.arange(L, dtype=torch.float32, device=x.device)  # (L,)
    ang = pos[:, None] * attn.rope.freqs[None, :]  # (L, D/2)
    cos, sin = torch.cos(ang)[:, None, None, :], torch.sin(ang)[:, None, None, :]  # (L, 1, 1, D/2)
    pairs = qkv[:, :, :2].reshape(Bp, L, 2, H, D // 2, 2)  # (B', L, 2, H, D/2, 2)
    re, im = pairs[..., 0], pairs[..., 1]
    qk = torch.stack([re * cos - im * sin, re * sin + im * cos], dim=-1).reshape(Bp, L, 2, H, D)
    q = qk[:, :, 0].transpose(1, 2)  # (B', H, L, D)
    k = qk[:, :, 1].transpose(1, 2)
    v = qkv[:, :, 2].transpose(1, 2)
    s = torch.matmul(q, k.transpose(-1, -2)) * D**-0.5  # (B', H, L, L)
    out = torch.matmul(torch.softmax(s, dim=-1), v)  # (B', H, L, D)
    return attn.aggregate_heads(out.transpose(1, 2).reshape(Bp, L, H * D))


def locoformer_path(path: LocoformerPath, x: torch.Tensor) -> torch.Tensor:
    """One macaron path: x (B', L, C) -> (B', L, C)."""
    x = x + path.ffn[1]._forward_conv(rms_group_norm(path.ffn_norm[1], x))
    x = x + self_attention(path.attn, rms_group_norm(path.attn_norm, x))
    return x + path.ffn[0]._forward_conv(rms_group_norm(path.ffn_norm[0], x))


def locoformer_stack(stack: TFLocoformerStack, h: torch.Tensor) -> torch.Tensor:
    """h (B, T, Q, C) -> (B, T, Q, C) through every block of the stack."""
    B, T, Q, C = h.shape
    for block in stack.blocks:
        order = (block.freq_path, block.frame_path) if block.tf_order == "ft" else (block.frame_path, block.freq_path)
        for path in order:
            if path is block.freq_path:
                h = locoformer_path(path, h.reshape(B * T, Q, C)).reshape(B, T, Q, C)
            else:
                t = locoformer_path(path, h.transpose(1, 2).reshape(B * Q, T, C))  # (B*Q, T, C)
                h = t.reshape(B, Q, T, C).transpose(1, 2)  # (B, T, Q, C)
    return h


class ExportGraph(nn.Module):
    """Waveform-to-waveform TUSS in exportable operators.

    Args:
        model: a ``TUSSEnhancementModel`` with a ``TUSSSeparator`` and the
            ``tuss_stft`` encoder and decoder (in eval mode, float32).

    ``forward(mixture (B, L) float32, prompt_ids (B, N) int64) -> (B, N, L)``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        from tuss_plugin.layers.stft import TUSSSTFTDecoder, TUSSSTFTEncoder
        from tuss_plugin.separator.tuss_separator import TUSSSeparator

        enc, dec, sep = model.encoder, model.decoder, model.separator
        if not isinstance(sep, TUSSSeparator):
            raise ValueError(f"only TUSS separators export (this model's is {type(sep).__name__})")
        if not (isinstance(enc, TUSSSTFTEncoder) and isinstance(dec, TUSSSTFTDecoder)):
            raise ValueError("only models with the tuss_stft encoder and decoder export")
        if (enc.n_fft, enc.hop_length, enc.win_length) != (dec.n_fft, dec.hop_length, dec.win_length):
            raise ValueError("the encoder's and decoder's STFT settings differ")
        if not torch.equal(enc.window, dec.window):
            raise ValueError("the encoder's and decoder's windows differ")
        # not a submodule: the model's tensors enter an exported graph as constants
        # (exported as parameters of this module, the reference test model's graph
        # gave wrong outputs in onnxruntime, the tiny test config's did not)
        object.__setattr__(self, "model", model)
        self.n_fft, self.hop = int(enc.n_fft), int(enc.hop_length)
        analysis, synthesis = dft_bases(self.n_fft, enc.window)
        self.register_buffer("analysis", analysis, persistent=False)  # (2F, 1, n_fft)
        self.register_buffer("synthesis", synthesis, persistent=False)  # (2F, 1, n_fft)
        w = torch.zeros(self.n_fft)
        left = (self.n_fft - enc.window.numel()) // 2
        w[left : left + enc.window.numel()] = enc.window.float()
        self.register_buffer("window_sq", (w * w).view(1, 1, -1), persistent=False)  # (1, 1, n_fft)

    def stft(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L) -> (B, T, F, 2): the released models' padded STFT, real and imaginary parts."""
        half = self.n_fft // 2
        x = nn.functional.pad(x.unsqueeze(1), (half, half + self.hop - 1))  # (B, 1, L + pad)
        spec = nn.functional.conv1d(x, self.analysis, stride=self.hop)  # (B, 2F, T)
        B, _, T = spec.shape
        return spec.reshape(B, 2, -1, T).permute(0, 3, 2, 1)  # (B, T, F, 2)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """spec (B', T, F, 2) -> (B', length): ``torch.istft(center=True)`` cut to ``length``."""
        Bp, T = spec.shape[0], spec.shape[1]
        x = spec.permute(0, 3, 2, 1).reshape(Bp, -1, T)  # (B', 2F, T): re rows, then im rows
        y = nn.functional.conv_transpose1d(x, self.synthesis, stride=self.hop)  # (B', 1, (T-1)*hop + n_fft)
        ones = torch.ones_like(x[:1, :1])  # (1, 1, T)
        env = nn.functional.conv_transpose1d(ones, self.window_sq, stride=self.hop)  # (1, 1, (T-1)*hop + n_fft)
        half = self.n_fft // 2
        return (y / env)[:, 0, half : half + length]  # (B', length)

    def separator(self, spec: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """spec (B, T, F, 2), ids (B, N) 0-based -> masks (B, N, T, F, 2)."""
        sep = self.model.separator
        pe = sep.prompt_encoder
        feats = sep.encoder.forward_real(spec).permute(0, 2, 3, 1)  # (B, T, Q, C)
        B, T, Q, C = feats.shape
        N = ids.shape[1]
        table = torch.stack([pe.prompts[n] for n in pe.vocab.names])  # (V, C)
        tokens = table[ids]  # (B, N, C)
        seq = [tokens[:, :, None, :].expand(B, N, Q, C)]
        n_head = 0
        if pe.sos_token is not None:
            seq.append(pe.sos_token.view(1, 1, 1, C).expand(B, 1, Q, C))
            n_head = 1
        seq = locoformer_stack(sep.cross_prompt, torch.cat(seq + [feats], dim=1))  # (B, N + n_head + T, Q, C)
        prompt_vecs = seq[:, :N]  # (B, N, Q, C)
        mix = seq[:, N + n_head :]  # (B, T, Q, C)
        cond = (mix.unsqueeze(1) * prompt_vecs.unsqueeze(2)).reshape(B * N, T, Q, C)  # (B*N, T, Q, C)
        cond = locoformer_stack(sep.cond_tse, cond).contiguous().permute(0, 3, 1, 2)  # (B*N, C, T, Q)
        parts = []
        for m in sep.decoder.forward_parts(cond):  # (n, B*N, T, 1, 2, b)
            n, b = m.shape[0], m.shape[-1]
            parts.append(m[:, :, :, 0].permute(1, 2, 0, 4, 3).reshape(B * N, T, n * b, 2))  # (B*N, T, n*b, 2)
        return torch.cat(parts, dim=2).reshape(B, N, T, -1, 2)  # (B, N, T, F, 2)

    def forward(self, mixture: torch.Tensor, prompt_ids: torch.Tensor) -> torch.Tensor:
        """mixture (B, L) float32, prompt_ids (B, N) int64 -> (B, N, L) float32."""
        model = self.model
        x = mixture
        if model.normalize_variance:
            std = torch.nan_to_num(x.std(dim=-1, keepdim=True)) + model.normalize_variance_eps  # (B, 1)
            x = x / std
        spec = self.stft(x)  # (B, T, F, 2)
        masks = self.separator(spec, prompt_ids)  # (B, N, T, F, 2)
        s = spec.unsqueeze(1)  # (B, 1, T, F, 2)
        mr, mi, sr, si = masks[..., 0], masks[..., 1], s[..., 0], s[..., 1]
        est = torch.stack([mr * sr - mi * si, mr * si + mi * sr], dim=-1)  # (B, N, T, F, 2)
        B, N, T = est.shape[0], est.shape[1], est.shape[2]
        y = self.istft(est.reshape(B * N, T, -1, 2), mixture.shape[-1]).reshape(B, N, -1)  # (B, N, L)
        if model.normalize_variance:
            y = y * std.unsqueeze(1)
        return y
