# SPDX-License-Identifier: Apache-2.0
"""The lists of recipe stage 2 (``tuss_plugin.bin.format_data``): the optional
``utt2channel`` and the reference lists of a source data dir, each utterance's
entries, and the lists of the formatted dump dir (``wav.scp``, ``spk<k>.scp``,
``spk.scp``, ``utt2prompts``, ``utt2category``, ``utt2num_samples``,
``utt2fs``, ``utt2spk``, ``spk2utt``, ``utt2corpus``, ``fs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import soundfile as sf

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.datadir import read_ref_lists, write_ref_lists
from tuss_plugin.fileio.kaldi_io import read_dict, write_list
from tuss_plugin.utils.cli import CLIError


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
