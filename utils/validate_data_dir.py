#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check a Kaldi-style TUSS data directory and report every problem found.

    validate_data_dir.py [--check-audio] [--formatted] [--no-refs] [--prompts speech sfx ...] DIR

Checks: wav.scp and utt2prompts exist, keys are unique, sorted and valid ids
(the rule of tuss_plugin/fileio/kaldi_io.py: ids become file names, so no '/', '..',
control characters, leading '.' or '-'), no file (or pipe command, or archive
offset) is both a mixture and a reference or listed twice for one
utterance (at the same utt2channel channel), every mixture has a prompt list
that is valid (known names, not empty, no forbidden combination), spk<k>.scp
holds exactly the utterances with >= k prompts (or spk.scp lists one
reference per prompt), utt2spk/spk2utt agree when present.
An optional utt2channel (`<utt> <channel>`, 0-based) selects one channel of the
mixture and of the references of an utterance. In wav.scp and spk<k>.scp the rest
of a line after the key is the entry, so paths may contain spaces.

An entry of wav.scp or spk<k>.scp is the path of an audio file, or, as in Kaldi
and ESPnet, a pipe command (`<utt> sox in.flac -t wav - |`) or an archive offset
(`<utt> file.ark:1234`). Only recipe stage 2 (python -m tuss_plugin.bin.format_data)
runs pipe commands and reads archive offsets; it writes plain audio files into
the dump dir. In a data dir (data/<set>, the input of stage 2) such entries are
accepted: they are counted on standard output, not run, not read, and not
opened by --check-audio. With --formatted (a dump dir, the input of every later
stage) they are problems. spk.scp holds one reference path per column, so a
pipe command there is a problem either way.
With --check-audio the files are opened: they must exist, be readable, be mono
(or have the channel utt2channel selects), and mixture and references must
share rate and length.
Exit status 1 and one line per problem (file and key named) when invalid.
"""

import argparse
import os
import sys
from pathlib import Path

# this checkout's package first (``import tuss_plugin`` imports neither torch nor ESPnet)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuss_plugin import prompts as PROMPTS  # noqa: E402  (names, aliases, exclusion rules)
from tuss_plugin.fileio import datadir as DATADIR  # noqa: E402  (the spk<k>.scp lists)
from tuss_plugin.fileio import kaldi_io as KALDI_IO  # noqa: E402  (id rule, kinds of entries)
from tuss_plugin.fileio import textfiles as TEXTFILES  # noqa: E402  (regular files, strict UTF-8)

DEFAULT_PROMPTS = list(PROMPTS.DEFAULT_PROMPTS)


def read(path, problems, min_fields=2, rest_is_path=False):
    """``{key: [fields]}``; with ``rest_is_path`` the one field is the rest of the line."""
    out = {}
    prev = None
    try:  # a regular UTF-8 file (tuss_plugin/fileio/textfiles.py, the rule for every file read)
        lines = TEXTFILES.read_lines(path)
    except ValueError as e:
        problems.append(str(e))
        return out
    for lineno, line in enumerate(lines, 1):
        parts = line.strip().split(maxsplit=1) if rest_is_path else line.split()
        if not parts:
            continue
        if len(parts) < min_fields:
            problems.append(f"{path}:{lineno}: too few fields: {line!r}")
            continue
        k = parts[0]
        try:
            KALDI_IO.check_utt_id(k, f"{path}:{lineno}")
        except ValueError as e:
            problems.append(str(e))
            continue
        if k in out:
            problems.append(f"{path}:{lineno}: duplicate key {k}")
        if prev is not None and k < prev:
            problems.append(f"{path}:{lineno}: not sorted ({k} after {prev})")
        prev = k
        out[k] = parts[1:]
    return out


def load_vocabulary(names, aliases=None, exclusive=None):
    """The plugin's PromptVocabulary (tuss_plugin/prompts.py, the one owner of the rules)."""
    return PROMPTS.PromptVocabulary(names, aliases, exclusive)


def config_vocabulary(config_file):
    """The vocabulary a training config builds (preprocessor_conf, else
    separator_conf: prompts, prompt_aliases, exclusive_prompts)."""
    import yaml

    with open(config_file, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    sep = config.get("separator_conf") or {}
    pre = config.get("preprocessor_conf") or {}
    pick = {
        k: pre.get(k) if pre.get(k) is not None else sep.get(k)
        for k in ("prompts", "prompt_aliases", "exclusive_prompts")
    }
    return load_vocabulary(pick["prompts"] or DEFAULT_PROMPTS, pick["prompt_aliases"], pick["exclusive_prompts"])


class Stage2Entries:
    """The pipe commands and archive offsets of a dir: accepted in a data dir
    (only stage 2 runs or reads them; counted), problems with ``formatted``."""

    def __init__(self, formatted=False):
        self.formatted = formatted
        self.count = {"pipe": 0, "offset": 0}
        self.lists = set()

    def check(self, value, where, list_name, problems):
        """True when ``value`` is a pipe command or an archive offset (not a file to open)."""
        kind = KALDI_IO.entry_kind(value)
        if kind == "path":
            return False
        if self.formatted:
            problems.append(KALDI_IO.stage2_problem(value, where))
        else:
            self.count[kind] += 1
            self.lists.add(list_name)
        return True

    def note(self, d):
        """One line on the accepted entries, or None."""
        if not any(self.count.values()):
            return None
        return (
            f"{d}: {self.count['pipe']} pipe command(s) and {self.count['offset']} archive offset(s) "
            f"in {', '.join(sorted(self.lists))}: accepted; only recipe stage 2 (format_data) runs or reads them"
        )


def entry_key(value):
    """What identifies the audio of an entry: the real path of a file, the real
    path of an archive with the offset, the text of a pipe command."""
    kind = KALDI_IO.entry_kind(value)
    if kind == "pipe":
        return value.strip()
    if kind == "offset":
        ark, offset = value.strip().rsplit(":", 1)
        return f"{os.path.realpath(ark)}:{offset}"
    return os.path.realpath(value)


def same_file_problems(d: Path, wav, ref_lists, channel):
    """A file (at one utt2channel channel) that is the mixture of one utterance and
    a reference of another, or that one utterance lists twice. Files may be shared
    otherwise: e.g. the channels of one stereo file as two utterances. Pipe
    commands and archive offsets count as the same audio when their text (the
    archive's real path) is the same."""
    problems = []
    mixtures = {}  # (entry key, channel) -> first utterance with that mixture
    for u, (path, *_) in wav.items():
        mixtures.setdefault((entry_key(path), channel.get(u)), u)
    for u, (mix, *_) in wav.items():
        seen = {entry_key(mix): "mixture"}
        for k, p in enumerate(ref_lists.get(u, []), 1):
            real = entry_key(p)
            if real in seen:
                problems.append(f"{d}: {u}: reference {k} {p} is the same file as its {seen[real]}")
            seen.setdefault(real, f"reference {k}")
            other = mixtures.get((real, channel.get(u)))
            if other is not None and other != u:
                problems.append(f"{d}: {u}: reference {k} {p} is the same file as the mixture of {other}")
    return problems


def check_refs(d: Path, prompts, problems, stage2):
    """Check spk.scp / spk<k>.scp against utt2prompts -> {utt: [reference entries]}
    (pipe commands and archive offsets go to ``stage2``, a :class:`Stage2Entries`)."""
    ref_lists = {}
    if (d / "spk.scp").exists():
        for u, paths in read(d / "spk.scp", problems).items():
            if paths[-1].endswith("|"):
                problems.append(
                    f"{d / 'spk.scp'}: {u}: {' '.join(paths)!r}: a pipe command cannot be a column of spk.scp "
                    "(one reference path per column; list pipe commands in spk<k>.scp)"
                )
                continue
            ref_lists[u] = paths
            for p in paths:
                stage2.check(p, f"{d / 'spk.scp'}: {u}", "spk.scp", problems)
    spk = {}
    for k, path in enumerate(DATADIR.ref_list_files(d), 1):
        spk[k] = read(path, problems, rest_is_path=True)
        for u, (p, *_) in spk[k].items():
            stage2.check(p, f"{path}: {u}", path.name, problems)
    if not spk and not ref_lists:
        problems.append(f"{d}: no spk1.scp (references)")
    if spk:
        max_n = max((len(p) for p in prompts.values()), default=0)
        for k in range(len(spk) + 1, max_n + 1):
            n = sum(1 for p in prompts.values() if len(p) >= k)
            problems.append(f"{DATADIR.ref_list(d, k)}: missing ({n} utterance(s) have {k} or more prompts)")
    for k, lst in spk.items():
        need = {u for u, p in prompts.items() if len(p) >= k}
        for u in sorted(need - set(lst)):
            problems.append(f"{DATADIR.ref_list(d, k)}: no reference for {u} ({len(prompts[u])} prompts)")
        for u in sorted(set(lst) - need):
            problems.append(f"{DATADIR.ref_list(d, k)}: {u} has fewer than {k} prompts")
    for u, paths in ref_lists.items():
        if u in prompts and len(paths) != len(prompts[u]):
            problems.append(f"{d / 'spk.scp'}: {u} has {len(paths)} references, {len(prompts[u])} prompts")
    if spk and not ref_lists:
        ref_lists = {u: [spk[k][u][0] for k in range(1, len(p) + 1) if u in spk.get(k, {})] for u, p in prompts.items()}
    return ref_lists


def read_channels(d: Path, wav, problems):
    """utt2channel (when present) -> {utt: channel index}."""
    channel = {}
    if (d / "utt2channel").exists():
        for u, fields in read(d / "utt2channel", problems).items():
            if u not in wav:
                problems.append(f"{d / 'utt2channel'}: {u} is not in wav.scp")
            if len(fields) != 1 or not fields[0].isdigit():
                problems.append(f"{d / 'utt2channel'}: {u}: expected one channel index (0, 1, ...), got {fields}")
            else:
                channel[u] = int(fields[0])
    return channel


def check_audio_files(d: Path, wav, ref_lists, channel, problems):
    """Open every mixture and reference that is a file (pipe commands and archive
    offsets are left to stage 2): readable, mono or the channel utt2channel
    selects, references as long as and at the rate of their mixture."""
    import soundfile as sf

    def channel_problem(u, info):
        if u in channel and channel[u] >= info.channels:
            return f"{info.channels} channel(s), utt2channel selects channel {channel[u]}"
        if u not in channel and info.channels != 1:
            return f"{info.channels} channels, mono expected (or a channel in utt2channel)"
        return None

    for u, (path, *rest) in wav.items():
        info = None
        if KALDI_IO.entry_kind(path) == "path":
            try:
                info = sf.info(path)
            except Exception as e:  # noqa: BLE001
                problems.append(f"{d / 'wav.scp'}: {u}: {path}: unreadable ({str(e).splitlines()[0]})")
                continue
            msg = channel_problem(u, info)
            if msg:
                problems.append(f"{d / 'wav.scp'}: {u}: {path}: {msg}")
        for rp in ref_lists.get(u, []):
            if KALDI_IO.entry_kind(rp) != "path":  # run or read by stage 2 only
                continue
            try:
                ri = sf.info(rp)
            except Exception as e:  # noqa: BLE001
                problems.append(f"{d}: {u}: reference {rp}: unreadable ({str(e).splitlines()[0]})")
                continue
            msg = channel_problem(u, ri)
            if msg:
                problems.append(f"{d}: {u}: reference {rp}: {msg}")
            if info is not None and (ri.samplerate != info.samplerate or ri.frames != info.frames):
                problems.append(
                    f"{d}: {u}: reference {rp}: {ri.frames} samples at {ri.samplerate} Hz, "
                    f"mixture {info.frames} at {info.samplerate} Hz"
                )


def validate(d: Path, check_audio=False, refs=True, vocab=None, formatted=False, notes=None):
    """Every problem of the data dir ``d``, one line each (see the module docstring).

    ``formatted``: ``d`` is a dump dir (stage 2's output), where pipe commands and
    archive offsets are problems; otherwise they are accepted and one line
    counting them is appended to ``notes`` (a list) when given."""
    problems = []
    for name in ("wav.scp", "utt2prompts"):
        if not (d / name).is_file():
            problems.append(f"{d / name}: missing")
    if problems:
        return problems
    wav = read(d / "wav.scp", problems, rest_is_path=True)
    stage2 = Stage2Entries(formatted)
    for u, (path, *_) in wav.items():
        stage2.check(path, f"{d / 'wav.scp'}: {u}", "wav.scp", problems)
    prompts = read(d / "utt2prompts", problems)
    voc = vocab if hasattr(vocab, "validate") else load_vocabulary(vocab or DEFAULT_PROMPTS)
    for u in wav:
        if u not in prompts:
            problems.append(f"{d / 'utt2prompts'}: no prompts for {u}")
    for u, p in prompts.items():
        if u not in wav:
            problems.append(f"{d / 'utt2prompts'}: {u} is not in wav.scp")
        if voc is not None:
            try:
                voc.validate(p)
            except ValueError as e:
                problems.append(f"{d / 'utt2prompts'}: {u}: {e}")
    ref_lists = check_refs(d, prompts, problems, stage2) if refs else {}
    if (d / "utt2spk").exists():
        u2s = read(d / "utt2spk", problems)
        for u in wav:
            if u not in u2s:
                problems.append(f"{d / 'utt2spk'}: no entry for {u}")
    channel = read_channels(d, wav, problems)
    problems += same_file_problems(d, wav, ref_lists, channel)
    if check_audio:
        check_audio_files(d, wav, ref_lists, channel, problems)
    note = stage2.note(d)
    if note and notes is not None:
        notes.append(note)
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--check-audio", action="store_true", help="open every audio file")
    p.add_argument("--no-refs", action="store_true", help="the dir has no references (inference only)")
    p.add_argument(
        "--formatted",
        action="store_true",
        help="a dump dir written by stage 2 (format_data): pipe commands and archive offsets are problems",
    )
    p.add_argument("--prompts", nargs="+", default=None, help="prompt vocabulary (default: the 8 TUSS prompts)")
    p.add_argument(
        "--config",
        default=None,
        help="take the prompt vocabulary from this training config (e.g. a model with added prompts)",
    )
    a = p.parse_args(argv)
    d = Path(a.dir)
    if not d.is_dir():
        print(f"validate_data_dir.py: {d}: no such directory", file=sys.stderr)
        return 1
    vocab = a.prompts
    if a.config is not None:
        try:
            vocab = config_vocabulary(a.config)
        except Exception as e:  # noqa: BLE001 - unreadable file, YAML or vocabulary errors
            msg = " ".join(str(e).split())[:200]
            print(f"validate_data_dir.py: {a.config}: cannot read its prompt vocabulary ({msg})", file=sys.stderr)
            return 1
    notes = []
    problems = validate(d, a.check_audio, not a.no_refs, vocab, a.formatted, notes)
    for note in notes:
        print(f"validate_data_dir.py: {note}")
    for pr in problems:
        print(f"validate_data_dir.py: {pr}", file=sys.stderr)
    if problems:
        print(f"validate_data_dir.py: {d}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    n = sum(1 for l in (d / "wav.scp").read_text().splitlines() if l.strip())
    print(f"validate_data_dir.py: {d}: OK ({n} utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
