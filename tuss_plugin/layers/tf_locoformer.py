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

with SwiGLU convolution-deconvolution feed-forward networks (the attention is
:mod:`tuss_plugin.layers.attention`). The modules here
state the math; how it runs (written-out backwards, chunking, explicit attention
for short sequences) is decided in :mod:`tuss_plugin.layers.kernels` and
:mod:`tuss_plugin.layers.ffn_kernels` (the FFN).
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from tuss_plugin.layers import ffn_kernels, kernels
from tuss_plugin.layers.attention import MultiHeadSelfAttention, RotaryEmbedding
from tuss_plugin.layers.stack_settings import StackSettings
from tuss_plugin.layers.stack_settings import ffn_kwargs as _ffn_kwargs


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
        """x: (..., C) -> (..., C), ``x_g / (||x_g||_2 / sqrt(d) + eps) * gamma`` per group (float32).

        Runs as :func:`kernels.rms_group_norm <tuss_plugin.layers.kernels.rms_group_norm>`;
        the result has x's dtype, or the autocast dtype where that function writes it so
        (inference under CPU autocast).
        """
        y = kernels.rms_group_norm(x.float(), self.gamma, self.num_groups, self.eps)
        return y if y.dtype != torch.float32 else y.to(x.dtype)


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
        """x: (B', L, C) -> (B', L, C).

        Runs as :func:`ffn_kernels.swiglu_ffn <tuss_plugin.layers.ffn_kernels.swiglu_ffn>`:
        matrix products in the (B', L, C) layout (same result as
        :meth:`_forward_conv` up to float32 round-off) where it can, this
        layer's convolution modules otherwise (active dropout, autocast).
        """
        w1, b1 = self.conv1d.weight, self.conv1d.bias  # (2I, C, k), (2I,)
        w2, b2 = self.deconv1d.weight, self.deconv1d.bias  # (I, C, k), (C,)
        p = self.dropout.p if self.training else 0.0
        return ffn_kernels.swiglu_ffn(x, w1, b1, w2, b2, dropout=p, reference=self._forward_conv)

    def _forward_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The FFN with the convolution modules: x (B', L, C) -> (B', L, C)."""
        L = x.shape[1]
        k = self.kernel
        h = F.pad(x.transpose(1, 2), (k - 1, k - 1))  # (B', C, L + 2k - 2)
        value, gate = self.conv1d(h).chunk(2, dim=1)  # (B', I, L + k - 1) each
        h = self.deconv1d(self.dropout(value * F.silu(gate)))  # (B', C, L + 2k - 2)
        return self.dropout(h[..., k - 1 : k - 1 + L].transpose(1, 2))  # (B', L, C)


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
    ):
        super().__init__()
        if len(ffn_config) != 2:
            raise ValueError(f"a macaron path needs 2 FFN configs, got {len(ffn_config)}")
        self.ffn_norm = nn.ModuleList(RMSGroupNorm(num_groups, emb_dim) for _ in range(2))
        self.ffn = nn.ModuleList(
            SwiGLUConvDeconv1d(emb_dim, dropout=dropout, **_ffn_kwargs(c)) for c in reversed(list(ffn_config))
        )
        self.attn_norm = RMSGroupNorm(num_groups, emb_dim)
        self.attn = MultiHeadSelfAttention(emb_dim, attention_dim, n_heads, rope, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C), the macaron residual stack (see the module docstring).

        The residual additions run as :func:`kernels.residual_branches
        <tuss_plugin.layers.kernels.residual_branches>` (in place and over
        groups of sequences without autograd; same result).
        """
        return kernels.residual_branches(
            x,
            (
                lambda h: self.ffn[1](self.ffn_norm[1](h)),  # FFN_1 (before attention)
                lambda h: self.attn(self.attn_norm(h)),  # MHSA with RoPE
                lambda h: self.ffn[0](self.ffn_norm[0](h)),  # FFN_0 (after attention)
            ),
        )


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
    ):
        super().__init__()
        if tf_order not in ("ft", "tf"):
            raise ValueError(f"tf_order must be 'ft' or 'tf', got {tf_order!r}")
        self.tf_order = tf_order
        dims = (emb_dim, num_groups, attention_dim, n_heads)
        self.freq_path = LocoformerPath(*dims, freq_ffn_config, rope_freq, dropout)
        self.frame_path = LocoformerPath(*dims, frame_ffn_config, rope_frame, dropout)

    def _freq(self, h: torch.Tensor) -> torch.Tensor:
        B, T, Q, C = h.shape
        return self.freq_path(h.reshape(B * T, Q, C)).view(B, T, Q, C)  # (B, T, Q, C)

    def _frame(self, h: torch.Tensor) -> torch.Tensor:
        B, T, Q, C = h.shape
        t = h.transpose(1, 2).reshape(B * Q, T, C)  # (B*Q, T, C), one copy
        t = self.frame_path(t)
        return t.view(B, Q, T, C).transpose(1, 2).contiguous()  # (B, T, Q, C)

    def forward_tqc(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, T, Q, C) contiguous -> (B, T, Q, C) contiguous.

        The frequency path runs on the ``(B*T, Q, C)`` view without a copy;
        the time path needs one transposed copy in and one out.
        """
        h = h.contiguous()
        if self.tf_order == "ft":
            return self._frame(self._freq(h))
        return self._freq(self._frame(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, Q) -> (B, C, T, Q)."""
        h = x.permute(0, 2, 3, 1).contiguous()  # (B, T, Q, C)
        return self.forward_tqc(h).permute(0, 3, 1, 2)  # (B, C, T, Q) view


class TFLocoformerStack(nn.Module):
    """A stack of TF-Locoformer blocks sharing one RoPE table per path.

    This is one module of TUSS' Fig. 1 (the cross-prompt module or the
    conditional TSE module). Separators build it with :meth:`from_settings`;
    the positional parameters below are the same five settings spelled out.

    Args:
        n_blocks: number of blocks.
        emb_dim, num_groups, attention_dim, n_heads, freq_ffn_config,
        frame_ffn_config, tf_order, dropout: see :class:`TFLocoformerBlock`.
        rope_theta: RoPE base.

    ``self.settings`` holds the checked :class:`~tuss_plugin.layers.stack_settings.StackSettings`.
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
        rope_theta: float = 10000.0,
    ):
        super().__init__()
        self.settings = settings = StackSettings(  # checked; messages use the names above
            blocks=n_blocks,
            attention_dim=attention_dim,
            n_heads=n_heads,
            freq_ffn=freq_ffn_config,
            frame_ffn=frame_ffn_config,
        )
        rope_freq = RotaryEmbedding(settings.head_dim, rope_theta)
        rope_frame = RotaryEmbedding(settings.head_dim, rope_theta)
        self.blocks = nn.ModuleList(
            TFLocoformerBlock(
                emb_dim=emb_dim,
                num_groups=num_groups,
                attention_dim=settings.attention_dim,
                n_heads=settings.n_heads,
                freq_ffn_config=settings.freq_ffn,
                frame_ffn_config=settings.frame_ffn,
                rope_freq=rope_freq,
                rope_frame=rope_frame,
                tf_order=tf_order,
                dropout=dropout,
            )
            for _ in range(settings.blocks)
        )

    @classmethod
    def from_settings(
        cls,
        settings: StackSettings,
        *,
        emb_dim: int,
        num_groups: int,
        tf_order: str = "ft",
        dropout: float = 0.0,
        rope_theta: float = 10000.0,
    ) -> "TFLocoformerStack":
        """The stack of ``settings`` (checked where they were made, with their key names)."""
        stack = cls(
            n_blocks=settings.blocks,
            emb_dim=emb_dim,
            num_groups=num_groups,
            attention_dim=settings.attention_dim,
            n_heads=settings.n_heads,
            freq_ffn_config=settings.freq_ffn,
            frame_ffn_config=settings.frame_ffn,
            tf_order=tf_order,
            dropout=dropout,
            rope_theta=rope_theta,
        )
        stack.settings = settings  # the same settings, with their prefix for messages
        return stack

    def forward_tqc(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, T, Q, C) -> (B, T, Q, C) contiguous (the layout used inside)."""
        h = h.contiguous()
        for block in self.blocks:
            h = block.forward_tqc(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, Q) -> (B, C, T, Q)."""
        h = x.permute(0, 2, 3, 1)  # (B, T, Q, C)
        return self.forward_tqc(h).permute(0, 3, 1, 2)  # (B, C, T, Q) view
