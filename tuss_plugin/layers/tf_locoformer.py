# SPDX-License-Identifier: Apache-2.0
"""TF-Locoformer block as used by TUSS.

TF-Locoformer (Saijo et al., IWAENC 2024) is the backbone of both the
cross-prompt module and the conditional TSE module of TUSS (Saijo et al.,
"Task-aware Unified Source Separation", ICASSP 2025). A block runs a
frequency path (sequence over bands) and a time path (sequence over frames);
each path is a macaron-style stack

    x = x + FFN_1(RMSGroupNorm(x))
    x = x + MHSA(RMSGroupNorm(x))          (RoPE on queries and keys)
    x = x + FFN_0(RMSGroupNorm(x))

with SwiGLU convolution-deconvolution feed-forward networks.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSGroupNorm(nn.Module):
    """Group-wise RMS normalisation over the last (channel) dimension.

    Each group of ``dim // num_groups`` channels is divided by its RMS value
    (``||x||_2 / sqrt(d_group) + eps``) and the result is scaled by a learnable
    per-channel gain. No bias, no mean subtraction.

    Args:
        num_groups: number of channel groups.
        dim: number of channels.
        eps: added to the RMS value.
    """

    def __init__(self, num_groups: int, dim: int, eps: float = 1e-5):
        super().__init__()
        if dim % num_groups != 0:
            raise ValueError(f"dim={dim} is not divisible by num_groups={num_groups}")
        self.num_groups = num_groups
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))

    # normalisation statistics stay in float32 under mixed precision
    @torch.amp.autocast("cuda", enabled=False)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., C) -> (..., C)."""
        shape = x.shape
        xg = x.float().view(*shape[:-1], self.num_groups, -1)  # (..., G, C/G)
        rms = xg.norm(dim=-1, keepdim=True) * xg.shape[-1] ** -0.5
        y = (xg / (rms + self.eps)).view(shape)  # (..., C)
        return (y * self.gamma).to(x.dtype)


class SwiGLUConvDeconv1d(nn.Module):
    """SwiGLU feed-forward network with a 1-D convolution and deconvolution.

    The sequence is zero-padded by ``k - 1`` on both ends, ``Conv1d(C, 2*inner, k)``
    gives value (first half) and gate (second half), ``value * silu(gate)`` goes
    through ``ConvTranspose1d(inner, C, k)``, and positions ``k-1 .. k-1+L`` are
    kept, so the output has the input length.

    Args:
        dim: input / output channels C.
        dim_inner: hidden channels.
        conv1d_kernel: kernel size k (1 gives a position-wise FFN).
        conv1d_shift: stride; only 1 is supported (the released configuration).
        dropout: dropout after the gated activation and at the output.
    """

    def __init__(
        self,
        dim: int,
        dim_inner: int,
        conv1d_kernel: int = 4,
        conv1d_shift: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        if conv1d_shift != 1:
            raise ValueError(f"conv1d_shift={conv1d_shift} is not supported (only 1)")
        if conv1d_kernel < 1:
            raise ValueError(f"conv1d_kernel must be >= 1, got {conv1d_kernel}")
        self.kernel = conv1d_kernel
        self.conv1d = nn.Conv1d(dim, 2 * dim_inner, conv1d_kernel)
        self.deconv1d = nn.ConvTranspose1d(dim_inner, dim, conv1d_kernel)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C)."""
        L = x.shape[1]
        k = self.kernel
        h = x.transpose(1, 2)  # (B', C, L)
        if k > 1:
            h = F.pad(h, (k - 1, k - 1))  # (B', C, L + 2k - 2)
        h = self.conv1d(h)  # (B', 2*inner, L + k - 1)
        value, gate = h.chunk(2, dim=1)
        h = self.dropout(value * F.silu(gate))
        h = self.deconv1d(h)  # (B', C, L + 2k - 2)
        h = h[..., k - 1 : k - 1 + L]  # (B', C, L)
        return self.dropout(h.transpose(1, 2))


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE) with interleaved pairs.

    Features ``2i`` and ``2i+1`` form one pair rotated by ``pos * theta^(-2i/d)``
    for positions ``0 .. L-1``. The frequency table is a frozen parameter
    (``requires_grad=False``): it is shared by all blocks of one path of a module,
    as in the released models, whose parameter counts include it.

    Args:
        dim: head dimension d (even).
        theta: base of the frequencies.
    """

    def __init__(self, dim: int, theta: float = 10000.0):
        super().__init__()
        if dim % 2 != 0:
            raise ValueError(f"RoPE needs an even head dimension, got {dim}")
        freqs = theta ** (-torch.arange(0, dim, 2)[: dim // 2].float() / dim)
        self.freqs = nn.Parameter(freqs, requires_grad=False)

    # angles are computed in float32 under mixed precision
    @torch.amp.autocast("cuda", enabled=False)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate x: (..., L, d) -> (..., L, d)."""
        L = x.shape[-2]
        pos = torch.arange(L, device=x.device, dtype=self.freqs.dtype)
        ang = pos[:, None] * self.freqs[None, :]  # (L, d/2)
        ang = ang.repeat_interleave(2, dim=-1)  # (L, d)
        xf = x.float()
        pairs = xf.unflatten(-1, (-1, 2))  # (..., L, d/2, 2)
        rot = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)  # (..., L, d)
        return (xf * ang.cos() + rot * ang.sin()).to(x.dtype)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with RoPE and no biases.

    Args:
        emb_dim: input / output channels C.
        attention_dim: total query/key/value width (heads x head_dim).
        n_heads: number of heads.
        rope: rotary embedding applied to queries and keys (shared module).
        dropout: attention and output dropout.
        flash_attention: accepted for configuration compatibility; PyTorch's
            ``scaled_dot_product_attention`` already picks the fastest kernel.
    """

    def __init__(
        self,
        emb_dim: int,
        attention_dim: int,
        n_heads: int,
        rope: RotaryEmbedding,
        dropout: float = 0.0,
        flash_attention: bool = False,
    ):
        super().__init__()
        if attention_dim % n_heads != 0:
            raise ValueError(
                f"attention_dim={attention_dim} is not divisible by n_heads={n_heads}"
            )
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(emb_dim, 3 * attention_dim, bias=False)
        self.aggregate_heads = nn.Sequential(
            nn.Linear(attention_dim, emb_dim, bias=False), nn.Dropout(dropout)
        )
        self.rope = rope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C)."""
        Bp, L, _ = x.shape
        qkv = self.qkv(x).view(Bp, L, 3, self.n_heads, -1)  # (B', L, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B', H, L, D)
        q, k = self.rope(q), self.rope(k)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0
        )  # (B', H, L, D)
        out = out.transpose(1, 2).reshape(Bp, L, -1)  # (B', L, H*D)
        return self.aggregate_heads(out)


class LocoformerPath(nn.Module):
    """One path (frequency or time) of a TF-Locoformer block.

    Args:
        emb_dim: channels C.
        num_groups: groups of the RMSGroupNorms.
        attention_dim: attention width.
        n_heads: attention heads.
        ffn_config: two dicts of :class:`SwiGLUConvDeconv1d` arguments
            (``dim_inner``, ``conv1d_kernel``, ``conv1d_shift``): entry 0 configures
            the FFN before attention, entry 1 the one after it (stored in reverse,
            ``ffn.1`` runs first, as in the released checkpoints).
        rope: shared rotary embedding.
        dropout: dropout in attention and FFNs.
        flash_attention: see :class:`MultiHeadSelfAttention`.
    """

    def __init__(
        self,
        emb_dim: int,
        num_groups: int,
        attention_dim: int,
        n_heads: int,
        ffn_config: Sequence[Dict],
        rope: RotaryEmbedding,
        dropout: float = 0.0,
        flash_attention: bool = False,
    ):
        super().__init__()
        if len(ffn_config) != 2:
            raise ValueError(f"a macaron path needs 2 FFN configs, got {len(ffn_config)}")
        self.ffn_norm = nn.ModuleList(RMSGroupNorm(num_groups, emb_dim) for _ in range(2))
        self.ffn = nn.ModuleList(
            SwiGLUConvDeconv1d(emb_dim, dropout=dropout, **_ffn_kwargs(c))
            for c in reversed(list(ffn_config))
        )
        self.attn_norm = RMSGroupNorm(num_groups, emb_dim)
        self.attn = MultiHeadSelfAttention(
            emb_dim, attention_dim, n_heads, rope, dropout, flash_attention
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C)."""
        x = x + self.ffn[1](self.ffn_norm[1](x))
        x = x + self.attn(self.attn_norm(x))
        x = x + self.ffn[0](self.ffn_norm[0](x))
        return x


def _ffn_kwargs(conf: Dict) -> Dict:
    """Accept ``{dim_inner: ..}`` and the release's ``{conf: {dim_inner: ..}}``."""
    conf = dict(conf.get("conf", conf))
    allowed = {"dim_inner", "conv1d_kernel", "conv1d_shift"}
    unknown = set(conf) - allowed
    if unknown:
        raise ValueError(f"unknown FFN option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    if "dim_inner" not in conf:
        raise ValueError(f"FFN config {conf} lacks 'dim_inner'")
    return conf


class TFLocoformerBlock(nn.Module):
    """TF-Locoformer block: frequency path and time path over (B, C, T, Q) features.

    Args:
        emb_dim: channels C.
        num_groups: groups of the RMSGroupNorms.
        attention_dim: attention width of both paths.
        n_heads: attention heads.
        freq_ffn_config: FFN configs of the frequency path (2 entries).
        frame_ffn_config: FFN configs of the time path (2 entries).
        rope_freq: rotary embedding shared by the frequency paths of a module.
        rope_frame: rotary embedding shared by the time paths of a module.
        tf_order: ``"ft"`` (frequency path first, the released setting) or ``"tf"``.
        dropout: dropout in attention and FFNs.
        flash_attention: see :class:`MultiHeadSelfAttention`.
    """

    def __init__(
        self,
        emb_dim: int,
        num_groups: int,
        attention_dim: int,
        n_heads: int,
        freq_ffn_config: Sequence[Dict],
        frame_ffn_config: Sequence[Dict],
        rope_freq: RotaryEmbedding,
        rope_frame: RotaryEmbedding,
        tf_order: str = "ft",
        dropout: float = 0.0,
        flash_attention: bool = False,
    ):
        super().__init__()
        if tf_order not in ("ft", "tf"):
            raise ValueError(f"tf_order must be 'ft' or 'tf', got {tf_order!r}")
        self.tf_order = tf_order
        common = dict(
            emb_dim=emb_dim,
            num_groups=num_groups,
            attention_dim=attention_dim,
            n_heads=n_heads,
            dropout=dropout,
            flash_attention=flash_attention,
        )
        self.freq_path = LocoformerPath(ffn_config=freq_ffn_config, rope=rope_freq, **common)
        self.frame_path = LocoformerPath(ffn_config=frame_ffn_config, rope=rope_frame, **common)

    def _freq(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, Q = x.shape
        h = x.permute(0, 2, 3, 1).reshape(B * T, Q, C)  # (B*T, Q, C)
        h = self.freq_path(h)
        return h.view(B, T, Q, C).permute(0, 3, 1, 2)  # (B, C, T, Q)

    def _frame(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, Q = x.shape
        h = x.permute(0, 3, 2, 1).reshape(B * Q, T, C)  # (B*Q, T, C)
        h = self.frame_path(h)
        return h.view(B, Q, T, C).permute(0, 3, 2, 1)  # (B, C, T, Q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, Q) -> (B, C, T, Q)."""
        if self.tf_order == "ft":
            return self._frame(self._freq(x))
        return self._freq(self._frame(x))


class TFLocoformerStack(nn.Module):
    """A stack of TF-Locoformer blocks sharing one RoPE table per path.

    This is one module of TUSS' Fig. 1 (the cross-prompt module or the
    conditional TSE module).

    Args:
        n_blocks: number of blocks.
        emb_dim, num_groups, attention_dim, n_heads, freq_ffn_config,
        frame_ffn_config, tf_order, dropout, flash_attention: see
            :class:`TFLocoformerBlock`.
        rope_theta: RoPE base.
    """

    def __init__(
        self,
        n_blocks: int,
        emb_dim: int,
        num_groups: int,
        attention_dim: int,
        n_heads: int,
        freq_ffn_config: Sequence[Dict],
        frame_ffn_config: Sequence[Dict],
        tf_order: str = "ft",
        dropout: float = 0.0,
        flash_attention: bool = False,
        rope_theta: float = 10000.0,
    ):
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        head_dim = attention_dim // n_heads
        rope_freq = RotaryEmbedding(head_dim, rope_theta)
        rope_frame = RotaryEmbedding(head_dim, rope_theta)
        self.blocks = nn.ModuleList(
            TFLocoformerBlock(
                emb_dim,
                num_groups,
                attention_dim,
                n_heads,
                freq_ffn_config,
                frame_ffn_config,
                rope_freq,
                rope_frame,
                tf_order,
                dropout,
                flash_attention,
            )
            for _ in range(n_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, Q) -> (B, C, T, Q)."""
        for block in self.blocks:
            x = block(x)
        return x
