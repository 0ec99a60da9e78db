#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 6: score separated outputs against the references.

    python -m tuss_plugin.bin.score --ref_dir dump/raw/test \
        --inf_dir exp/enh_x/enhanced_test --output exp/enh_x/enhanced_test/scoring/scores.tsv
    python -m tuss_plugin.bin.score --ref_dir dump/raw/test --score_obs \
        --output dump/raw/test/scoring/scores.tsv                    # the mixtures themselves
    python -m tuss_plugin.bin.score --merge logdir/scores.1.tsv logdir/scores.2.tsv \
        --output scoring/scores.tsv                                  # tables of parallel jobs

For every scored reference: SI-SNR (zero-mean, unclamped), SI-SNR improvement
over the mixture, SNR, SDR (BSS-Eval with a 512-tap filter, fast_bss_eval) and
``si_sdr``, the TUSS authors' SI-SNR (fast_bss_eval's SI-SDR without mean
removal, clamped to +-70 dB; the Table III columns read it); see
:mod:`tuss_plugin.scoring.metrics`. Outputs meet references of the same prompt only
(repeated prompts are interchangeable among themselves), so a prompt list
other than the references' (``--inference_prompts``) scores whatever
categories both share; the outputs of a fixed-output separator without
prompts or output slots (every output ``*``,
:data:`tuss_plugin.scoring.metrics.INTERCHANGEABLE`, in the inference dir's
``utt2prompts``) may all meet every reference, the extra outputs unscored.
``--pairing per_metric`` (default) solves the assignment separately for each
metric, as the authors' test step does; ``--pairing shared`` uses one
assignment for all metrics (:mod:`tuss_plugin.scoring.pairing`). All-zero
references get no score. Writes one tab-separated row per scored reference,
labelled with its prompt.

Nothing is cut, resampled or guessed to make signals fit: an utterance is
refused, with one line naming it, when its reference count differs from its
prompt count (or its output count from its output prompts), when it has more
references than interchangeable outputs, when a file is
missing, unreadable, a pipe command (``... |``) or an archive offset
(``file.ark:1234``; such entries are read only by recipe stage 2, which dumps
plain files for everything after it), or when a
reference or output differs from the mixture in rate, length or channel count
(:func:`tuss_plugin.scoring.entries.refusal` holds these rules). The summary line counts the refused
utterances; the run fails when nothing could be scored, when the key list is
empty, or when a list cannot be read.

``--museval`` adds ``museval_sdr``: BSS Eval v4 SDR from museval (1-s windows
and hops, median over windows, as in SiSEC 2018 / MUSDB18), computed jointly
over the paired outputs of a mixture; the MSS benchmark's optional metric.

Speech metrics, as ESPnet's enhancement recipes report them (not part of the
SI-SNR / SNR protocol of Table III of Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025): for outputs whose reference prompt is ``speech``
(:data:`SPEECH_PROMPTS`), ``stoi`` and ``estoi`` (pystoi: STOI, Taal et al.
2011; extended STOI, Jensen and Taal 2016; in percent, as ESPnet writes them)
and ``pesq_wb`` / ``pesq_nb`` (the ``pesq`` package: ITU-T P.862.2 wide-band on
the pair resampled to 16 kHz, P.862 narrow-band on the pair resampled to
8 kHz; wide-band needs a rate of at least 16 kHz, narrow-band at least 8 kHz).
Other outputs get ``nan`` in these columns, and so does a speech output PESQ
cannot score (a silent output, "no utterances detected", ...) or too short for STOI (fewer than
30 frames after its silence removal): such cells are counted in the summary
line and every mean leaves them out. ``--no_speech_metrics`` drops the four
columns.

ESPnet's per-metric result files: ``result_<column>.txt`` beside the scores
file (``scoring/result_si_snr.txt``, ``result_sdr.txt``, ``result_stoi.txt``,
``result_pesq_wb.txt``, ...), one number each (2 decimals): the mean over
utterances of each utterance's mean over its scored outputs, ``nan`` cells
left out (``nan`` when no output has a value), the layout ESPnet's
``scripts/utils/show_enh_score.sh`` reads. The recipe scores in parallel jobs
(``--no_result_files``) and joins their tables with ``--merge``, which writes
the result files of the whole set.

``--score_obs`` scores the unprocessed mixture instead of separated outputs
(ESPnet's observation scoring): the mixture is the output for every
reference, so no ``--inf_dir`` is read and SI-SNRi is 0 by definition.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import List, Optional

import numpy as np

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.kaldi_io import read_list
from tuss_plugin.scoring.entries import make_entry, read_lists, read_obs_lists, refusal
from tuss_plugin.scoring.pairing import (
    DEFAULT_PAIRING,
    PAIRINGS,
    score_utterance,
)
from tuss_plugin.scoring.speech_metrics import SPEECH_COLUMNS, SPEECH_PROMPTS
from tuss_plugin.scoring.tables import format_scores, is_scores_table, merge_tables, score_columns, write_result_files
from tuss_plugin.utils.cli import CLIError, run_main
from tuss_plugin.utils.errors import one_line


def merge(args: argparse.Namespace) -> int:
    """``--merge``: join the tables of parallel scoring jobs into ``--output`` and
    write the result files of the whole set beside it."""
    if any(v for v in (args.ref_dir, args.inf_dir, args.key_file, args.score_obs)):
        raise CLIError("--merge joins scores tables: no --ref_dir, --inf_dir, --key_file or --score_obs")
    try:
        header, lines, rows = merge_tables(args.merge)
    except ValueError as e:  # one line naming the table
        raise CLIError(str(e)) from None
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(["\t".join(header)] + lines) + "\n")
    if not args.no_result_files:
        write_result_files(out.parent, rows, header)
    speech = [r for r in rows if r["prompt"] in SPEECH_PROMPTS]
    nan_cells = {c: sum(1 for r in speech if np.isnan(r[c])) for c in SPEECH_COLUMNS if c in header}
    nan_cells = {c: n for c, n in nan_cells.items() if n}
    print(
        f"score: {len(rows)} outputs of {len(args.merge)} table(s) -> {out}"
        + (f"; NaN speech metrics: {', '.join(f'{c} {n}' for c, n in nan_cells.items())}" if nan_cells else "")
    )
    return 0


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref_dir", default=None, help="data dir: wav.scp, spk.scp, utt2prompts")
    parser.add_argument("--inf_dir", default=None, help="inference dir: spk<k>.scp, utt2prompts")
    parser.add_argument("--output", required=True, help="scores file (TSV); the result files go beside it")
    parser.add_argument("--key_file", default=None)
    parser.add_argument(
        "--museval", action="store_true", help="also compute museval's BSS Eval v4 SDR (median of 1-s windows)"
    )
    parser.add_argument(
        "--bss_eval", action="store_true", help="also ESPnet's SIR and SAR (tuss_plugin.scoring.bss_eval)"
    )
    parser.add_argument(
        "--no_speech_metrics",
        action="store_true",
        help="no STOI, ESTOI, PESQ columns (otherwise computed for outputs of prompt speech)",
    )
    parser.add_argument(
        "--pairing",
        choices=PAIRINGS,
        default=DEFAULT_PAIRING,
        help="per_metric: each metric pairs outputs with references by its own best value, as the "
        "TUSS authors score; shared: one assignment for all metrics (tuss_plugin.scoring.pairing)",
    )
    parser.add_argument(
        "--score_obs",
        action="store_true",
        help="score the unprocessed mixture as the output of every reference (no --inf_dir)",
    )
    parser.add_argument(
        "--no_result_files", action="store_true", help="no result_<metric>.txt files (a job of a parallel run)"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="TSV",
        help="join these scores tables (of parallel jobs) into --output and write the result files",
    )
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("score", run, get_parser().parse_args(cmd))


def _nan_summary(nan_notes: Counter) -> str:
    """``; NaN speech metrics: stoi 2 (too short ...), ...`` or ``""``."""
    if not nan_notes:
        return ""
    return "; NaN speech metrics: " + ", ".join(f"{c} {n} ({why})" for (c, why), n in sorted(nan_notes.items()))


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    from tuss_plugin.fileio.output_dirs import check_output_path

    try:  # before any work: never onto or into an input
        inputs = list(args.merge or []) + ([args.key_file] if args.key_file else [])
        check_output_path(args.output, inputs, ours=is_scores_table)
    except ValueError as e:
        raise CLIError(one_line(e)) from None
    if args.merge:
        return merge(args)
    if args.ref_dir is None:
        raise CLIError("--ref_dir is required (or --merge)")
    if args.score_obs and args.inf_dir is not None:
        raise CLIError("--score_obs scores the mixtures of --ref_dir: no --inf_dir")
    if not args.score_obs and args.inf_dir is None:
        raise CLIError("--inf_dir is required (or --score_obs)")
    ref = Path(args.ref_dir)
    inf = None if args.score_obs else Path(args.inf_dir)
    try:
        lists = read_obs_lists(ref) if inf is None else read_lists(ref, inf)
        keys = [k for k, _ in read_list(args.key_file, min_fields=1)] if args.key_file else list(lists.out_prompts)
    except (OSError, ValueError) as e:
        raise CLIError(one_line(e)) from None
    if not keys:
        raise CLIError(f"no utterances to score in {args.key_file or (inf or ref) / 'utt2prompts'}")
    use_speech = not args.no_speech_metrics
    rows = []
    missing, refused = [], []
    nan_notes: Counter = Counter()
    for i, utt in enumerate(keys, 1):
        entry = make_entry(utt, lists)
        reason = refusal(entry) if entry is not None else None
        if entry is None:
            missing.append(utt)
        elif reason is not None:
            print(f"score: refused: {utt}: {reason}", file=sys.stderr)
            refused.append(utt)
        else:
            rows += score_utterance(entry, args.museval, use_speech, nan_notes, args.pairing, args.bss_eval)
        if i % 20 == 0 or i == len(keys):
            print(f"score: {i}/{len(keys)} utterances", flush=True)
    if missing:
        raise CLIError(f"no references or outputs for {len(missing)} utterance(s): {', '.join(missing[:5])}")
    if len(refused) == len(keys):
        raise CLIError(f"nothing scored: {len(refused)} of {len(keys)} utterance(s) refused")
    columns = score_columns(use_speech, args.museval, args.bss_eval)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, format_scores(rows, columns))
    if not args.no_result_files:
        write_result_files(out.parent, rows, columns)
    print(
        f"score: {len(rows)} outputs of {len(keys)} utterance(s)"
        + (f", {len(refused)} refused (listed above)" if refused else "")
        + (", the mixtures scored as outputs" if args.score_obs else "")
        + f" -> {args.output}"
        + _nan_summary(nan_notes)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
