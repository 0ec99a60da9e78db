# SPDX-License-Identifier: Apache-2.0
"""The attention of a TF-Locoformer path (Saijo et al., IWAENC 2024), as used by
both TF-Locoformer modules of TUSS (Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025): multi-head self-attention without biases, with
rotary position embeddings (RoPE) on queries and keys. The product itself is
:func:`tuss_plugin.layers.kernels.attention`.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from tuss_plugin.layers import kernels


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
    def table(self, length: int, device: Optional[torch.device] = None) -> torch.Tensor:
        """Unit complex rotations ``exp(i * pos * freq)`` for positions 0..length-1: (L, d/2)."""
        pos = torch.arange(length, device=device, dtype=self.freqs.dtype)
        ang = pos[:, None] * self.freqs.to(device)[None, :]  # (L, d/2)
        return torch.polar(torch.ones_like(ang), ang)  # (L, d/2) complex: cos + i sin

    @staticmethod
    def rotate(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Rotate the interleaved pairs of x: (..., d) by a broadcastable (..., d/2) table.

        Pair ``(x_2i, x_2i+1)`` is one complex number ``x_2i + i x_2i+1``; the
        rotation is one complex product (float32), i.e.
        ``(x_2i cos - x_2i+1 sin, x_2i+1 cos + x_2i sin)``.
        """
        xc = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))  # (..., d/2)
        return torch.view_as_real(xc * table).flatten(-2).to(x.dtype)  # (..., d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate x: (..., L, d) -> (..., L, d)."""
        return self.rotate(x, self.table(x.shape[-2], x.device))


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with RoPE and no biases.

    Args:
        emb_dim: input / output channels C.
        attention_dim: total query/key/value width (heads x head_dim).
        n_heads: number of heads.
        rope: rotary embedding applied to queries and keys (shared module).
        dropout: attention and output dropout.
    """

    def __init__(
        self,
        emb_dim: int,
        attention_dim: int,
        n_heads: int,
        rope: RotaryEmbedding,
        dropout: float = 0.0,
    ):
        super().__init__()
        if attention_dim % n_heads != 0:
            raise ValueError(f"attention_dim={attention_dim} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(emb_dim, 3 * attention_dim, bias=False)
        self.aggregate_heads = nn.Sequential(nn.Linear(attention_dim, emb_dim, bias=False), nn.Dropout(dropout))
        self.rope = rope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C)."""
        Bp, L, _ = x.shape
        qkv = self.qkv(x).view(Bp, L, 3, self.n_heads, -1)  # (B', L, 3, H, D)
        # RoPE on queries and keys at once (one complex product)
        table = self.rope.table(L, x.device)[:, None, None, :]  # (L, 1, 1, D/2)
        # split (not slicing): its backward is one concatenation, no zero-filled gradients
        qk, v = qkv.split([2, 1], dim=2)  # (B', L, 2, H, D), (B', L, 1, H, D) views
        qk = self.rope.rotate(qk, table)  # (B', L, 2, H, D)
        q, k = qk.permute(2, 0, 3, 1, 4)  # each (B', H, L, D), views
        v = v.squeeze(2).transpose(1, 2)  # (B', H, L, D), view
        # softmax(q k^T / sqrt(D)) v, see kernels.attention
        out = kernels.attention(q, k, v, dropout=self.dropout if self.training else 0.0)  # (B', H, L, D)
        out = out.transpose(1, 2).reshape(Bp, L, -1)  # (B', L, H*D)
        return self.aggregate_heads(out)
