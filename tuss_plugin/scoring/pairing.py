# SPDX-License-Identifier: Apache-2.0
"""Which output is scored against which reference, metric by metric (recipe stage 6).

Two rules, chosen with ``tuss_plugin.bin.score --pairing``:

* ``per_metric`` (default; the authors' test step, merlresearch/unified-source-separation):
  the assignment is solved anew for each metric, by the best summed value of
  that metric: ``si_sdr`` (the Table III SI-SNR, clamped to +-70 dB) by
  ``si_sdr``, ``snr`` (the MUSDB-HQ column) by ``snr``, ``si_snr`` and
  ``si_snri`` by ``si_snr`` (the mixture's term of the improvement is the same
  for every output), ``sdr`` by ``sdr``. The outputs that may meet a reference
  are those of its prompt (repeated prompts such as WHAM!'s ``speech speech``
  or FUSS's ``sfx sfx ...`` are interchangeable among themselves), or, for a
  fixed-output separator without prompts or output slots (all outputs
  ``*``), all outputs, the extra outputs left unscored. The speech metrics
  and ``museval_sdr`` use the ``si_sdr`` assignment, and so does the
  ``output`` column of ``scores.tsv``.
* ``shared``: one assignment for every metric: by the zero-mean SI-SNR inside
  each prompt, and for a fixed-output separator by the training criterion over
  all outputs with the references padded with silence
  (:func:`tuss_plugin.scoring.metrics.match_fixed_outputs`). It scores every metric of
  a row on the same output, which the per-metric rule does not promise; the
  numbers differ only where the metrics prefer different outputs.

Either way one row per reference with a non-silent signal, labelled with the
reference's prompt. TUSS: Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.loss.permutation import best_assignment, matched_groups, pair_scores
from tuss_plugin.scoring.bss_eval import bss_eval_pairs
from tuss_plugin.scoring.metrics import (
    match_fixed_outputs,
    match_outputs,
    museval_sdr,
    sdr,
    si_sdr,
    si_snr,
    snr,
    task_of,
)
from tuss_plugin.scoring.speech_metrics import SPEECH_PROMPTS, no_speech_metrics, speech_metrics

PAIRINGS = ("per_metric", "shared")
DEFAULT_PAIRING = "per_metric"
# the metrics that choose their own assignment under per_metric (higher is better)
PAIR_METRICS: Dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "si_sdr": si_sdr,
    "snr": snr,
    "si_snr": si_snr,
    "sdr": sdr,
}
_WORST = -1.0e6  # stands in for a NaN score (e.g. sdr of a silent output) in the search

Pairs = List[Tuple[int, int]]  # (output index, reference index)


def read_mono(path: str) -> Tuple[np.ndarray, int]:
    """(n_samples,) float64 (channels averaged) and the rate."""
    x, fs = sf.read(path, dtype="float64", always_2d=True)
    return (x[:, 0] if x.shape[1] == 1 else x.mean(1)), fs


def pair_outputs(entry, refs: List[np.ndarray], infs: List[np.ndarray]) -> Pairs:
    """The ``shared`` pairs of ``entry`` (a :class:`tuss_plugin.scoring.entries.ScoreEntry`) with a
    non-silent reference: by prompt (:func:`match_outputs`), or for interchangeable outputs by the
    padded assignment over all outputs (:func:`match_fixed_outputs`)."""
    if entry.interchangeable:
        pairs = match_fixed_outputs(refs, infs)
    else:
        pairs = match_outputs(entry.ref_prompts, entry.out_prompts, refs, infs)
    return [(i, r) for i, r in pairs if np.any(refs[r])]


def candidate_groups(entry, n_refs: int, n_outs: int) -> List[Tuple[List[int], List[int]]]:
    """(outputs, references) that may meet: one group per shared prompt, or all of them
    for interchangeable outputs."""
    if entry.interchangeable:
        return [(list(range(n_outs)), list(range(n_refs)))]
    return matched_groups(entry.out_prompts, entry.ref_prompts)


class PairValues:
    """Metric values of (output, reference) pairs, each computed once."""

    def __init__(self, refs: List[np.ndarray], infs: List[np.ndarray]):
        self.refs, self.infs = refs, infs
        self._cache: Dict[Tuple[str, int, int], float] = {}

    def __call__(self, metric: str, i: int, r: int) -> float:
        key = (metric, i, r)
        if key not in self._cache:
            self._cache[key] = float(PAIR_METRICS[metric](self.infs[i], self.refs[r]))
        return self._cache[key]


def per_metric_pairs(entry, values: PairValues) -> Dict[str, Pairs]:
    """``{metric: pairs}`` of :data:`PAIR_METRICS`, each the best summed value of that metric."""
    n_refs, n_outs = len(values.refs), len(values.infs)
    groups = candidate_groups(entry, n_refs, n_outs)
    out = {}
    for metric in PAIR_METRICS:

        def score(i: int, r: int, m: str = metric) -> float:
            v = values(m, i, r)
            return v if np.isfinite(v) else _WORST

        scores = pair_scores((n_outs, n_refs), groups, score)  # (n_outs, n_refs)
        out[metric] = sorted(best_assignment(scores, groups, maximize=True))
    return out


def score_utterance(
    entry,
    use_museval: bool = False,
    use_speech_metrics: bool = False,
    nan_notes: Optional[Counter] = None,
    pairing: str = DEFAULT_PAIRING,
    use_bss_eval: bool = False,
) -> List[dict]:
    """One row per non-silent reference that meets an output, labelled with its prompt;
    ``entry`` must pass :func:`tuss_plugin.scoring.entries.refusal` (equal rates and lengths:
    nothing is cut). ``pairing``: see the module doc. With ``use_speech_metrics``, the
    speech columns (NaN for prompts other than :data:`SPEECH_PROMPTS`); the reasons of NaN
    speech metrics are counted into ``nan_notes``. With ``use_bss_eval``, ESPnet's SIR
    and SAR (:mod:`tuss_plugin.scoring.bss_eval`) over the SI-SDR pairs of the mixture."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}")
    mix, fs = read_mono(entry.mix)
    refs = [read_mono(p)[0] for p in entry.refs]
    infs = [read_mono(p)[0] for p in entry.outs]
    values = PairValues(refs, infs)
    if pairing == "shared":
        shared = pair_outputs(entry, refs, infs)
        by_metric = {m: shared for m in PAIR_METRICS}
    else:
        by_metric = per_metric_pairs(entry, values)
    out_of = {m: {r: i for i, r in pairs} for m, pairs in by_metric.items()}  # metric -> {ref: output}
    task = task_of(entry.ref_prompts)
    main = [(i, r) for i, r in by_metric["si_sdr"] if np.any(refs[r])]
    rows = []
    for i, r in main:
        row = {"utt": entry.utt, "output": i + 1, "prompt": entry.ref_prompts[r], "task": task}
        for m in PAIR_METRICS:
            j = out_of[m].get(r)
            row[m] = values(m, j, r) if j is not None else float("nan")
        j = out_of["si_snr"].get(r)
        row["si_snri"] = row["si_snr"] - si_snr(mix, refs[r]) if j is not None else float("nan")
        rows.append(row)
        if use_speech_metrics and entry.ref_prompts[r] in SPEECH_PROMPTS:
            speech, notes = speech_metrics(infs[i], refs[r], fs)
            row.update(speech)
            if nan_notes is not None:
                nan_notes.update(notes)
        elif use_speech_metrics:
            row.update(no_speech_metrics())
    for row, bss in zip(rows, bss_eval_pairs(refs, infs, main) if use_bss_eval else []):
        row.update(bss)
    if use_museval and rows:
        vals = museval_sdr([refs[r] for _, r in main], [infs[i] for i, _ in main], fs)
        for row, v in zip(rows, vals):
            row["museval_sdr"] = v
    return rows
