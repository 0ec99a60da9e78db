# SPDX-License-Identifier: Apache-2.0
"""Throughput of on-the-fly training data (``benchmark --mode data``).

TUSS (Saijo et al., ICASSP 2025) trains on mixtures simulated per step: 6-s
crops of sources at 8-48 kHz, resampled, gain-scaled and summed, with dynamic
mixing of the SFX and music mixes. A GPU training step of the Medium model
takes a fraction of a second, so the data workers must keep up: this module
times the simulation of whole batches in one process (mixtures per second per
worker) and writes a pool whose files have the real corpora's formats, rates,
channel counts and lengths (see :data:`REALISTIC_POOL`), so the figure can be
taken without the corpora.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

# (prompt, corpus, format, rate, channels, seconds of each file, files): the
# training corpora of the unified model as ../shared/docs/datasets.md
# describes them (lengths typical, not exact)
REALISTIC_POOL: Tuple[Tuple[str, str, str, int, int, float, int], ...] = (
    ("speech", "vctk", "FLAC", 48000, 1, 3.5, 6),
    ("speech", "wsj0", "WAV", 16000, 1, 7.0, 6),
    ("speech", "librivox", "WAV", 24000, 1, 15.0, 6),
    ("sfx", "fsd50k", "WAV", 44100, 1, 4.0, 8),
    ("sfxbg", "fsd50k", "WAV", 44100, 1, 20.0, 4),
    ("sfxbg", "wham_noise", "WAV", 48000, 2, 120.0, 2),
    ("sfxbg", "demand", "WAV", 48000, 1, 300.0, 2),
    ("drums", "musdb", "WAV", 44100, 2, 240.0, 2),
    ("bass", "musdb", "WAV", 44100, 2, 240.0, 2),
    ("vocals", "musdb", "WAV", 44100, 2, 240.0, 2),
    ("other", "musdb", "WAV", 44100, 2, 240.0, 2),
    ("musicbg", "fma", "MP3", 44100, 2, 30.0, 4),
)


def write_realistic_pool(root: Path, seed: int = 0, scale: float = 1.0) -> List[str]:
    """Write one pool dir per corpus of :data:`REALISTIC_POOL` under ``root``
    (noise-like signals; the formats, rates and lengths are what counts; the
    lengths times ``scale``, for tests); returns the pool dirs. A pool already
    complete is kept."""
    import soundfile as sf

    from tuss_plugin.fileio.pools import COMPLETE_MARKER, PoolEntry, write_pool

    rng = np.random.default_rng(seed)
    by_corpus: Dict[str, List[PoolEntry]] = {}
    for prompt, corpus, fmt, fs, ch, seconds, files in REALISTIC_POOL:
        d = root / f"pool_{corpus}"
        if (d / COMPLETE_MARKER).exists():
            by_corpus.setdefault(corpus, [])
            continue
        (d / "audio").mkdir(parents=True, exist_ok=True)
        n = max(1, int(seconds * scale * fs))
        for i in range(files):
            uid = f"{corpus}_{prompt}_{i:03d}"
            path = d / "audio" / f"{uid}.{fmt.lower()}"
            x = (rng.standard_normal((n, ch)) * 0.05).astype(np.float32)  # (n, ch)
            subtype = "PCM_16" if fmt != "MP3" else None
            sf.write(path, x, fs, format=fmt, subtype=subtype)
            num = sf.info(str(path)).frames
            by_corpus.setdefault(corpus, []).append(PoolEntry(uid, str(path), prompt, fs, num))
    for corpus, entries in by_corpus.items():
        if entries:
            write_pool(root / f"pool_{corpus}", entries)
    return [str(root / f"pool_{c}") for c in by_corpus]


def benchmark(
    config: Mapping[str, Any],
    pools: Optional[Sequence[str]] = None,
    realistic_pool: Optional[Path] = None,
    seconds: float = 6.0,
    fs: Optional[int] = None,
    batches: int = 10,
    profile: bool = False,
    seed: int = 0,
) -> Dict[str, Any]:
    """The figures of ``benchmark --mode data`` for a training config with an
    ``onthefly_conf``: its pools, or ``pools``, or a pool written to
    ``realistic_pool``; crops of ``seconds`` at ``fs`` (default: the
    config's rate). ``ValueError`` when there is no pool."""
    from tuss_plugin.onthefly.conf import resolve_onthefly_conf

    raw = dict(config.get("onthefly_conf") or {})
    if realistic_pool is not None:
        raw["pools"] = write_realistic_pool(realistic_pool, seed=seed)
    elif pools:
        raw["pools"] = list(pools)
    if not raw.get("pools"):
        raise ValueError("no onthefly_conf.pools; pass --pools or --realistic_pool")
    raw["chunk_seconds"] = seconds
    if fs:
        raw["fs"] = fs
    resolved = resolve_onthefly_conf(raw, argparse.Namespace(**config))
    result = measure(resolved, batches, profile=profile)
    workers = int(config.get("num_workers") or resolved.get("num_workers") or 1)
    dirs = raw["pools"].values() if isinstance(raw["pools"], Mapping) else [raw["pools"]]
    result.update(
        fs=int(resolved["fs"]),
        chunk_seconds=float(resolved["chunk_seconds"]),
        pools=sorted({str(d) for group in dirs for d in group}),
        num_workers=workers,
        # one core per worker assumed (a 16-core GPU host runs the default workers side by side)
        mixtures_per_s_workers=round(result["mixtures_per_s_per_worker"] * workers, 2),
    )
    return result


def measure(conf: Mapping[str, Any], batches: int, profile: bool = False) -> Dict[str, Any]:
    """Simulate ``batches`` batches of ``conf`` (a resolved ``--onthefly_conf``)
    in this process, as one data worker does; mixtures per second, per batch
    times and, with ``profile``, the functions that took the most time."""
    from tuss_plugin.onthefly.iterator import OnTheFlyIterFactory

    factory = OnTheFlyIterFactory(conf)
    data = factory.dataset(epoch=1)
    data.simulate(0)  # warm-up (imports, first file opens)
    profiler = cProfile.Profile() if profile else None
    times, n_mix, n_src = [], 0, 0
    for step in range(1, batches + 1):
        if profiler is not None:
            profiler.enable()
        t = time.perf_counter()
        prompts, mixes, _ = data.simulate(step)
        times.append(time.perf_counter() - t)
        if profiler is not None:
            profiler.disable()
        n_mix += len(mixes)
        n_src += sum(len(p) for p in prompts)
    total = sum(times)
    out: Dict[str, Any] = {
        "batches": batches,
        "batch_size": int(conf["batch_size"]),
        "mixtures": n_mix,
        "sources_per_mixture": round(n_src / max(n_mix, 1), 2),
        "seconds": round(total, 3),
        "mixtures_per_s_per_worker": round(n_mix / total, 2),
        "batch_seconds_median": round(float(np.median(times)), 4),
    }
    if profiler is not None:
        out["profile"] = _top_functions(profiler)
    return out


def _top_functions(profiler: cProfile.Profile, n: int = 8) -> List[str]:
    """The ``n`` functions with the most cumulative time below the batch, as
    ``"seconds function (file:line)"`` lines."""
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    rows = []
    for (file, line, func), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if func in ("simulate", "<module>") or "profiler" in file:
            continue
        rows.append((cum, f"{cum:.3f} {func} ({Path(file).name}:{line})"))
    return [r for _, r in sorted(rows, reverse=True)[:n]]
