# SPDX-License-Identifier: Apache-2.0
"""Fast path of the SwiGLU convolution-deconvolution FFN of the TF-Locoformer
block (:class:`tuss_plugin.layers.tf_locoformer.SwiGLUConvDeconv1d`; Saijo et
al., IWAENC 2024, as used by TUSS, Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025).

:func:`swiglu_ffn` decides from grad mode, device, autocast and dropout how it
runs: as matrix products over cache-sized groups of sequences, with a
written-out backward on the CPU (:class:`_SwiGLUFFNFunction`); the layer's
convolution modules (its ``reference``) under active dropout, autocast, and
autograd elsewhere. The group size is
``tuss_plugin.layers.kernels.SETTINGS.ffn_chunk_positions``, read at call time;
the other fast paths are in :mod:`tuss_plugin.layers.kernels`.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from tuss_plugin.layers.kernels import SETTINGS

# --- SwiGLU convolution-deconvolution FFN


def swiglu_ffn(
    x: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    dropout: float,
    reference: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The SwiGLU conv-deconv FFN: x (B', L, C) -> (B', L, C).

    ``w1, b1``: ``Conv1d(C, 2I, k)``; ``w2, b2``: ``ConvTranspose1d(I, C, k)``;
    ``dropout``: the active dropout probability (0 in evaluation);
    ``reference``: the layer's own formulation with its convolution modules.

    - active dropout or autocast (mixed precision): ``reference``;
    - no autograd needed: matrix products over groups of sequences sharing one
      scratch buffer, gated activation in place (:func:`_swiglu_ffn`);
    - autograd on the CPU with one dtype: the written-out backward
      (:class:`_SwiGLUFFNFunction`);
    - autograd elsewhere: ``reference``.
    """
    if dropout > 0:
        return reference(x)
    args = (x, w1, b1, w2, b2)
    no_grad = not torch.is_grad_enabled() or not any(t.requires_grad for t in args)
    if torch.is_autocast_enabled(x.device.type):
        if not (no_grad and x.device.type == "cpu"):
            return reference(x)
        # CPU inference under autocast: the products in the autocast dtype, as
        # autocast runs a convolution (its output dtype, too)
        dt = torch.get_autocast_dtype(x.device.type)
        args = tuple(t.to(dt) for t in args)
    if no_grad:
        return _swiglu_ffn(*args, keep_h=False)[0]
    if x.device.type == "cpu" and len({t.dtype for t in args}) == 1:
        return _SwiGLUFFNFunction.apply(*args)
    return reference(x)


def _unfold_padded(x: torch.Tensor, k: int) -> torch.Tensor:
    """x (n, L, C) zero-padded by ``k - 1`` on both ends, windows of ``k``: (n*(L+k-1), C*k), (C, k) order."""
    n, L, C = x.shape
    if k == 1:
        return x.reshape(n * L, C)
    return F.pad(x, (0, 0, k - 1, k - 1)).unfold(1, k, 1).reshape(n * (L + k - 1), C * k)  # copy


def _ffn_matrices(w1: torch.Tensor, w2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The FFN's weights as the matrices of :func:`_ffn_forward_into`.

    ``w1`` (2I, C, k) -> (C*k, 2I), a view; ``w2`` (I, C, k) -> (I, k*C), a
    copy for ``k > 1`` (made once per call, not per group), a view for ``k = 1``.
    """
    I2, C, k = w1.shape
    w1m = w1.reshape(I2, C * k).t()  # (C*k, 2I) view: [c*k + j, o] = w1[o, c, j]
    if k == 1:
        return w1m, w2.reshape(I2 // 2, C)  # (I, C) view
    return w1m, w2.permute(2, 1, 0).reshape(k * C, -1).t()  # (I, k*C): [i, j*C + c] = w2[i, c, j]


def _ffn_forward_into(
    x: torch.Tensor,
    w1m: torch.Tensor,
    b1: torch.Tensor,
    w2m: torch.Tensor,
    b2: torch.Tensor,
    y: torch.Tensor,
    h: torch.Tensor,
    keep_h: bool = True,
) -> None:
    """SwiGLU conv-deconv FFN as matrix products, written into ``y`` (n, L, C) and ``h`` (n, L+k-1, 2I).

    ``x``: (n, L, C); ``w1m``, ``w2m``: the weights as :func:`_ffn_matrices`
    gives them; ``y`` and ``h`` are contiguous. ``h`` receives the
    convolution output (value | gate) before the gated activation; with
    ``keep_h=False`` it is scratch space and the gated activation is computed
    in place in its gate half.

    - convolution of the input zero-padded by ``k - 1`` on both ends: the ``k``
      shifted copies are stacked on the channel axis, one product with the
      weight viewed as ``(2I, C*k)``;
    - transposed convolution: one product with the weight viewed as
      ``(k*C, I)`` gives the ``k`` taps of every hidden position, which are
      added with their shifts (only the ``L`` kept output positions are formed).
    """
    n, L, C = x.shape
    k = w1m.shape[0] // C
    I2 = w1m.shape[1]
    h2 = h.view(-1, I2)  # (n*Lh, 2I)
    torch.addmm(b1, _unfold_padded(x, k), w1m, out=h2)
    value, gate = h2.chunk(2, dim=-1)  # (n*Lh, I) views
    a = F.silu(gate, inplace=not keep_h)  # (n*Lh, I), a view of h2 if not keep_h
    a *= value  # value * silu(gate)
    if k == 1:
        torch.addmm(b2, a, w2m, out=y.view(-1, C))
        return
    taps = torch.mm(a, w2m).view(n, L + k - 1, k, C)
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
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """x (B', L, C) -> (y (B', L, C), h (B', L+k-1, 2I) or None); see :func:`_ffn_forward_into`.

    Runs over groups of sequences of about ``SETTINGS.ffn_chunk_positions``
    positions. ``keep_h=True`` (the training path) keeps the pre-activation
    of all groups for the backward; with ``keep_h=False`` (no autograd) the
    groups share one scratch buffer of one group's size (a fresh buffer of the
    whole batch's size costs page faults on every first touch), no ``h`` is
    returned and the gated activation is computed in place.
    """
    Bp, L, C = x.shape
    Lh = L + w1.shape[-1] - 1
    y = x.new_empty(Bp, L, C)
    step = max(1, min(Bp, SETTINGS.ffn_chunk_positions // Lh))  # >= 1 also for an empty batch
    h = x.new_empty(Bp if keep_h else step, Lh, w1.shape[0])
    w1m, w2m = _ffn_matrices(w1, w2)
    for i in range(0, Bp, step):
        n = min(step, Bp - i)
        hi = h[i : i + n] if keep_h else h[:n]
        _ffn_forward_into(x[i : i + n], w1m, b1, w2m, b2, y[i : i + n], hi, keep_h=keep_h)
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
        step = max(1, SETTINGS.ffn_chunk_positions // Lh)
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
