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
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tuss_plugin.dataprep.format_jobs import STATE_FILE, Job, input_key, read_state, reusable, run_jobs
from tuss_plugin.dataprep.format_lists import read_channels, read_refs, utterance_paths, write_lists
from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.kaldi_io import read_dict, read_scp
from tuss_plugin.utils.cli import CLIError, run_main
from tuss_plugin.utils.errors import one_line
from tuss_plugin.utils.values import check_subtype, parse_rate, positive_int


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
