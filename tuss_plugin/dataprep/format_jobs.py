# SPDX-License-Identifier: Apache-2.0
"""The utterances of recipe stage 2 (``tuss_plugin.bin.format_data``): read each
mixture and reference entry (a path, a pipe command or an archive offset),
resample it and write plain WAV files into the dump dir, in parallel processes.

A finished utterance is recorded in ``format_state.txt`` (:data:`STATE_FILE`)
with a hash of its list entries, its input files' size and modification time,
and the options (:func:`input_key`), so that a later run redoes only what
changed. TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.atomic import atomic_write, disk_full_problem
from tuss_plugin.fileio.audio import check_no_clipping, resample
from tuss_plugin.fileio.kaldi_io import entry_files, read_audio_entry
from tuss_plugin.utils.values import check_rate

STATE_FILE = "format_state.txt"  # <utt> <hash of its inputs and the options>, one line per finished utterance


def load_audio(path: str, channel: Optional[int] = None, where: str = "") -> Tuple[np.ndarray, int]:
    """Read the audio of a list entry (a path, a pipe command or an archive
    offset, see :func:`tuss_plugin.fileio.kaldi_io.read_audio_entry`) as float32
    (n_samples,) [one channel] or (n_samples, C); errors name ``where`` (the list)."""
    where = where or "audio"
    x, sr = read_audio_entry(path, where)  # missing, not audio, truncated, empty, failing command
    check_rate(sr, f"sampling rate of {path}:")
    x = x[:, None] if x.ndim == 1 else x
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: {path}: NaN or Inf samples")
    if channel is not None:
        if channel >= x.shape[1]:
            raise ValueError(f"{where}: {path}: has {x.shape[1]} channel(s), channel {channel} requested")
        return x[:, channel], sr
    return (x[:, 0] if x.shape[1] == 1 else x), sr


def _write_wav(path: Path, x: np.ndarray, fs: int, subtype: str) -> None:
    atomic_write(path, lambda tmp: sf.write(tmp, x, fs, subtype=subtype, format="WAV"))


class Job(NamedTuple):
    """One utterance to format: ``paths`` = [mixture, reference 1, ...] (list
    entries: paths, pipe commands or archive offsets)."""

    utt: str
    paths: List[str]
    outdir: Path
    fs: Optional[int]  # None: keep the rate of the utterance's first file
    subtype: str
    channel: Optional[int] = None
    mix_from_refs: bool = False
    src: Optional[Path] = None  # the data dir, named in errors


def entry_lists(job: Job) -> List[str]:
    """The list each entry of ``job.paths`` comes from (``wav.scp``, ``spk1.scp``, ...)."""
    names = ["wav.scp"] + [f"spk{k}.scp" for k in range(1, len(job.paths))]
    return [str(job.src / n) if job.src is not None else n for n in names]


def dump_paths(outdir: Path, utt: str, n_refs: int) -> List[Path]:
    """[mixture, reference 1, ...] of ``utt`` in the dump dir: one folder per role
    (``data/mix``, ``data/s1``, ...), the id as file name (ids hold no ``/``)."""
    return [outdir / "data" / "mix" / f"{utt}.wav"] + [
        outdir / "data" / f"s{k}" / f"{utt}.wav" for k in range(1, n_refs + 1)
    ]


def input_key(job: Job, options: Dict[str, object]) -> str:
    """Hash of what a formatted utterance depends on: its list entries (paths,
    commands, channel), the size and modification time of each input file (of
    the archive of an offset entry, of the files a pipe command names), the options."""

    def stat(p: str) -> Optional[List[int]]:
        try:
            st = os.stat(p)
            return [st.st_size, st.st_mtime_ns]
        except OSError:
            return None  # missing: reported when the job runs

    stats: List[object] = []
    for entry in job.paths:
        files = entry_files(entry)
        # a path: [size, mtime] (the record of earlier versions); else one per file named
        stats.append(stat(entry) if files == [entry] else [[p, stat(p)] for p in files])
    text = json.dumps([job.utt, job.paths, job.channel, stats, options], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_state(path: Path) -> Dict[str, str]:
    """``{utt: key}`` of the utterances an earlier run finished; a line cut short
    by an interruption (or any other odd line) counts as not finished."""
    state: Dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return state
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[1]) == 64:
            state[parts[0]] = parts[1]
    return state


def _load_mono(path: str, channel: Optional[int], where: str = "") -> Tuple[np.ndarray, int]:
    x, sr = load_audio(path, channel, where)
    if x.ndim != 1:
        raise ValueError(
            f"{where or 'audio'}: {path}: {x.shape[1]} channels; "
            "list a channel in utt2channel or split channels in local/data.sh"
        )
    return x, sr


def _refs_and_sum(
    paths: List[str], channel: Optional[int], fs: Optional[int], wheres: Optional[List[str]] = None
) -> Tuple[List[np.ndarray], int]:
    """[mixture, ref 1, ...] at ``fs``, each (n_samples,): the mixture is the sum of
    the resampled references, so the written files sum exactly (up to float32).
    ``wheres``: the list of each entry, named in errors."""
    refs, rates = [], []
    for p, where in zip(paths, wheres or [""] * len(paths)):
        x, sr = _load_mono(p, channel, where)
        refs.append(x)
        rates.append(sr)
    for p, x, sr in zip(paths[1:], refs[1:], rates[1:]):
        if sr != rates[0] or x.shape[0] != refs[0].shape[0]:
            raise ValueError(
                f"{p}: {x.shape[0]} samples at {sr} Hz, but {paths[0]} has "
                f"{refs[0].shape[0]} at {rates[0]} Hz (--mix_from_refs needs equal lengths)"
            )
    fs = fs or rates[0]  # native: the references' rate
    refs = [resample(x, rates[0], fs) for x in refs]
    mix = np.sum(np.stack(refs), axis=0, dtype=np.float64).astype(np.float32)  # (K, n) -> (n,)
    return [mix] + refs, fs


def process(job: Job) -> Tuple[str, Optional[List[str]], Optional[str]]:
    """Resample one utterance; returns (utt, [mix, ref1..], error)."""
    utt, paths, outdir, fs, subtype = job.utt, job.paths, job.outdir, job.fs, job.subtype
    outs = dump_paths(outdir, utt, len(paths) - 1)
    wheres = entry_lists(job)
    try:
        if job.mix_from_refs:
            sigs, fs = _refs_and_sum(paths[1:], job.channel, fs, wheres[1:])
        else:
            sigs = []
            for p, where in zip(paths, wheres):
                x, sr = _load_mono(p, job.channel, where)
                fs = fs or sr  # native: the mixture's rate
                sigs.append(resample(x, sr, fs))
        n = sigs[0].shape[0]
        for p, s in zip(paths[1:], sigs[1:]):
            if abs(s.shape[0] - n) > 1:
                raise ValueError(f"{p}: {s.shape[0]} samples at {fs} Hz, the mixture has {n}")
        for out, s in zip(outs, sigs):  # nothing of the utterance is written if one file would clip
            check_no_clipping(s, subtype, out)
        for out, s in zip(outs, sigs):
            s = s[:n] if s.shape[0] >= n else np.pad(s, (0, n - s.shape[0]))
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_wav(out, s, fs, subtype)
    except (ValueError, OSError, RuntimeError) as e:  # libsndfile: a full disk is "System error."
        return utt, None, disk_full_problem(e, outdir) or str(e)
    return utt, [str(p) for p in outs], None


def reusable(jobs: List[Job], keys: Dict[str, str], state: Dict[str, str]) -> Tuple[Dict[str, List[str]], List[Job]]:
    """Split ``jobs`` into finished utterances (same key as recorded, outputs
    present) as ``{utt: [mix, ref1, ...]}`` and the jobs still to run."""
    done: Dict[str, List[str]] = {}
    todo: List[Job] = []
    for job in jobs:
        outs = dump_paths(job.outdir, job.utt, len(job.paths) - 1)
        if state.get(job.utt) == keys[job.utt] and all(p.is_file() for p in outs):
            done[job.utt] = [str(p) for p in outs]
        else:
            todo.append(job)
    return done, todo


def run_jobs(jobs: List[Job], nj: int) -> Iterator[Tuple[str, Optional[List[str]], Optional[str]]]:
    """Results of :func:`process` in job order, as each finishes (``nj`` processes)."""
    nj = min(nj, len(jobs), os.cpu_count() or 1)  # never more workers than utterances or CPUs
    if nj > 1:
        with ProcessPoolExecutor(nj) as ex:
            yield from ex.map(process, jobs, chunksize=8)
    else:
        for job in jobs:
            yield process(job)
