# SPDX-License-Identifier: Apache-2.0
"""Inference precision: float32, or bfloat16 autocast where it pays.

TUSS (Saijo et al., ICASSP 2025) is trained in bf16 mixed precision; on
devices with native bfloat16 matrix units (CPUs with AVX512-BF16 or AMX,
CUDA GPUs of compute capability 8.0 and later) bf16 products run several
times faster than float32 ones. ``"auto"`` picks bf16 exactly there.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, List

PRECISIONS = ("fp32", "bf16", "auto")


def cpu_bf16_units() -> List[str]:
    """The CPU's native bfloat16 matrix units that torch sees: ``avx512_bf16``, ``amx`` (either, both, none)."""
    import torch

    checks = (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported"))  # torch.cpu's queries
    return [unit for unit, query in checks if bool(getattr(torch.cpu, query, lambda: False)())]


def native_bf16(device: str = "cpu") -> bool:
    """Whether ``device`` runs bfloat16 matrix products natively: a CUDA GPU
    that supports bf16, or a CPU with AVX512-BF16 or AMX tiles."""
    import torch

    kind = str(device).split(":")[0]
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return kind == "cpu" and bool(cpu_bf16_units())


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``"fp32"`` or ``"bf16"`` for ``precision`` (``"auto"``: see
    :func:`native_bf16`); ``ValueError`` naming the choices otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: str = "cpu") -> ContextManager:
    """bfloat16 autocast on ``device`` for ``"bf16"``, nothing for ``"fp32"``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16)
