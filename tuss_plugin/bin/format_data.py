#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 2: copy a Kaldi-style TUSS data dir to a dump dir at one rate.

    python -m tuss_plugin.bin.format_data --fs 16k data/test dump/raw/test

Reads ``wav.scp``, ``spk1.scp..spkN.scp`` and ``utt2prompts``; resamples every
mixture and reference to ``--fs`` (soxr), writes them as ``<out>/data/mix/<utt>.wav``
and ``<out>/data/s<k>/<utt>.wav`` (one folder per role, so no two names can meet)
and writes ``wav.scp``, ``spk1..N.scp``, ``spk.scp`` (all references of an
utterance on one line), ``utt2prompts``, ``utt2category`` (number of prompts),
``utt2num_samples``, ``utt2spk``, ``spk2utt``, and ``utt2corpus`` (the corpus
of each item, read by the equal-weight validation) when the source has one.

The entries of ``wav.scp`` and ``spk<k>.scp`` are read as in Kaldi and ESPnet
(:func:`tuss_plugin.fileio.kaldi_io.read_audio_entry`): the path of an audio file, a
pipe command (``<utt> sox in.flac -t wav - |``: run by ``/bin/sh``, its standard
output is the audio) or an archive offset (``<utt> file.ark:1234``, e.g. written
by kaldiio's ``WriteHelper``). This stage is the only one that runs pipe
commands and reads archive offsets: what it writes are plain audio files, and
every later stage (training lists, ``tuss_inference``, ``score``) refuses the
other kinds, saying to run this stage first.

Unreadable or missing audio (a failing pipe command with its exit status and
the end of its error output, an archive entry that is not audio) is
reported by name and skipped (``--on_error skip``, default; the skipped entries
are also listed in ``format_skipped.txt``) or stops the stage (``--on_error stop``),
as do list entries missing from ``wav.scp``. A finished utterance is not redone
by a later run while its list entries (paths, commands, channel), the size and
modification time of its input files (of an archive, of the files a command
names) and the options are the same; ``format_state.txt`` records a hash of
these per utterance as it finishes, so an interrupted run resumes and an edited
list redoes what changed.

Optional inputs and options:

* ``utt2channel`` (``<utt> <channel>``, 0-based): take that channel of the
  mixture and of every reference of the utterance (e.g. the two channels of a
  MUSDB18-HQ track as two mono utterances). Utterances it does not list must
  be mono.
* ``--mix_from_refs``: the mixture is the sum of the (channel-selected)
  references and the ``wav.scp`` file is not read, as in the TUSS authors'
  evaluation (the references then sum exactly to the mixture).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.atomic import atomic_write, atomic_write_text, disk_full_problem
from tuss_plugin.fileio.audio import check_no_clipping, resample
from tuss_plugin.fileio.datadir import read_ref_lists, write_ref_lists
from tuss_plugin.fileio.kaldi_io import (
    entry_files,
    read_audio_entry,
    read_dict,
    read_scp,
    write_list,
)
from tuss_plugin.utils.cli import CLIError, run_main
from tuss_plugin.utils.errors import one_line
from tuss_plugin.utils.values import check_rate, check_subtype, parse_rate, positive_int

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


def read_channels(path: Path) -> Dict[str, int]:
    """``utt2channel`` as ``{utt: channel}`` (0-based); ``{}`` when absent."""
    channels: Dict[str, int] = {}
    if not path.exists():
        return channels
    for utt, fields in read_dict(path).items():
        if len(fields) != 1 or not fields[0].isdigit():
            raise ValueError(f"{path}: {utt}: expected one channel index (0, 1, ...), got {' '.join(fields)!r}")
        channels[utt] = int(fields[0])
    return channels


def read_refs(src: Path) -> Dict[int, Dict[str, str]]:
    """``{k: spk<k>.scp}`` for k = 1, 2, ... as long as the lists exist."""
    return dict(enumerate(read_ref_lists(src), 1))


def utterance_paths(
    src: Path, utt: str, mix: str, prompts: Dict[str, List[str]], refs: Dict[int, Dict[str, str]]
) -> List[str]:
    """[mixture, reference 1, ...] of ``utt`` (list entries: paths, pipe
    commands or archive offsets, read when the job runs); ``ValueError`` (one
    line) for a missing prompt list or reference."""
    if utt not in prompts:
        raise ValueError(f"no entry in {src / 'utt2prompts'}")
    n = len(prompts[utt])
    missing = [k for k in range(1, n + 1) if utt not in refs.get(k, {})]
    if missing:
        raise ValueError(f"{n} prompts but no reference in spk{missing[0]}.scp")
    return [mix] + [refs[k][utt] for k in range(1, n + 1)]


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


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="data dir (wav.scp, spk*.scp, utt2prompts)")
    parser.add_argument("dst", help="output dump dir")
    parser.add_argument(
        "--fs",
        default="16k",
        help="target sampling rate (16k, 44.1k, 48000, ...), or 'native' to keep "
        "each utterance's rate (that of its mixture, or first reference with --mix_from_refs)",
    )
    parser.add_argument(
        "--nj", type=positive_int, default=1, help="parallel processes (at most one per utterance and CPU)"
    )
    parser.add_argument("--subtype", default="FLOAT", help="WAV subtype of the written audio")
    parser.add_argument(
        "--on_error",
        choices=["skip", "stop"],
        default="skip",
        help="unreadable/missing audio: report and skip, or stop",
    )
    parser.add_argument(
        "--mix_from_refs", action="store_true", help="mixture = sum of the references (wav.scp audio is not read)"
    )
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("format_data", run, get_parser().parse_args(cmd), errors=(OSError,))  # e.g. a full disk


def read_source(src: Path) -> Tuple[Dict[str, str], Dict[str, List[str]], Dict[str, int], Optional[Dict], Dict]:
    """(wav.scp, utt2prompts, utt2channel, utt2corpus or None, {k: spk<k>.scp}) of ``src``."""
    try:
        wavs = read_scp(src / "wav.scp")
        prompts = read_dict(src / "utt2prompts")
        channels = read_channels(src / "utt2channel")
        corpora = read_dict(src / "utt2corpus") if (src / "utt2corpus").exists() else None
        refs = read_refs(src)
    except (OSError, ValueError) as e:
        raise CLIError(one_line(e)) from None
    return wavs, prompts, channels, corpora, refs


def write_lists(
    dst: Path,
    done: Dict[str, List[str]],
    prompts: Dict[str, List[str]],
    corpora: Optional[Dict[str, List[str]]],
    fs: Optional[int],
    src: Path,
) -> Tuple[object, List[int]]:
    """The lists of the formatted dir for the utterances ``done`` ({utt: [mix,
    ref1, ...]}); returns (the ``fs`` written: a rate or ``native``, the rates found)."""
    if corpora is not None:
        missing = sorted(u for u in done if u not in corpora)
        if missing:
            raise CLIError(
                f"{src / 'utt2corpus'}: no corpus for {len(missing)} utterance(s), e.g. {', '.join(missing[:3])}"
            )
        write_list(dst / "utt2corpus", ((u, corpora[u]) for u in done))
    elif (dst / "utt2corpus").exists():
        (dst / "utt2corpus").unlink()  # from an earlier source that had one
    write_list(dst / "wav.scp", ((u, o[0]) for u, o in done.items()))
    write_list(dst / "spk.scp", ((u, o[1:]) for u, o in done.items()))
    write_ref_lists(dst, {u: o[1:] for u, o in done.items()})
    write_list(dst / "utt2prompts", ((u, prompts[u]) for u in done))
    write_list(dst / "utt2category", ((u, f"{len(prompts[u])}src") for u in done))
    infos = {u: sf.info(o[0]) for u, o in done.items()}
    write_list(dst / "utt2num_samples", ((u, str(i.frames)) for u, i in infos.items()))
    rates = sorted({i.samplerate for i in infos.values()})
    written: object = fs
    if fs is None:
        write_list(dst / "utt2fs", ((u, str(i.samplerate)) for u, i in infos.items()))
        written = rates[0] if len(rates) == 1 else "native"
    elif (dst / "utt2fs").exists():  # from an earlier run with --fs native
        (dst / "utt2fs").unlink()
    write_list(dst / "utt2spk", ((u, u) for u in done))
    write_list(dst / "spk2utt", ((u, u) for u in done))
    atomic_write_text(dst / "fs", f"{written}\n")
    return written, rates


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError`` (or are listed, see ``--on_error``)."""
    from tuss_plugin.fileio.output_dirs import check_output_dir

    src, dst = Path(args.src), Path(args.dst)
    try:  # every option once, before any utterance
        fs = None if args.fs.strip().lower() == "native" else parse_rate(args.fs)
    except ValueError as e:
        raise CLIError(f"--fs: {one_line(e)}") from None
    try:
        args.subtype = check_subtype(args.subtype)
        check_output_dir(dst, [("the source data dir", src)])
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    wavs, prompts, channels, corpora, refs = read_source(src)
    problems = []
    jobs = []
    for utt, mix in wavs.items():
        try:
            paths = utterance_paths(src, utt, mix, prompts, refs)
        except ValueError as e:
            problems.append(f"{utt}: {e}")
            continue
        jobs.append(Job(utt, paths, dst.resolve(), fs, args.subtype, channels.get(utt), args.mix_from_refs, src))
    listed = {
        u: f
        for f, d in [("utt2prompts", prompts)] + [(f"spk{k}.scp", r) for k, r in refs.items()]
        for u in d
        if u not in wavs
    }
    for utt, f in listed.items():  # data that would otherwise vanish without a word
        problems.append(f"{utt}: listed in {src / f} but not in {src / 'wav.scp'}")
    dst.mkdir(parents=True, exist_ok=True)
    if (dst / "format_options.json").exists():  # the reuse record of earlier versions
        (dst / "format_options.json").unlink()
    options = {"fs": fs, "subtype": args.subtype, "mix_from_refs": args.mix_from_refs}
    keys = {j.utt: input_key(j, options) for j in jobs}
    done, todo = reusable(jobs, keys, read_state(dst / STATE_FILE))
    with open(dst / STATE_FILE, "a", encoding="utf-8") as state:
        for utt, outs, err in run_jobs(todo, args.nj):
            if err:
                problems.append(f"{utt}: {err}")
                continue
            done[utt] = outs
            state.write(f"{utt} {keys[utt]}\n")  # finished: a resumed run keeps it
            state.flush()
    for p in problems:
        print(f"format_data: {'error' if args.on_error == 'stop' else 'skipped'}: {p}", file=sys.stderr)
    if problems and args.on_error == "stop":
        return 1
    if not done:
        raise CLIError(f"no usable utterance in {src}")
    fs, rates = write_lists(dst, done, prompts, corpora, fs, src)
    summary = {"utterances": len(done), "skipped": len(problems), "fs": fs, "mix_from_refs": args.mix_from_refs}
    atomic_write_text(dst / "format_summary.json", json.dumps(summary) + "\n")
    atomic_write_text(dst / "format_skipped.txt", "".join(f"{p}\n" for p in problems))
    atomic_write_text(dst / STATE_FILE, "".join(f"{u} {keys[u]}\n" for u in sorted(done)))
    rate_text = f"{fs} Hz" if len(rates) == 1 else f"their own rates ({', '.join(map(str, rates))} Hz)"
    print(
        f"format_data: {src} -> {dst}: {len(done)} utterances at {rate_text}"
        + (f", {len(problems)} skipped (listed above)" if problems else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
