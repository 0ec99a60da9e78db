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
        xf = x.float()
        if torch.is_grad_enabled() and (xf.requires_grad or self.gamma.requires_grad):
            y = _RMSGroupNormFunction.apply(xf, self.gamma, self.num_groups, self.eps)
        else:
            y, _, _ = _rms_group_norm(xf, self.gamma, self.num_groups, self.eps)
        return y.to(x.dtype)


def _rms_group_norm(
    x: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float
) -> "tuple[torch.Tensor, torch.Tensor, torch.Tensor]":
    """x (..., C) -> (y (..., C), norm (..., G, 1), denominator (..., G, 1)).

    ``y = x / (||x_g|| / sqrt(d) + eps) * gamma`` per group ``x_g`` of ``d`` channels.
    """
    shape = x.shape
    xg = x.view(*shape[:-1], num_groups, -1)  # (..., G, d)
    norm = torch.linalg.vector_norm(xg, dim=-1, keepdim=True)  # (..., G, 1)
    den = norm * xg.shape[-1] ** -0.5 + eps
    y = (xg / den).view(shape)  # (..., C)
    y *= gamma
    return y, norm, den


class _RMSGroupNormFunction(torch.autograd.Function):
    """Autograd of :func:`_rms_group_norm` in a few passes over memory.

    Saves the input and the per-group norm and denominator ``D = n / sqrt(d) + eps``.
    With ``g = gy * gamma`` (per group): ``gx = g / D - (g . x) / (D^2 n sqrt(d)) * x``
    (the second term is 0 for an all-zero group) and
    ``ggamma = sum over positions of gy * x / D``.
    """

    @staticmethod
    def forward(ctx, x, gamma, num_groups, eps):  # noqa: D102 - see the class docstring
        x = x.contiguous()
        y, norm, den = _rms_group_norm(x, gamma, num_groups, eps)
        ctx.save_for_backward(x, gamma, norm, den)
        return y

    @staticmethod
    def backward(ctx, gy):  # noqa: D102
        x, gamma, norm, den = ctx.saved_tensors
        shape = x.shape
        xg = x.view(*shape[:-1], norm.shape[-2], -1)  # (..., G, d)
        d = xg.shape[-1]
        gy = gy.contiguous()
        gx = ggamma = None
        if ctx.needs_input_grad[1]:
            xhat = (xg / den).view(-1, shape[-1])  # (rows, C)
            ggamma = (gy.view(-1, shape[-1]) * xhat).sum(0)
            del xhat
        if ctx.needs_input_grad[0]:
            g = (gy * gamma).view(xg.shape)  # (..., G, d)
            dot = (g * xg).sum(-1, keepdim=True)  # (..., G, 1)
            coef = torch.where(norm > 0, dot / (den * den * norm) * d**-0.5, torch.zeros_like(dot))
            gx = g / den
            gx -= coef * xg
            gx = gx.view(shape)
        return gx, ggamma, None, None


# The FFN runs over groups of sequences of about this many hidden positions:
# its wide hidden activations then stay in the CPU caches, which makes the
# matrix products and the element-wise work markedly faster than on the whole
# batch at once. Results are the same up to float32 round-off (weight
# gradients are summed group by group).
FFN_CHUNK_POSITIONS: int = 2048


def _unfold_padded(x: torch.Tensor, k: int) -> torch.Tensor:
    """x (n, L, C) zero-padded by ``k - 1`` on both ends, windows of ``k``: (n*(L+k-1), C*k), (C, k) order."""
    n, L, C = x.shape
    if k == 1:
        return x.reshape(n * L, C)
    return F.pad(x, (0, 0, k - 1, k - 1)).unfold(1, k, 1).reshape(n * (L + k - 1), C * k)  # copy


def _ffn_forward_into(
    x: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    y: torch.Tensor,
    h: torch.Tensor,
    keep_h: bool = True,
) -> None:
    """SwiGLU conv-deconv FFN as matrix products, written into ``y`` (n, L, C) and ``h`` (n, L+k-1, 2I).

    ``x``: (n, L, C); ``w1, b1``: ``Conv1d(C, 2I, k)`` weight (2I, C, k) and bias;
    ``w2, b2``: ``ConvTranspose1d(I, C, k)`` weight (I, C, k) and bias; ``y``
    and ``h`` are contiguous. ``h`` receives the convolution output
    (value | gate) before the gated activation; with ``keep_h=False`` it is
    scratch space and the gated activation is computed in place in its gate half.

    - convolution of the input zero-padded by ``k - 1`` on both ends: the ``k``
      shifted copies are stacked on the channel axis, one product with the
      weight viewed as ``(2I, C*k)``;
    - transposed convolution: one product with the weight viewed as
      ``(k*C, I)`` gives the ``k`` taps of every hidden position, which are
      added with their shifts (only the ``L`` kept output positions are formed).
    """
    n, L, C = x.shape
    k = w1.shape[-1]
    I2 = w1.shape[0]
    h2 = h.view(-1, I2)  # (n*Lh, 2I)
    torch.addmm(b1, _unfold_padded(x, k), w1.reshape(I2, C * k).t(), out=h2)
    value, gate = h2.chunk(2, dim=-1)  # (n*Lh, I) views
    a = F.silu(gate, inplace=not keep_h)  # (n*Lh, I), a view of h2 if not keep_h
    a *= value  # value * silu(gate)
    if k == 1:
        torch.addmm(b2, a, w2.reshape(I2 // 2, C), out=y.view(-1, C))
        return
    taps = torch.mm(a, w2.permute(2, 1, 0).reshape(k * C, -1).t()).view(n, L + k - 1, k, C)
    # output position t receives tap j from hidden position t + k - 1 - j
    torch.add(taps[:, k - 1 : k - 1 + L, 0], taps[:, k - 2 : k - 2 + L, 1], out=y)
    for j in range(2, k):
        y += taps[:, k - 1 - j : k - 1 - j + L, j]
    y += b2


def _swiglu_ffn(
    x: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    keep_h: bool = True,
) -> "tuple[torch.Tensor, Optional[torch.Tensor]]":
    """x (B', L, C) -> (y (B', L, C), h (B', L+k-1, 2I) or None); see :func:`_ffn_forward_into`.

    Runs over groups of sequences of about :data:`FFN_CHUNK_POSITIONS`
    positions. ``keep_h=True`` (the training path) keeps the pre-activation
    of all groups for the backward; with ``keep_h=False`` (no autograd) the
    groups share one scratch buffer of one group's size (a fresh buffer of the
    whole batch's size costs page faults on every first touch), no ``h`` is
    returned and the gated activation is computed in place.
    """
    Bp, L, C = x.shape
    Lh = L + w1.shape[-1] - 1
    y = x.new_empty(Bp, L, C)
    step = max(1, min(Bp, FFN_CHUNK_POSITIONS // Lh))  # >= 1 also for an empty batch
    h = x.new_empty(Bp if keep_h else step, Lh, w1.shape[0])
    for i in range(0, Bp, step):
        n = min(step, Bp - i)
        hi = h[i : i + n] if keep_h else h[:n]
        _ffn_forward_into(x[i : i + n], w1, b1, w2, b2, y[i : i + n], hi, keep_h=keep_h)
    return y, (h if keep_h else None)


class _SwiGLUFFNFunction(torch.autograd.Function):
    """Autograd of :func:`_swiglu_ffn` written out as matrix products.

    Saves only the input and the pre-activation ``h``; the gated activation is
    recomputed in the backward pass, which also runs over groups of
    sequences. Gradients (``gy``: (B', L, C)):

    - ``ga = unfold(pad(gy)) @ w2`` (the transposed convolution's input
      gradient is a convolution), ``gw2 = unfold(pad(gy))^T @ a``;
    - ``gh = [ga * silu(gate), silu'(gate) * ga * value]``;
    - ``gw1 = gh^T @ unfold(pad(x))``, ``gx`` = the shifted sum of the
      ``k`` taps of ``gh @ w1`` (the convolution's input gradient is a
      transposed convolution).
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):  # noqa: D102 - see the class docstring
        x = x.contiguous()
        y, h = _swiglu_ffn(x, w1, b1, w2, b2)
        ctx.save_for_backward(x, h, w1, w2)
        return y

    @staticmethod
    def backward(ctx, gy):  # noqa: D102
        x, h, w1, w2 = ctx.saved_tensors
        Bp, L, C = x.shape
        k = w1.shape[-1]
        Lh = L + k - 1
        I2, I = w1.shape[0], w2.shape[0]
        need_x, need_w1, need_b1, need_w2, need_b2 = ctx.needs_input_grad
        gy = gy.contiguous()
        w1f = w1.reshape(I2, C * k)  # [o, c*k + j] = w1[o, c, j]
        w2ck = w2.permute(1, 2, 0).reshape(C * k, I)  # [c*k + j, i] = w2[i, c, j]
        gx = torch.empty_like(x) if need_x else None
        gw1 = x.new_zeros(I2, C * k) if need_w1 else None
        gb1 = x.new_zeros(I2) if need_b1 else None
        gw2 = x.new_zeros(C * k, I) if need_w2 else None
        step = max(1, FFN_CHUNK_POSITIONS // Lh)
        for i in range(0, Bp, step):
            xc, gyc = x[i : i + step], gy[i : i + step]  # (n, L, C)
            n = xc.shape[0]
            value, gate = h[i : i + step].view(-1, I2).chunk(2, dim=-1)  # (n*Lh, I) views
            s = F.silu(gate)
            gt = _unfold_padded(gyc, k)  # (n*Lh, C*k): gradient of the k taps
            ga = torch.mm(gt, w2ck)  # (n*Lh, I)
            if need_w2:
                gw2 = torch.addmm(gw2, gt.t(), value * s)  # out of place: FlopCounterMode counts it
            del gt
            gh = x.new_empty(n * Lh, I2)
            torch.mul(ga, s, out=gh[:, :I])
            ga *= value
            torch.ops.aten.silu_backward.grad_input(ga, gate, grad_input=gh[:, I:])
            del ga, s
            if need_b1:
                gb1 += gh.sum(0)
            if need_w1:
                gw1 = torch.addmm(gw1, gh.t(), _unfold_padded(xc, k))
            if need_x:
                gxc = gx[i : i + step]
                if k == 1:
                    torch.mm(gh, w1f, out=gxc.view(-1, C))
                    continue
                gu = torch.mm(gh, w1f).view(n, Lh, C, k)
                # input position t feeds hidden position t + k - 1 - j through tap j
                torch.add(gu[:, k - 1 : k - 1 + L, :, 0], gu[:, k - 2 : k - 2 + L, :, 1], out=gxc)
                for j in range(2, k):
                    gxc += gu[:, k - 1 - j : k - 1 - j + L, :, j]
        if need_w1:
            gw1 = gw1.view(w1.shape)
        if need_w2:
            gw2 = gw2.view(C, k, I).permute(2, 0, 1).contiguous()  # (I, C, k)
        gb2 = gy.sum((0, 1)) if need_b2 else None
        return gx, gw1, gb1, gw2, gb2


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

        Both convolutions run as matrix products in the (B', L, C) layout
        (:func:`_swiglu_ffn`; same result as the convolution modules up to
        float32 round-off). With autograd on the CPU, the backward pass is
        written out as matrix products too (:class:`_SwiGLUFFNFunction`).
        With active dropout, under autocast (mixed precision) and with
        autograd on other devices, the convolution modules run instead.
        """
        if (self.training and self.dropout.p > 0) or torch.is_autocast_enabled(x.device.type):
            return self._forward_conv(x)
        args = (x, self.conv1d.weight, self.conv1d.bias, self.deconv1d.weight, self.deconv1d.bias)
        if not torch.is_grad_enabled() or not any(t.requires_grad for t in args):
            return _swiglu_ffn(*args, keep_h=False)[0]
        if x.device.type == "cpu" and len({t.dtype for t in args}) == 1:
            return _SwiGLUFFNFunction.apply(*args)
        return self._forward_conv(x)

    def _forward_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The same FFN with the convolution modules under autograd: x (B', L, C) -> (B', L, C)."""
        L = x.shape[1]
        k = self.kernel
        h = F.pad(x.transpose(1, 2), (k - 1, k - 1))  # (B', C, L + 2k - 2)
        value, gate = self.conv1d(h).chunk(2, dim=1)  # (B', I, L + k - 1) each
        h = self.deconv1d(self.dropout(value * F.silu(gate)))  # (B', C, L + 2k - 2)
        return self.dropout(h[..., k - 1 : k - 1 + L].transpose(1, 2))  # (B', L, C)


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

    # Without autograd and dropout on the CPU, sequences up to this length (the
    # frequency path's bands) use explicit products and softmax, which are
    # faster there than the fused kernel; 0 turns this off.
    short_sequence: int = 128

    @staticmethod
    def _attention_short(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T / sqrt(D)) v for q, k, v: (B', H, L, D) -> (B', H, L, D); no dropout."""
        s = torch.matmul(q, k.transpose(-1, -2))  # (B', H, L, L)
        s *= q.shape[-1] ** -0.5
        return torch.matmul(torch.softmax(s, dim=-1), v)

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
        dropout = self.dropout if self.training else 0.0
        if (
            L <= self.short_sequence
            and not torch.is_grad_enabled()
            and x.device.type == "cpu"
            and dropout == 0.0
        ):
            out = self._attention_short(q, k, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # (B', H, L, D)
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

    # sequences of one path are independent: without autograd they are processed
    # in groups of about this many positions (B' * L), so that the FFN's wide
    # hidden activations stay in the CPU caches; results are unchanged
    chunk_positions: int = 4096

    def _forward(self, x: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C); without autograd the result goes to ``out`` if given."""
        if torch.is_grad_enabled():
            x = x + self.ffn[1](self.ffn_norm[1](x))
            x = x + self.attn(self.attn_norm(x))
            return x + self.ffn[0](self.ffn_norm[0](x))
        # without autograd: one output tensor, the residual additions in place
        y = torch.add(x, self.ffn[1](self.ffn_norm[1](x)), out=out)
        y += self.attn(self.attn_norm(y))
        y += self.ffn[0](self.ffn_norm[0](y))
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B', L, C) -> (B', L, C)."""
        Bp, L, _ = x.shape
        chunk = max(1, self.chunk_positions // max(L, 1))
        if torch.is_grad_enabled() or x.device.type != "cpu" or chunk >= Bp:
            return self._forward(x)
        out = torch.empty_like(x)
        for i in range(0, Bp, chunk):
            self._forward(x[i : i + chunk], out=out[i : i + chunk])
        return out


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
