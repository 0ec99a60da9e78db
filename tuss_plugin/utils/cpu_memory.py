# SPDX-License-Identifier: Apache-2.0
"""Keep freed memory inside the process, so repeated large tensors do not page-fault.

PyTorch's CPU tensors come from the C library's ``malloc``. GNU libc serves
large blocks (above a threshold that it adapts up to 32 MiB) with fresh
``mmap`` calls and gives them back to the kernel when they are freed, and it
returns free memory at the top of its heap too. A model that allocates the
same large activations at every step then pays, at every step, one page
fault and one page of kernel zeroing per 4 KiB of each fresh block on first
touch. A TUSS Medium training step of 6 s at 48 kHz keeps about 8 GB of
activations for the backward pass; without this setting it caused about 2
million minor page faults per step and spent about a quarter of its CPU time in the
kernel (docs/performance.md).

:func:`retain_freed_memory` sets three ``mallopt`` parameters of GNU libc:
``M_MMAP_MAX = 0`` (every block comes from the heap), ``M_TRIM_THRESHOLD =
-1`` (freed heap memory is never returned to the kernel, so it is reused) and
``M_TOP_PAD`` (the heap grows in steps of 64 MiB). The resident memory of the
process then stays at its peak instead of shrinking between steps, and the
peak can grow by the heap's fragmentation (in the benchmark: TUSS training
+1% Medium, +5% Large, TUSS inference unchanged; ESPnet's TF-GridNetV2
inference 2.0 -> 3.2 GB). Results do not change: this is only where the
memory comes from.

The toolkit's programs call it at start (their entry points, never the
library): ``tuss-train`` (through :func:`retain_freed_memory_in_workers`, so
that the worker processes ESPnet spawns for several GPUs do the same),
``tuss-separate``, ``tuss_inference`` and the benchmark; the environment
variable ``TUSS_RETAIN_FREED_MEMORY=0`` turns it off. Programs that use the
plugin as a library can call it themselves. On other C libraries it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

# mallopt parameter numbers of GNU libc (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4

ENV_VAR = "TUSS_RETAIN_FREED_MEMORY"
# set by an entry point for the worker processes it starts (see apply_in_worker)
WORKERS_ENV_VAR = "TUSS_RETAIN_FREED_MEMORY_IN_WORKERS"
TOP_PAD_BYTES = 64 << 20

_applied = False


def _libc():
    """GNU libc as a ctypes library, or None elsewhere."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_freed_memory() -> bool:
    """Give the memory that malloc keeps for reuse back to the kernel now (``malloc_trim(0)``).

    For a program that measures the peak memory of several models one after
    another: with :func:`retain_freed_memory` in effect, the freed memory of
    the first would otherwise count in the resident memory of the next.
    Returns True if memory was returned, False otherwise (also on other C libraries).
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc.malloc_trim(0) == 1


def retain_freed_memory() -> bool:
    """Make GNU libc's malloc keep freed memory for reuse (see the module docstring).

    Returns True if the settings are in effect (now or from an earlier call),
    False if this is not GNU libc, ``TUSS_RETAIN_FREED_MEMORY=0`` is set, or
    ``mallopt`` refused a setting.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_MAX, 0),
            (_M_TRIM_THRESHOLD, -1),
            (_M_TOP_PAD, TOP_PAD_BYTES),
        )
    )
    if not ok:
        logging.warning("mallopt refused a setting; freed memory may be returned to the kernel")
        return False
    _applied = True
    return True


def retain_freed_memory_in_workers() -> bool:
    """:func:`retain_freed_memory` in this process and in the worker processes
    it starts (they call :func:`apply_in_worker`); for entry points."""
    os.environ[WORKERS_ENV_VAR] = "1"
    return retain_freed_memory()


def apply_in_worker() -> bool:
    """In a worker process: :func:`retain_freed_memory` if the entry point that
    started it asked for it (:func:`retain_freed_memory_in_workers`), else nothing."""
    if os.environ.get(WORKERS_ENV_VAR) != "1":
        return False
    return retain_freed_memory()
