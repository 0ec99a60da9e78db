# SPDX-License-Identifier: Apache-2.0
"""Separating the mixtures of a data dir into output files (recipe stage 5,
``tuss_plugin.bin.tuss_inference``): each utterance's prompt list, the
``all`` and ``single`` evaluation modes of Table III of Saijo et al.,
"Task-aware Unified Source Separation", ICASSP 2025, the output files
``wavs/<k>/<utt>.wav`` and the lists ``spk<k>.scp`` and ``utt2prompts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.atomic import atomic_write
from tuss_plugin.fileio.audio import check_audio_file
from tuss_plugin.fileio.datadir import write_ref_lists
from tuss_plugin.fileio.kaldi_io import stage2_problem, write_list


def separate_per_category(sep, x: np.ndarray, fs: int, prompts: List[str]) -> List[np.ndarray]:
    """One forward pass per prompt category ("single" evaluation of the paper).

    ``prompts = [speech, speech, sfxbg]`` runs ``[speech, speech]`` and then
    ``[sfxbg]``; the result lists the outputs in the order of ``prompts``.
    """
    out: List[Optional[np.ndarray]] = [None] * len(prompts)
    for category in dict.fromkeys(prompts):
        where = [i for i, p in enumerate(prompts) if p == category]
        est = sep(x, fs=fs, prompts=[category] * len(where))  # (len(where), L[, C])
        for i, e in zip(where, est):
            out[i] = e
    return out


def output_paths(out: Path, utt: str, n: int) -> List[Path]:
    """``wavs/<k>/<utt>.wav`` for k = 1..n."""
    return [out / "wavs" / str(k) / f"{utt}.wav" for k in range(1, n + 1)]


def remove_other_outputs(out: Path, utt: str, n: int, n_before: int) -> None:
    """Remove ``wavs/<k>/<utt>.wav`` for n < k <= ``n_before``: the outputs a longer,
    earlier prompt list of this command wrote (its stamp says how many), no others."""
    for p in output_paths(out, utt, n_before)[n:]:
        if not p.is_symlink():
            p.unlink(missing_ok=True)


def separate_utterance(
    sep, wav: str, plist: List[str], eval_mode: str, paths: List[Path], normalize: bool = False
) -> None:
    """Separate one mixture file into ``paths`` (one per prompt, atomic writes);
    ``normalize``: each output scaled to a peak of 0.9 (ESPnet's normalize_output_wav)."""
    check_audio_file(wav, scan_nonfinite=False)  # missing, FIFO, unreadable, truncated, empty
    x, fs = sf.read(wav, dtype="float32")
    if eval_mode == "single" and sep.vocab is not None:
        est = separate_per_category(sep, x, fs, plist)
    else:
        est = sep(x, fs=fs, prompts=plist if sep.vocab is not None else None)  # (N, L[, C])
    if len(est) != len(plist):
        raise ValueError(f"the model gave {len(est)} outputs for prompts {plist}")
    if normalize:
        from tuss_plugin.inference.espnet_options import normalize_peak

        est = normalize_peak(np.asarray(est))
    for p, e in zip(paths, est):
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(p, lambda tmp, e=e: sf.write(tmp, e, fs, subtype="FLOAT", format="WAV"))


def write_lists(lists: Path, out: Path, used: Dict[str, List[str]]) -> None:
    """``spk<k>.scp`` and ``utt2prompts``; ``spk<k>.scp`` of a longer, earlier prompt list are removed."""
    outputs = {u: [str(out / "wavs" / str(k) / f"{u}.wav") for k in range(1, len(v) + 1)] for u, v in used.items()}
    write_ref_lists(lists, outputs)
    write_list(lists / "utt2prompts", used.items())


def utterance_prompts(
    sep: object,
    utt: str,
    wavs: Dict[str, str],
    prompts: Dict[str, List[str]],
    fixed: Optional[List[str]],
    given: Optional[List[str]],
    data: Path,
) -> List[str]:
    """The prompt list ``utt`` is separated with: ``fixed`` (``--prompts``, checked),
    else its line of utt2prompts. ``ValueError`` for an utterance missing from
    wav.scp or a pipe or archive-offset entry, ``KeyError`` for one missing from utt2prompts."""
    if utt not in wavs:
        raise ValueError(f"not in {data / 'wav.scp'}")
    problem = stage2_problem(wavs[utt], str(data / "wav.scp"))  # pipes and offsets: stage 2 only
    if problem:
        raise ValueError(problem)
    if sep.vocab is not None:
        return fixed if fixed is not None else sep.validate_prompts(prompts[utt])
    # separators without prompts: with output slots (output_prompts) output k is
    # reference k, labelled with the reference prompts in order; without (the
    # conventional unified model, stock ESPnet separators) all S outputs are
    # written, labelled interchangeable, and score pairs them by assignment
    from tuss_plugin.scoring.metrics import INTERCHANGEABLE

    if getattr(sep.model.separator, "output_prompts", None) is not None:
        return given or prompts[utt]
    return [INTERCHANGEABLE] * sep.model.separator.num_spk
