# SPDX-License-Identifier: Apache-2.0
"""What a run costs on this machine: peak memory, wall and CPU time, the float32
matmul throughput a model is compared with, and FLOP counting that includes
attention on the CPU. Used by :mod:`tuss_plugin.bin.benchmark`.
"""

from __future__ import annotations

import platform
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch


# ---------------------------------------------------------------- memory
def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False if unsupported.

    The memory that malloc keeps for reuse (``retain_freed_memory``) is
    returned to the kernel first, so that it does not count for the next model.
    """
    from tuss_plugin.utils.cpu_memory import release_freed_memory

    release_freed_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB -> MB
    except OSError:
        pass
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, kB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# ---------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(
    fn: Callable[[], None], runs: int, warmup: int, device: torch.device, cpu_times: Optional[List[float]] = None
) -> List[float]:
    """Wall-clock seconds of ``runs`` calls after ``warmup`` calls; process CPU seconds go to ``cpu_times``."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        if cpu_times is not None:
            cpu_times.append(time.process_time() - c0)
    return times


def matmul_gflop_per_s(device: torch.device, n: int = 2048, runs: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Median throughput of an ``n x n x n`` matmul (2 n^3 FLOP) in ``dtype``
    (float32, or bfloat16 as the reference of a bf16 run)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    times = time_runs(lambda: torch.mm(a, b, out=out), runs, 1, device)
    return 2 * n**3 / statistics.median(times) / 1e9


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flops(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def flop_counter():
    """``FlopCounterMode`` that also counts attention on the CPU.

    torch (up to at least 2.11) has FLOP formulas for its CUDA attention
    kernels but none for the CPU one
    (``aten._scaled_dot_product_flash_attention_for_cpu`` and its backward), so
    ``scaled_dot_product_attention`` on the CPU would count 0 FLOP. Those
    two operators get torch's own formulas of the other kernels (2 FLOP per
    multiply-add of ``q k^T`` and ``p v`` and of their gradients) unless torch
    already has a formula for them.
    """
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    aten = torch.ops.aten
    mapping = {}
    for name, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", _cpu_attention_flops),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", _cpu_attention_backward_flops),
    ):
        op = getattr(aten, name, None)
        if op is not None and op not in flop_registry and op.default not in flop_registry:
            mapping[op] = formula
    return FlopCounterMode(display=False, custom_mapping=mapping)


# ---------------------------------------------------------------- software
def software_versions() -> Dict[str, str]:
    """Versions of Python, torch, ESPnet and this package ("unknown" where not found)."""
    try:
        from importlib.metadata import version

        espnet_version = version("espnet")
    except Exception:  # noqa: BLE001 - the version is informative only
        espnet_version = "unknown"
    from tuss_plugin import __version__

    return {
        "torch": torch.__version__,
        "espnet": espnet_version,
        "python": platform.python_version(),
        "tuss_plugin": __version__,
    }


def cpu_model() -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(device: torch.device) -> Dict:
    """The hardware behind a figure (speed differs between CPU kinds, so every figure names it).

    ``cpu_model``; ``cpu_count`` (logical CPUs of the host); ``cpu_capability``
    (the SIMD level torch's CPU kernels run at, e.g. ``AVX512``);
    ``cpu_bf16_units``: the native bfloat16 matrix units torch sees
    (``avx512_bf16``, ``amx``); ``gpu``: the device's name on CUDA.
    """
    import os

    from tuss_plugin.precision import cpu_bf16_units

    info: Dict = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_units": cpu_bf16_units(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
