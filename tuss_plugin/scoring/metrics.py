# SPDX-License-Identifier: Apache-2.0
"""Separation metrics and the task patterns of the TUSS paper (Table I)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from tuss_plugin.loss.permutation import best_assignment, matched_groups, pair_scores

TASK_PATTERNS = {
    "SE": Counter({"speech": 1, "sfxbg": 1}),
    "SS": Counter({"speech": 2, "sfxbg": 1}),
    "MSS": Counter({"drums": 1, "bass": 1, "vocals": 1, "other": 1}),
    "CASS": Counter({"speech": 1, "sfxbg": 1, "musicbg": 1}),
}


def task_of(prompts: Sequence[str]) -> str:
    """Task pattern of a prompt list: SE, SS, USS, MSS, CASS, or the list itself."""
    c = Counter(prompts)
    if set(c) == {"sfx"}:
        return "USS"
    for name, pattern in TASK_PATTERNS.items():
        if c == pattern:
            return name
    return "+".join(prompts)


# the authors' SI-SDR is limited to [-70, 70] dB (their test step's clamp_db)
SI_SDR_CLAMP_DB = 70.0
# the output label (utt2prompts of an inference dir) of a separator without prompts
# whose outputs are interchangeable (no output slots): any source of the mixture
INTERCHANGEABLE = "*"


def _dot(a, b):
    return float(np.dot(a, b))


def si_snr(est: np.ndarray, ref: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR (dB), zero-mean."""
    est = est.astype(np.float64) - est.mean()
    ref = ref.astype(np.float64) - ref.mean()
    proj = _dot(est, ref) / (_dot(ref, ref) + eps) * ref
    noise = est - proj
    return 10 * np.log10((_dot(proj, proj) + eps) / (_dot(noise, noise) + eps))


def si_sdr(est: np.ndarray, ref: np.ndarray, clamp_db: float = SI_SDR_CLAMP_DB) -> float:
    """Scale-invariant SDR (dB) as the TUSS authors score: no mean removal, clamped.

    fast_bss_eval's SI-SDR (``fast_bss_eval.si_sdr``, ``zero_mean=False``) of one
    output against one reference: 10 log10(|a s|^2 / |a s - y|^2) with the optimal
    scale a = <s, y> / |s|^2 (s the reference, y the output), limited to
    [-clamp_db, clamp_db] (the authors' test step uses 70 dB). An all-zero output
    scores -clamp_db.
    """
    import fast_bss_eval

    val = fast_bss_eval.si_sdr(
        np.asarray(ref, dtype=np.float64)[None],
        np.asarray(est, dtype=np.float64)[None],
        zero_mean=False,
        clamp_db=clamp_db,
    )  # (1,)
    return float(np.asarray(val).reshape(-1)[0])


def snr(est: np.ndarray, ref: np.ndarray, eps: float = 1e-8) -> float:
    """Plain SNR (dB): 10 log10((|s|^2 + eps) / (|s - y|^2 + eps)), unclamped; the
    TUSS authors' SNR (their test step's MUSDB-HQ metric, eps 1e-8 alike)."""
    est, ref = est.astype(np.float64), ref.astype(np.float64)
    noise = est - ref
    return 10 * np.log10((_dot(ref, ref) + eps) / (_dot(noise, noise) + eps))


def sdr(est: np.ndarray, ref: np.ndarray, filter_length: int = 512) -> float:
    """BSS-Eval SDR with a ``filter_length``-tap distortion filter (fast_bss_eval).

    An all-zero output or reference has no such SDR (the target projection and
    the distortion are both zero): NaN, which the means of the tables leave
    out, while the SI-SNR and SNR columns of the same output still score it.
    """
    import fast_bss_eval

    n = min(len(est), len(ref))
    if not np.any(est[:n]) or not np.any(ref[:n]):
        return float("nan")
    if n <= filter_length:
        return snr(est[:n], ref[:n])
    val = fast_bss_eval.sdr(
        ref[None, :n].astype(np.float64), est[None, :n].astype(np.float64), filter_length=filter_length, load_diag=1e-10
    )
    return float(np.asarray(val).reshape(-1)[0])


def match_outputs(
    ref_prompts: Sequence[str], inf_prompts: Sequence[str], refs: List[np.ndarray], infs: List[np.ndarray]
) -> List[tuple]:
    """Pair outputs with references of the same prompt, best SI-SNR first.

    Returns ``(inf_index, ref_index)`` pairs; outputs of prompts without a
    reference (and vice versa) stay unpaired. The search is
    :func:`tuss_plugin.loss.permutation.best_assignment` within each prompt (ties:
    the first best permutation).
    """
    groups = matched_groups(inf_prompts, ref_prompts)  # (outputs, references) of each prompt
    scores = pair_scores((len(inf_prompts), len(ref_prompts)), groups, lambda i, r: si_snr(infs[i], refs[r]))
    return sorted(best_assignment(scores, groups, maximize=True))


def match_fixed_outputs(refs: List[np.ndarray], infs: List[np.ndarray]) -> List[tuple]:
    """Pair the interchangeable outputs of a fixed-output separator with the references.

    The references are padded with silence to the number of outputs S and the
    assignment over all outputs minimises the summed training criterion
    (:class:`tuss_plugin.loss.criterions.SNRWithZeroRefLoss` with its defaults,
    the paper's soft-thresholded negative SNR with the zero-reference term, the
    sum of the references as the mixture), the objective of the category-wise
    PIT of training for a model without prompts, solved exactly as a linear
    assignment. Returns ``(inf_index, ref_index)`` pairs of the real references
    only, sorted; needs ``len(refs) <= len(infs)``.
    """
    import torch

    from tuss_plugin.loss.criterions import SNRWithZeroRefLoss

    n_ref, n_out = len(refs), len(infs)
    if n_ref > n_out:
        raise ValueError(f"{n_ref} references for {n_out} outputs")
    ref = [torch.from_numpy(np.asarray(r, dtype=np.float32))[None] for r in refs]  # N x (1, L)
    ref += [torch.zeros_like(ref[0])] * (n_out - n_ref)  # silence for the missing sources
    inf = [torch.from_numpy(np.asarray(y, dtype=np.float32))[None] for y in infs]  # S x (1, L)
    mix = sum(ref[1:], ref[0])  # (1, L), the sum of the references as in training
    criterion = SNRWithZeroRefLoss()
    cost = np.empty((n_out, n_out))  # cost[r, i]: loss of output i against (padded) reference r
    with torch.no_grad():
        for r in range(n_out):  # pair by pair: memory of a few signals, however long
            for i in range(n_out):
                cost[r, i] = float(criterion(ref[r], inf[i], mix)[0])
    pairs = best_assignment(cost, [list(range(n_out))], solver="lsa")  # (reference, output) pairs
    return sorted((i, r) for r, i in pairs if r < n_ref)


def summarize(rows: List[Dict], keys=("si_snr", "si_snri", "snr", "sdr")) -> Dict[str, float]:
    """``n``: the number of rows (scored outputs); each of ``keys``: the one
    averaging of every table and ``result_<metric>.txt``, the mean over
    mixtures of each mixture's mean over its rows (:func:`item_mean`, as
    ESPnet's enhancement scoring averages)."""
    out = {"n": len(rows)}
    for k in keys:
        out[k] = item_mean(rows, k)[0]
    return out


def item_mean(rows: List[Dict], metric: str) -> Tuple[float, int]:
    """Mean over mixtures (``utt``) of each mixture's mean ``metric`` over its rows.

    Rows without the metric and non-finite values are left out. Returns (mean,
    number of mixtures), (nan, 0) when no row has a value.
    """
    per_utt: Dict[str, List[float]] = {}  # in order of first appearance
    for r in rows:
        v = r.get(metric)
        if v is None or not np.isfinite(v):
            continue
        per_utt.setdefault(r["utt"], []).append(v)
    if not per_utt:
        return float("nan"), 0
    return float(np.mean([np.mean(v) for v in per_utt.values()])), len(per_utt)


def _museval_metrics():
    """``museval.metrics`` without ``museval/__init__``: the package init imports
    musdb/stempeg, which refuse to load without ffmpeg on PATH; the BSS Eval
    code itself needs only numpy/scipy."""
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
