# SPDX-License-Identifier: Apache-2.0
"""Fast paths of the TUSS layers, one dispatch function per operation.

The paper blocks (:mod:`tuss_plugin.layers.tf_locoformer`, TF-Locoformer of
Saijo et al., IWAENC 2024; :mod:`tuss_plugin.layers.band_split`; both as used
by TUSS, Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025)
state the math; these functions decide from grad mode, device, autocast and
dropout how it runs:

- :func:`rms_group_norm`: written-out backward under autograd
  (:class:`RMSGroupNormFunction`), the gain in place otherwise;
- :func:`tuss_plugin.layers.ffn_kernels.swiglu_ffn` (its own module): the
  SwiGLU conv-deconv FFN as matrix products over cache-sized groups of
  sequences;
- :func:`attention`: explicit products for short sequences without autograd
  on the CPU, PyTorch's fused ``scaled_dot_product_attention`` otherwise;
- :func:`residual_branches`: ``x = x + f(x)`` per branch; without autograd in
  place and, on the CPU, over groups of sequences;
- :func:`band_groups`: the bands of one batched product of the band-wise decoder.

Every path performs the same operations in the same order as the plain
formulation (weight gradients summed group by group differ by round-off).
The tuning knobs are the fields of :data:`SETTINGS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


@dataclass
class KernelSettings:
    """Tuning knobs of the fast paths (none changes a result beyond round-off).

    Args:
        ffn_chunk_positions: the FFN runs over groups of sequences of about
            this many hidden positions, so that its wide hidden activations
            stay in the CPU caches (weight gradients are summed group by group).
        path_chunk_positions: without autograd on the CPU, the sequences of a
            TF-Locoformer path run in groups of about this many positions
            (B' * L); results are unchanged.
        short_attention_length: without autograd and dropout on the CPU,
            sequences up to this length (the frequency path's bands) use
            explicit products and softmax, faster there than the fused kernel;
            0 turns this off.
        decoder_bands_per_product: without autograd, the band-wise decoder puts
            at most this many bands of equal width in one batched product.
    """

    ffn_chunk_positions: int = 2048
    path_chunk_positions: int = 4096
    short_attention_length: int = 128
    decoder_bands_per_product: int = 4


# the settings every dispatch function reads at call time
SETTINGS = KernelSettings()


# --- RMSGroupNorm


def rms_group_norm(x: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """RMSGroupNorm, ``x_g / (||x_g||_2 / sqrt(d) + eps) * gamma`` per group: (..., C) -> (..., C).

    The statistics are computed in the dtype of ``x`` (float32 in the layers).
    Under autograd the written-out backward (:class:`RMSGroupNormFunction`,
    which saves two per-group scalars) runs; otherwise the gain is applied in
    place. Without autograd under CPU autocast the result is written in the
    autocast dtype: every consumer (a matrix product) would cast it to that
    dtype anyway, and writing it so saves a pass over float32 memory.
    """
    if torch.is_grad_enabled() and (x.requires_grad or gamma.requires_grad):
        return RMSGroupNormFunction.apply(x, gamma, num_groups, eps)
    dtype = None
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
    return _rms_group_norm(x, gamma, num_groups, eps, dtype)[0]


def _rms_group_norm(
    x: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float, dtype: Optional[torch.dtype] = None
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (..., C) -> (y (..., C), norm (..., G, 1), denominator (..., G, 1)); y in ``dtype`` (default: x's)."""
    shape = x.shape
    xg = x.view(*shape[:-1], num_groups, -1)  # (..., G, d)
    norm = torch.linalg.vector_norm(xg, dim=-1, keepdim=True)  # (..., G, 1)
    den = norm * xg.shape[-1] ** -0.5 + eps
    if dtype is None or dtype == x.dtype:
        y = (xg / den).view(shape)  # (..., C)
    else:  # the quotient computed in x's dtype, rounded once on writing
        y = x.new_empty(shape, dtype=dtype)
        torch.div(xg, den, out=y.view(xg.shape))
    y *= gamma
    return y, norm, den


class RMSGroupNormFunction(torch.autograd.Function):
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


# --- attention


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
    """``softmax(q k^T / sqrt(D)) v`` with attention dropout: q, k, v (B', H, L, D) -> (B', H, L, D).

    Without autograd and dropout on the CPU, sequences up to
    ``SETTINGS.short_attention_length`` use explicit products and softmax
    (same FLOP count as the fused kernel); otherwise PyTorch's
    ``scaled_dot_product_attention`` picks its fastest kernel.
    """
    if (
        q.shape[-2] <= SETTINGS.short_attention_length
        and not torch.is_grad_enabled()
        and q.device.type == "cpu"
        and dropout == 0.0
    ):
        return _attention_short(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # (B', H, L, D)


def _attention_short(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v for q, k, v: (B', H, L, D) -> (B', H, L, D); no dropout.

    The softmax runs in float32 also for bf16 scores (autocast): more precise,
    and on the CPU about 3x faster than torch's bf16 softmax at these lengths.
    """
    s = torch.matmul(q, k.transpose(-1, -2))  # (B', H, L, L)
    s *= q.shape[-1] ** -0.5
    return torch.matmul(torch.softmax(s, dim=-1, dtype=torch.float32).to(v.dtype), v)


# --- residual branches of one TF-Locoformer path


def residual_branches(x: torch.Tensor, branches: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> torch.Tensor:
    """``x = x + f(x)`` for each branch ``f`` in turn: x (B', L, C) -> (B', L, C).

    The branches act on each of the B' sequences independently. Without
    autograd the residual additions go in place into one output tensor, and on
    the CPU the sequences run in groups of about
    ``SETTINGS.path_chunk_positions`` positions (same result).
    """
    Bp, L, _ = x.shape
    chunk = max(1, SETTINGS.path_chunk_positions // max(L, 1))
    if torch.is_grad_enabled() or x.device.type != "cpu" or chunk >= Bp:
        return _residual_branches(x, branches)
    out = torch.empty_like(x)
    for i in range(0, Bp, chunk):
        _residual_branches(x[i : i + chunk], branches, out=out[i : i + chunk])
    return out


def _residual_branches(
    x: torch.Tensor,
    branches: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    out: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """x (B', L, C) -> (B', L, C); without autograd the result goes to ``out`` if given."""
    first, *rest = branches
    if torch.is_grad_enabled():
        x = x + first(x)
        for f in rest:
            x = x + f(x)
        return x
    y = torch.add(x, first(x), out=out)
    for f in rest:
        y += f(y)
    return y


# --- band-wise decoder


def band_groups(runs: Sequence[Tuple[int, int, int, int]]) -> List[Tuple[int, int, int, Optional[int]]]:
    """Bands of the band-wise decoder per batched product: ``(first band, n bands, width, first bin)`` runs.

    Under autograd one product per run of equal-width bands; without
    autograd at most ``SETTINGS.decoder_bands_per_product`` bands per product,
    so that the hidden activations stay in the CPU caches (same result; the
    first bin is then None, the decoder does not use it).
    """
    if torch.is_grad_enabled():
        return list(runs)
    g = max(1, SETTINGS.decoder_bands_per_product)
    return [(q0 + i, min(g, n - i), b, None) for q0, n, b, _ in runs for i in range(0, n, g)]
