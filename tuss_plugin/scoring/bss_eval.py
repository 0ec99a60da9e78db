# SPDX-License-Identifier: Apache-2.0
"""SIR and SAR as ESPnet's ``enh_scoring`` computes them.

ESPnet's enhancement recipes score separated speech with mir_eval's BSS Eval
v3 (``mir_eval.separation.bss_eval_sources``: 512-tap distortion filters,
the interference projected onto all references of the mixture jointly).
:func:`bss_eval_pairs` runs the same function on the outputs of a mixture
already matched to their references (by prompt, or by the assignment of
fixed-output models; :func:`tuss_plugin.scoring.pairing.pair_outputs`), so no
permutation is searched; on files whose outputs ESPnet's permutation search
would order the same way the numbers are ESPnet's. mir_eval refuses silent
signals: a mixture with a silent output gets NaN for all of its outputs
(left out of every mean, as NaN cells are).

Its SDR depends on the target reference alone and is the ``sdr`` column of
the scores already (fast_bss_eval's, equal to mir_eval's to 1e-4 dB;
``tests/scoring/test_bss_eval_vs_espnet.py``).
``python -m tuss_plugin.bin.score --bss_eval`` adds the columns ``sir`` and
``sar``; recipe stage 6 asks for them when
``--scoring_protocol`` names SIR or SAR (ESPnet's default
``"STOI SDR SAR SIR SI_SNR"``). They are opt-in: BSS Eval v3 costs seconds
per mixture at 48 kHz.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

BSS_COLUMNS = ["sir", "sar"]


def bss_eval_pairs(
    refs: Sequence[np.ndarray], infs: Sequence[np.ndarray], pairs: Sequence[Tuple[int, int]]
) -> List[dict]:
    """``{"sir", "sar"}`` (dB) per ``(output index, reference index)``
    pair of one mixture, the references and outputs of all pairs evaluated jointly."""
    if not pairs:
        return []
    from mir_eval.separation import bss_eval_sources

    n = min(min(len(refs[r]), len(infs[i])) for i, r in pairs)
    ref = np.stack([np.asarray(refs[r][:n], dtype=np.float64) for _, r in pairs])  # (K, n)
    est = np.stack([np.asarray(infs[i][:n], dtype=np.float64) for i, _ in pairs])  # (K, n)
    if not (np.any(ref, axis=1).all() and np.any(est, axis=1).all()):
        return [dict.fromkeys(BSS_COLUMNS, float("nan")) for _ in pairs]
    _, sir, sar, _ = bss_eval_sources(ref, est, compute_permutation=False)
    return [{"sir": float(b), "sar": float(c)} for b, c in zip(sir, sar)]
