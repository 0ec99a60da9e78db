# SPDX-License-Identifier: Apache-2.0
"""Inference precision: float32, or bfloat16 autocast where it pays.

TUSS (Saijo et al., ICASSP 2025) is trained in bf16 mixed precision; on
devices with native bfloat16 matrix units (CPUs with AVX512-BF16 or AMX,
CUDA GPUs of compute capability 8.0 and later) bf16 products run several
times faster than float32 ones. ``"auto"`` picks bf16 exactly there.

On CPUs without such units (e.g. AVX2-only ones) torch emulates bfloat16,
about 100x slower than float32: an explicit bf16 request there (``--precision
bf16``, ``--cpu_bf16 true``, the benchmark's ``--bf16``) is refused with one
line, unless the environment sets ``TUSS_ALLOW_EMULATED_BF16=1``
(:func:`check_bf16_request`, the one owner of that rule).
"""

from __future__ import annotations

import contextlib
import os
from typing import ContextManager, List

PRECISIONS = ("fp32", "bf16", "auto")
ALLOW_EMULATED_BF16 = "TUSS_ALLOW_EMULATED_BF16"
"""Environment variable: ``1`` runs explicit bf16 requests on CPUs that would emulate bf16."""

# oneDNN's ISA caps (ONEDNN_MAX_CPU_ISA) below which it uses no bf16 units, and below which no AMX
_ONEDNN_NO_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
_ONEDNN_NO_AMX = _ONEDNN_NO_BF16 | {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512"}


class EmulatedBF16Error(ValueError):
    """An explicit bf16 request on a CPU that has no native bfloat16 units."""


def cpu_bf16_units() -> List[str]:
    """The CPU's native bfloat16 matrix units that torch uses: ``avx512_bf16``,
    ``amx`` (either, both, none). A cap on oneDNN's instruction set
    (``ONEDNN_MAX_CPU_ISA``, e.g. ``AVX2``) removes the units above it."""
    import torch

    checks = (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported"))  # torch.cpu's queries
    units = [unit for unit, query in checks if bool(getattr(torch.cpu, query, lambda: False)())]
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").strip().upper()
    if cap in _ONEDNN_NO_BF16:
        return []
    return [u for u in units if not (u == "amx" and cap in _ONEDNN_NO_AMX)]


def check_bf16_request(device: str = "cpu", option: str = "bf16") -> None:
    """Refuse an explicit bf16 request (``option`` names it in the message) on a
    CPU without native bfloat16 units, where torch would emulate bf16 about
    100x slower than float32; ``TUSS_ALLOW_EMULATED_BF16=1`` lets it run.
    Other devices pass (CUDA without bf16 fails in torch itself)."""
    if str(device).split(":")[0] != "cpu" or cpu_bf16_units():
        return
    if os.environ.get(ALLOW_EMULATED_BF16, "").strip() in ("1", "true", "yes"):
        return
    raise EmulatedBF16Error(
        f"{option}: this CPU has no native bfloat16 units (neither AVX512-BF16 nor AMX), so torch would emulate "
        f"bf16 about 100x slower than float32; use fp32 (or auto), or set {ALLOW_EMULATED_BF16}=1 to force it"
    )


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
    :func:`native_bf16`); ``ValueError`` naming the choices otherwise, and
    :class:`EmulatedBF16Error` for ``"bf16"`` on a CPU that would emulate it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16":
        check_bf16_request(device, "precision bf16")
    return precision


def autocast(precision: str, device: str = "cpu") -> ContextManager:
    """bfloat16 autocast on ``device`` for ``"bf16"``, nothing for ``"fp32"``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16)
