# SPDX-License-Identifier: Apache-2.0
"""The files of one scored utterance and the rules that refuse it (recipe stage 6,
``tuss_plugin.bin.score``).

An utterance is scored from its mixture (``wav.scp`` of the reference dir), its
references (``spk.scp``) under their prompts (``utt2prompts``), and the outputs
(``spk<k>.scp`` of the inference dir) under the output prompts (its
``utt2prompts``); ``--score_obs`` takes the mixture as every output.
:func:`refusal` holds the rules that refuse an utterance: nothing is cut,
resampled or guessed to make signals fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from tuss_plugin.fileio.audio import check_audio_file
from tuss_plugin.fileio.datadir import read_ref_lists, refs_by_utt
from tuss_plugin.fileio.kaldi_io import check_plain_path, read_dict, read_scp
from tuss_plugin.scoring.metrics import INTERCHANGEABLE


class ScoreEntry(NamedTuple):
    """The files of one utterance, references and outputs in their prompts' order."""

    utt: str
    mix: str
    refs: List[str]
    ref_prompts: List[str]
    outs: List[Optional[str]]  # None: the utterance is missing from that spk<k>.scp of the outputs
    out_prompts: List[str]

    @property
    def interchangeable(self) -> bool:
        """The outputs of a fixed-output separator without output slots (all labelled ``*``)."""
        return INTERCHANGEABLE in self.out_prompts


def refusal(entry: ScoreEntry) -> Optional[str]:
    """Why ``entry`` cannot be scored (one line), or None.

    The one place of the pairing rules: one reference per reference prompt and
    one output per output prompt (otherwise an output would meet the reference
    of another prompt), interchangeable outputs (``*``) not mixed with prompted
    ones and at least as many as references, every file a readable audio file
    and no pipe command or archive offset (stage 2 reads those), and
    references and outputs at the mixture's rate,
    length and channel count.
    """
    if len(entry.refs) != len(entry.ref_prompts):
        return (
            f"{len(entry.refs)} reference(s) for {len(entry.ref_prompts)} prompt(s) "
            "(spk.scp and utt2prompts of the references)"
        )
    missing = [k for k, o in enumerate(entry.outs, 1) if o is None]
    if missing:
        return f"no output {missing[0]} (not in spk{missing[0]}.scp of the outputs)"
    if len(entry.outs) != len(entry.out_prompts):
        return f"{len(entry.outs)} output(s) for {len(entry.out_prompts)} prompt(s) (utt2prompts of the outputs)"
    if entry.interchangeable and set(entry.out_prompts) != {INTERCHANGEABLE}:
        return (
            f"output prompts {entry.out_prompts} mix interchangeable outputs ({INTERCHANGEABLE}) "
            "with prompted ones (utt2prompts of the outputs)"
        )
    if entry.interchangeable and len(entry.refs) > len(entry.outs):
        return (
            f"{len(entry.refs)} reference(s) for {len(entry.outs)} interchangeable output(s) "
            "(more sources than outputs)"
        )
    files = [("mixture", entry.mix)] + [(f"reference {k}", p) for k, p in enumerate(entry.refs, 1)]
    files += [(f"output {k}", p) for k, p in enumerate(entry.outs, 1)]
    try:
        infos = [check_audio_file(check_plain_path(p, role), scan_nonfinite=False) for role, p in files]
    except ValueError as e:
        return str(e)
    mix = infos[0]
    for (role, p), info in zip(files[1:], infos[1:]):
        if (info.samplerate, info.frames, info.channels) != (mix.samplerate, mix.frames, mix.channels):
            return (
                f"{role} {p}: {info.frames} samples at {info.samplerate} Hz, {info.channels} channel(s); "
                f"the mixture {mix.frames} at {mix.samplerate} Hz, {mix.channels}"
            )
    return None


class Lists(NamedTuple):
    """The lists of a reference dir and an inference dir, by utterance."""

    mixes: Dict[str, str]
    ref_prompts: Dict[str, List[str]]
    refs: Dict[str, List[str]]
    out_prompts: Dict[str, List[str]]
    outs: Dict[str, List[Optional[str]]]


def read_lists(ref: Path, inf: Path) -> Lists:
    """Mixtures, reference prompts, references (``spk.scp``) of ``ref``; output
    prompts and outputs (``spk1.scp``, ``spk2.scp``, ...) of ``inf``. List errors
    raise ``ValueError`` naming the file and line."""
    outs = refs_by_utt(read_ref_lists(inf))  # fewer outputs than the longest prompt list: shorter
    return Lists(
        read_scp(ref / "wav.scp"),
        read_dict(ref / "utt2prompts"),
        read_dict(ref / "spk.scp"),
        read_dict(inf / "utt2prompts"),
        outs,
    )


def read_obs_lists(ref: Path) -> Lists:
    """The lists of ``--score_obs``: those of ``ref`` with its mixture as the output
    of every reference, under the references' prompts. List errors raise
    ``ValueError`` naming the file and line."""
    mixes, prompts, refs = read_scp(ref / "wav.scp"), read_dict(ref / "utt2prompts"), read_dict(ref / "spk.scp")
    outs = {u: [mixes[u]] * len(r) for u, r in refs.items() if u in mixes}
    return Lists(mixes, prompts, refs, dict(prompts), outs)


def make_entry(utt: str, lists: Lists) -> Optional[ScoreEntry]:
    """The files of ``utt``; None when a list lacks it altogether."""
    if any(utt not in d for d in lists):
        return None
    return ScoreEntry(
        utt, lists.mixes[utt], lists.refs[utt], lists.ref_prompts[utt], lists.outs[utt], lists.out_prompts[utt]
    )
