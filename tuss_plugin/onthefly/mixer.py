# SPDX-License-Identifier: Apache-2.0
"""Source pools and on-the-fly mixture simulation.

Training mixtures of TUSS (Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025, Sec. II-C / Table II) are simulated at every step:

1. each prompt gets a random file from its pools (no file twice in one
   mixture), a random ``chunk_seconds`` crop when longer, channel 0 of
   multi-channel files; crops that are all zeros are drawn again (the
   authors' non-silence rule; stem pools are already cut to active windows by
   the source-activity detection of the corpus scripts);
2. ``sfxbg`` / ``musicbg`` are, with probability ``dynamic_mixing_prob``, built
   from k single sources instead (k ~ ``num_sources_weights``; ``musicbg`` = k
   distinct stems, ``sfxbg`` = k ``sfx`` clips): the sub-sources are resampled
   to their lowest rate, zero-padded to the chunk at a random offset, RMS-
   normalised, scaled with the gain of *their* prompt and summed;
3. all sources are resampled to the lowest rate among them, then to ``fs``,
   zero-padded to the chunk at a random offset;
4. each source is divided by its RMS (if non-zero) and scaled by 10^(g/20),
   g ~ U(gain range of its prompt); the mixture is the sum of the references.

Pool directories (Kaldi style, written by the corpus scripts) hold
``wav.scp`` (``<uid> <path>``, the rest of the line is the path),
``utt2prompt`` (``<uid> <prompt>``), ``utt2fs`` (``<uid> <Hz>``) and
``utt2num_samples`` (``<uid> <n>``); they are read with
:func:`tuss_plugin.fileio.pools.read_pool`, the one reader of the format.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.audio import resample
from tuss_plugin.fileio.pools import PoolEntry, read_pool
from tuss_plugin.onthefly.prompt_sampler import DEFAULT_PROMPT_TABLE

#: mix category -> the single-source prompts it is built from in dynamic mixing;
#: with one entry, k clips of it; with several, k distinct ones.
DEFAULT_DYNAMIC_MIXING_SOURCES: Dict[str, List[str]] = {
    "sfxbg": ["sfx"],
    "musicbg": ["bass", "drums", "vocals", "other"],
}


def read_pool_dir(pool_dir: Union[str, Path]) -> Dict[str, List[PoolEntry]]:
    """Read one pool directory (:func:`tuss_plugin.fileio.pools.read_pool`) -> {prompt: entries sorted by uid}."""
    out: Dict[str, List[PoolEntry]] = {}
    for e in read_pool(pool_dir):
        out.setdefault(e.prompt, []).append(e)
    return out


class SourcePools:
    """Source files per prompt, read from pool directories.

    Args:
        pools: either a list of pool dirs (every entry is used for the prompt
            its ``utt2prompt`` gives) or prompt -> list of pool dirs (only the
            entries of that prompt are taken from those dirs).
    """

    def __init__(self, pools: Union[Sequence[str], Mapping[str, Sequence[str]]]):
        self.entries: Dict[str, List[PoolEntry]] = {}
        cache: Dict[str, Dict[str, List[PoolEntry]]] = {}

        def load(d: str) -> Dict[str, List[PoolEntry]]:
            if d not in cache:
                cache[d] = read_pool_dir(d)
            return cache[d]

        if isinstance(pools, Mapping):
            for prompt, dirs in pools.items():
                dirs = [dirs] if isinstance(dirs, (str, Path)) else list(dirs)
                for d in dirs:
                    got = load(str(d)).get(prompt, [])
                    if not got:
                        raise ValueError(f"{d}: no source with prompt {prompt!r} (utt2prompt)")
                    self.entries.setdefault(prompt, []).extend(got)
        else:
            for d in pools:
                for prompt, got in load(str(d)).items():
                    self.entries.setdefault(prompt, []).extend(got)
        if not self.entries:
            raise ValueError("no source pools given")

    def __contains__(self, prompt: str) -> bool:
        return bool(self.entries.get(prompt))

    def summary(self) -> str:
        return ", ".join(f"{p}: {len(e)}" for p, e in sorted(self.entries.items()))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


class Mixer:
    """Simulates one training mixture from a prompt list.

    Args:
        pools: the source pools.
        prompt_table: prompt -> settings (``gain`` [lo, hi] dB or a number;
            ``dynamic_mixing_prob``; ``num_sources_weights`` k -> weight);
            default :data:`~tuss_plugin.onthefly.prompt_sampler.DEFAULT_PROMPT_TABLE`.
        fs: output sampling rate (48000 in the paper).
        chunk_seconds: mixture length (6 s in the paper).
        downsample_to_min_fs: resample the sources of a mixture to their lowest
            rate before resampling to ``fs`` (the authors' setting), so that no
            source has more bandwidth than the others.
        dynamic_mixing_sources: mix category -> single-source prompts
            (default :data:`DEFAULT_DYNAMIC_MIXING_SOURCES`).
        on_bad_file: ``raise`` (default: stop with an error naming the file) or
            ``skip`` (log it, never draw it again, count it in ``num_skipped``).
        max_draws: draws of one source before giving up (all-zero crops, bad files).
    """

    def __init__(
        self,
        pools: SourcePools,
        prompt_table: Optional[Mapping[str, Mapping]] = None,
        fs: int = 48000,
        chunk_seconds: float = 6.0,
        downsample_to_min_fs: bool = True,
        dynamic_mixing_sources: Optional[Mapping[str, Sequence[str]]] = None,
        on_bad_file: str = "raise",
        max_draws: int = 100,
    ):
        if on_bad_file not in ("raise", "skip"):
            raise ValueError(f"on_bad_file must be 'raise' or 'skip', got {on_bad_file!r}")
        self.pools = pools
        self.table = DEFAULT_PROMPT_TABLE if prompt_table is None else prompt_table
        self.fs = int(fs)
        self.chunk_seconds = float(chunk_seconds)
        self.length = int(round(self.chunk_seconds * self.fs))
        self.downsample_to_min_fs = downsample_to_min_fs
        self.dyn_sources = dict(
            DEFAULT_DYNAMIC_MIXING_SOURCES if dynamic_mixing_sources is None else dynamic_mixing_sources
        )
        self.on_bad_file = on_bad_file
        self.max_draws = int(max_draws)
        self.bad: Set[Tuple[str, str]] = set()
        self.num_skipped = 0
        # a global index of every pool entry: "no file twice in one mixture"
        self._key = {}
        for prompt, entries in pools.entries.items():
            for e in entries:
                self._key.setdefault((e.pool, e.uid), len(self._key))

    # ------------------------------------------------------------ checks
    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Raise unless every prompt can be simulated from the pools."""
        for p in prompts:
            if p not in self.table:
                raise ValueError(f"prompt {p!r} has no entry in the prompt table")
            dyn = float(self.table[p].get("dynamic_mixing_prob", 0.0) or 0.0)
            if dyn < 1.0 and p not in self.pools:
                raise ValueError(f"prompt {p!r}: no source pool (pools: {self.pools.summary()})")
            if dyn > 0.0:
                subs = self.dyn_sources.get(p)
                if not subs:
                    raise ValueError(f"prompt {p!r}: dynamic mixing needs dynamic_mixing_sources[{p!r}]")
                missing = [s for s in subs if s not in self.pools]
                if missing:
                    raise ValueError(
                        f"prompt {p!r}: dynamic mixing needs pools for {missing} (pools: {self.pools.summary()})"
                    )
                if not self.table[p].get("num_sources_weights"):
                    raise ValueError(f"prompt {p!r}: dynamic mixing needs num_sources_weights")
                for s in subs:
                    if s not in self.table:
                        raise ValueError(f"prompt {s!r} (dynamic mixing of {p!r}) has no gain in the prompt table")

    # ------------------------------------------------------------ loading
    def _read(self, e: PoolEntry, rng: np.random.Generator) -> np.ndarray:
        chunk = int(round(self.chunk_seconds * e.fs))
        start, stop = 0, None
        if e.num_samples > chunk:
            start = int(rng.integers(0, e.num_samples - chunk + 1))
            stop = start + chunk
        try:
            x, fs = sf.read(e.path, start=start, stop=stop, dtype="float32", always_2d=True)
        except Exception as err:  # noqa: BLE001 - any decoder error names the file
            raise OSError(f"{e.path}: cannot read ({e.pool}, {e.uid}): {err}") from None
        if fs != e.fs:
            raise ValueError(f"{e.path}: sampling rate {fs} Hz, but utt2fs of {e.pool} says {e.fs}")
        if x.shape[0] == 0:
            raise ValueError(f"{e.path}: no samples read ({e.pool} utt2num_samples says {e.num_samples})")
        return x[:, 0]  # channel 0 (the reference channel)

    def _load(self, prompt: str, rng: np.random.Generator, used: Set[int]) -> Tuple[np.ndarray, int]:
        """A random non-silent crop of a file of ``prompt`` not used yet in this mixture."""
        entries = self.pools.entries.get(prompt) or []
        if not entries:
            raise ValueError(f"prompt {prompt!r}: no source pool (pools: {self.pools.summary()})")
        for _ in range(self.max_draws):
            e = entries[int(rng.integers(len(entries)))]
            key = self._key[(e.pool, e.uid)]
            if key in used or (e.pool, e.uid) in self.bad:
                continue
            try:
                x = self._read(e, rng)
            except (OSError, ValueError) as err:
                if self.on_bad_file == "raise":
                    raise
                self.bad.add((e.pool, e.uid))
                self.num_skipped += 1
                logging.warning(f"skipping a bad source file ({self.num_skipped} so far): {err}")
                continue
            if not np.any(x):
                continue  # all-zero crop: draw again
            used.add(key)
            return x, e.fs
        raise ValueError(
            f"prompt {prompt!r}: no usable non-silent source found in {self.max_draws} draws "
            f"({len(entries)} files in its pools)"
        )

    def _pad(self, x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
        """Zero-pad to ``length`` at a random offset (or cut the excess)."""
        if x.shape[0] >= length:
            return x[:length]
        out = np.zeros(length, dtype=np.float32)
        off = int(rng.integers(0, length - x.shape[0] + 1))
        out[off : off + x.shape[0]] = x
        return out

    def _gain(self, x: np.ndarray, prompt: str, rng: np.random.Generator) -> np.ndarray:
        rms = _rms(x)
        if rms > 0:
            x = x / rms
        g = self.table[prompt].get("gain", 0.0)
        g_db = float(rng.uniform(float(g[0]), float(g[1]))) if isinstance(g, (list, tuple)) else float(g)
        return (x * 10 ** (g_db / 20)).astype(np.float32)

    def _dynamic_mix(self, prompt: str, rng: np.random.Generator, used: Set[int]) -> Tuple[np.ndarray, int]:
        weights = self.table[prompt]["num_sources_weights"]
        ks = np.array([int(k) for k in weights])
        p = np.array([float(w) for w in weights.values()])
        k = int(rng.choice(ks, p=p / p.sum()))
        subs = list(self.dyn_sources[prompt])
        if len(subs) == 1:
            sub_prompts = subs * k
        else:
            k = min(k, len(subs))
            sub_prompts = [subs[i] for i in rng.choice(len(subs), size=k, replace=False)]
        loaded = [self._load(s, rng, used) for s in sub_prompts]
        fs_min = min(fs for _, fs in loaded)
        n = int(round(self.chunk_seconds * fs_min))
        parts = [self._pad(resample(x, fs, fs_min), n, rng) for x, fs in loaded]
        parts = [self._gain(x, s, rng) for x, s in zip(parts, sub_prompts)]
        return np.sum(parts, axis=0).astype(np.float32), fs_min

    # ------------------------------------------------------------ mixtures
    def make(self, prompts: Sequence[str], rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """Simulate one mixture.

        Returns:
            mixture (L,) and references (N, L), float32, at ``fs``, with
            L = round(chunk_seconds * fs) and mixture == references.sum(0).
        """
        used: Set[int] = set()
        sources: List[Tuple[np.ndarray, int]] = []
        for p in prompts:
            dyn = float(self.table[p].get("dynamic_mixing_prob", 0.0) or 0.0) if p in self.table else 0.0
            if dyn > 0 and rng.random() < dyn:
                sources.append(self._dynamic_mix(p, rng, used))
            else:
                sources.append(self._load(p, rng, used))
        fs_min = min(fs for _, fs in sources) if self.downsample_to_min_fs else None
        refs = []
        for (x, fs), p in zip(sources, prompts):
            if fs_min is not None and fs != fs_min:
                x, fs = resample(x, fs, fs_min), fs_min
            x = resample(x, fs, self.fs)
            refs.append(self._gain(self._pad(x, self.length, rng), p, rng))
        refs_arr = np.stack(refs).astype(np.float32)  # (N, L)
        return refs_arr.sum(axis=0), refs_arr


__all__ = ["DEFAULT_DYNAMIC_MIXING_SOURCES", "Mixer", "SourcePools", "read_pool_dir"]
