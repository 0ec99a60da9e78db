# SPDX-License-Identifier: Apache-2.0
"""Separation metrics and the task patterns of the TUSS paper (Table I)."""
from __future__ import annotations

from collections import Counter
from typing import Dict, List, Sequence

import numpy as np

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


def _dot(a, b):
    return float(np.dot(a, b))


def si_snr(est: np.ndarray, ref: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR (dB), zero-mean."""
    est = est.astype(np.float64) - est.mean()
    ref = ref.astype(np.float64) - ref.mean()
    proj = _dot(est, ref) / (_dot(ref, ref) + eps) * ref
    noise = est - proj
    return 10 * np.log10((_dot(proj, proj) + eps) / (_dot(noise, noise) + eps))


def snr(est: np.ndarray, ref: np.ndarray, eps: float = 1e-8) -> float:
    """Plain SNR (dB)."""
    est, ref = est.astype(np.float64), ref.astype(np.float64)
    noise = est - ref
    return 10 * np.log10((_dot(ref, ref) + eps) / (_dot(noise, noise) + eps))


def sdr(est: np.ndarray, ref: np.ndarray, filter_length: int = 512) -> float:
    """BSS-Eval SDR with a ``filter_length``-tap distortion filter (fast_bss_eval)."""
    import fast_bss_eval

    n = min(len(est), len(ref))
    if n <= filter_length:
        return snr(est[:n], ref[:n])
    val = fast_bss_eval.sdr(ref[None, :n].astype(np.float64), est[None, :n].astype(np.float64),
                            filter_length=filter_length, load_diag=1e-10)
    return float(np.asarray(val).reshape(-1)[0])


def match_outputs(ref_prompts: Sequence[str], inf_prompts: Sequence[str],
                  refs: List[np.ndarray], infs: List[np.ndarray]) -> List[tuple]:
    """Pair outputs with references of the same prompt, best SI-SNR first.

    Returns ``(inf_index, ref_index)`` pairs; outputs of prompts without a
    reference (and vice versa) stay unpaired.
    """
    from itertools import permutations

    pairs = []
    for p in dict.fromkeys(inf_prompts):
        I = [i for i, q in enumerate(inf_prompts) if q == p]
        R = [r for r, q in enumerate(ref_prompts) if q == p]
        if not I or not R:
            continue
        score = {(i, r): si_snr(infs[i], refs[r]) for i in I for r in R}
        if len(I) <= len(R):
            cands = [list(zip(I, rr)) for rr in permutations(R, len(I))]
        else:
            cands = [list(zip(ii, R)) for ii in permutations(I, len(R))]
        best = max(cands, key=lambda c: sum(score[ir] for ir in c))
        pairs.extend(best)
    return sorted(pairs)


def summarize(rows: List[Dict], keys=("si_snr", "si_snri", "snr", "sdr")) -> Dict[str, float]:
    out = {"n": len(rows)}
    for k in keys:
        vals = [r[k] for r in rows if r.get(k) is not None and np.isfinite(r[k])]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    return out
