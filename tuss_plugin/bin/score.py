#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 6: score separated outputs against the references.

    python -m tuss_plugin.bin.score --ref_dir dump/raw/test \
        --inf_dir exp/enh_x/enhanced_test --output exp/enh_x/enhanced_test/scoring/scores.tsv

For every output: SI-SNR (zero-mean, unclamped), SI-SNR improvement over the
mixture, SNR, SDR (BSS-Eval with a 512-tap filter, fast_bss_eval) and
``si_sdr``, the TUSS authors' SI-SNR (fast_bss_eval's SI-SDR without mean
removal, clamped to +-70 dB; the Table III columns read it); see
:mod:`tuss_plugin.metrics`. Outputs are paired with references of the same
prompt only (best SI-SNR assignment inside repeated prompts), so a prompt list
other than the references' (``--inference_prompts``) scores whatever
categories both share. All-zero references get no score. Writes one
tab-separated row per scored output, labelled with its reference's prompt.

Fixed-output separators with interchangeable outputs (no prompts and no output
slots: every output labelled ``*``, :data:`tuss_plugin.metrics.INTERCHANGEABLE`,
in the inference dir's ``utt2prompts``): the references are padded with
silence to the number of outputs, the assignment is solved over all outputs
with the training criterion (:func:`tuss_plugin.metrics.match_fixed_outputs`)
and only the outputs matched to real references are scored, as the TUSS paper
evaluates its conventional models.

Nothing is cut, resampled or guessed to make signals fit: an utterance is
refused, with one line naming it, when its reference count differs from its
prompt count (or its output count from its output prompts), when it has more
references than interchangeable outputs, when a file is
missing, unreadable or a pipe command (``... |``, never run), or when a
reference or output differs from the mixture in rate, length or channel count
(:func:`refusal` holds these rules). The summary line counts the refused
utterances; the run fails when nothing could be scored, when the key list is
empty, or when a list cannot be read.

``--museval`` adds ``museval_sdr``: BSS Eval v4 SDR from museval (1-s windows
and hops, median over windows, as in SiSEC 2018 / MUSDB18), computed jointly
over the paired outputs of a mixture; the MSS benchmark's optional metric.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.cli import CLIError, one_line, run_main
from tuss_plugin.datadir import read_ref_lists, refs_by_utt
from tuss_plugin.fileio import atomic_write_text, check_audio_file
from tuss_plugin.kaldi_io import check_not_pipe, read_dict, read_list, read_scp
from tuss_plugin.metrics import INTERCHANGEABLE, match_fixed_outputs, match_outputs, sdr, si_sdr, si_snr, snr, task_of

COLUMNS = ["utt", "output", "prompt", "task", "si_snr", "si_snri", "snr", "sdr", "si_sdr"]


def _museval_metrics():
    """``museval.metrics`` without ``museval/__init__``: the package init imports
    musdb/stempeg, which refuse to load without ffmpeg on PATH; the BSS Eval
    code itself needs only numpy/scipy."""
    import importlib.util

    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("--museval needs the museval package (make -C tools installs it)")
    path = Path(list(spec.submodule_search_locations)[0]) / "metrics.py"
    mspec = importlib.util.spec_from_file_location("_museval_metrics", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


def museval_sdr(refs: List[np.ndarray], ests: List[np.ndarray], fs: int) -> List[float]:
    """Median over 1-s windows of museval's BSS Eval v4 SDR, one value per source
    (the settings of ``museval.evaluate(..., mode="v4")``)."""
    metrics = _museval_metrics()
    R = np.stack(refs)[..., None]  # (n_src, n_samples, 1)
    E = np.stack(ests)[..., None]
    sdr_frames = metrics.bss_eval(
        R, E, compute_permutation=False, window=fs, hop=fs, framewise_filters=False, bsseval_sources_version=False
    )[0]  # (n_src, n_win)
    with np.errstate(all="ignore"):
        return [float(np.nanmedian(f)) if np.isfinite(f).any() else float("nan") for f in sdr_frames]


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
    and no pipe command, and references and outputs at the mixture's rate,
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
        infos = [check_audio_file(check_not_pipe(p, role), scan_nonfinite=False) for role, p in files]
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


def _read(path: str) -> Tuple[np.ndarray, int]:
    """(n_samples,) float64 (channels averaged) and the rate."""
    x, fs = sf.read(path, dtype="float64", always_2d=True)
    return (x[:, 0] if x.shape[1] == 1 else x.mean(1)), fs


def pair_outputs(entry: ScoreEntry, refs: List[np.ndarray], infs: List[np.ndarray]) -> List[Tuple[int, int]]:
    """``(output index, reference index)`` pairs of ``entry`` with a non-silent reference:
    by prompt (:func:`match_outputs`), or for interchangeable outputs by the padded
    assignment over all outputs (:func:`match_fixed_outputs`)."""
    if entry.interchangeable:
        pairs = match_fixed_outputs(refs, infs)
    else:
        pairs = match_outputs(entry.ref_prompts, entry.out_prompts, refs, infs)
    return [(i, r) for i, r in pairs if np.any(refs[r])]


def score_utterance(entry: ScoreEntry, use_museval: bool = False) -> List[dict]:
    """One row per output paired with a non-silent reference, labelled with the
    reference's prompt; ``entry`` must pass :func:`refusal` (equal rates and
    lengths: nothing is cut)."""
    mix, fs = _read(entry.mix)
    refs = [_read(p)[0] for p in entry.refs]
    infs = [_read(p)[0] for p in entry.outs]
    task = task_of(entry.ref_prompts)
    pairs = pair_outputs(entry, refs, infs)
    rows = []
    for i, r in pairs:
        s = si_snr(infs[i], refs[r])
        rows.append(
            {
                "utt": entry.utt,
                "output": i + 1,
                "prompt": entry.ref_prompts[r],
                "task": task,
                "si_snr": s,
                "si_snri": s - si_snr(mix, refs[r]),
                "snr": snr(infs[i], refs[r]),
                "sdr": sdr(infs[i], refs[r]),
                "si_sdr": si_sdr(infs[i], refs[r]),
            }
        )
    if use_museval and rows:
        vals = museval_sdr([refs[r] for _, r in pairs], [infs[i] for i, _ in pairs], fs)
        for row, v in zip(rows, vals):
            row["museval_sdr"] = v
    return rows


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


def make_entry(utt: str, lists: Lists) -> Optional[ScoreEntry]:
    """The files of ``utt``; None when a list lacks it altogether."""
    if any(utt not in d for d in lists):
        return None
    return ScoreEntry(
        utt, lists.mixes[utt], lists.refs[utt], lists.ref_prompts[utt], lists.outs[utt], lists.out_prompts[utt]
    )


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref_dir", required=True, help="data dir: wav.scp, spk.scp, utt2prompts")
    parser.add_argument("--inf_dir", required=True, help="inference dir: spk<k>.scp, utt2prompts")
    parser.add_argument("--output", required=True, help="scores file (TSV)")
    parser.add_argument("--key_file", default=None)
    parser.add_argument(
        "--museval", action="store_true", help="also compute museval's BSS Eval v4 SDR (median of 1-s windows)"
    )
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("score", run, get_parser().parse_args(cmd))


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    ref, inf = Path(args.ref_dir), Path(args.inf_dir)
    try:
        lists = read_lists(ref, inf)
        keys = [k for k, _ in read_list(args.key_file, min_fields=1)] if args.key_file else list(lists.out_prompts)
    except (OSError, ValueError) as e:
        raise CLIError(one_line(e)) from None
    if not keys:
        raise CLIError(f"no utterances to score in {args.key_file or inf / 'utt2prompts'}")
    rows = []
    missing, refused = [], []
    for i, utt in enumerate(keys, 1):
        entry = make_entry(utt, lists)
        reason = refusal(entry) if entry is not None else None
        if entry is None:
            missing.append(utt)
        elif reason is not None:
            print(f"score: refused: {utt}: {reason}", file=sys.stderr)
            refused.append(utt)
        else:
            rows += score_utterance(entry, use_museval=args.museval)
        if i % 20 == 0 or i == len(keys):
            print(f"score: {i}/{len(keys)} utterances", flush=True)
    if missing:
        raise CLIError(f"no references or outputs for {len(missing)} utterance(s): {', '.join(missing[:5])}")
    if len(refused) == len(keys):
        raise CLIError(f"nothing scored: {len(refused)} of {len(keys)} utterance(s) refused")
    columns = COLUMNS + (["museval_sdr"] if args.museval else [])
    lines = ["\t".join(columns)]
    for r in rows:
        lines.append("\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in columns))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print(
        f"score: {len(rows)} outputs of {len(keys)} utterance(s)"
        + (f", {len(refused)} refused (listed above)" if refused else "")
        + f" -> {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
