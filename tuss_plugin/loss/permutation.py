# SPDX-License-Identifier: Apache-2.0
"""Category-wise permutation search, shared by training, inference and scoring.

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025,
Sec. II-B) ties every output to its prompt; only outputs of one repeated prompt
(e.g. ``speech, speech``) are interchangeable, so the best permutation is
searched inside each category and never across categories. Without prompts (a
conventional separator) all outputs form one category, which is plain PIT.

The one implementation of that search, used by the category-wise PIT loss
(:mod:`tuss_plugin.loss.category_pit`), the alignment of segments in
segment-wise inference (:mod:`tuss_plugin.inference.overlap_add`) and the
pairing of outputs with references in scoring (:mod:`tuss_plugin.scoring.metrics`):

* :func:`category_groups` / :func:`matched_groups`: indices by prompt;
* :func:`pair_scores`: the score matrix of the pairs a search may choose;
* :func:`best_assignment`: the best pairing of rows with columns per group.

numpy only at import time; torch is used only for torch scores (when the
caller has imported it) and scipy only for the exact solver.
"""

from __future__ import annotations

import sys
from itertools import permutations
from typing import Callable, Dict, Hashable, Iterator, List, Sequence, Tuple, Union

import numpy as np

# groups whose larger side has at most this many indices are searched by brute
# force over itertools.permutations (ties: the first best permutation wins);
# larger ones with scipy's linear_sum_assignment (9! permutations would be too slow)
BRUTE_FORCE_MAX_SIZE = 8
SOLVERS = ("auto", "brute", "lsa")

# a group: indices shared by rows and columns (a square block), or (rows, cols)
Group = Union[Sequence[int], Tuple[Sequence[int], Sequence[int]]]


def category_groups(prompts: Sequence[Hashable]) -> List[List[int]]:
    """Indices of equal prompts, in order of first appearance.

    Prompts are compared as given: names, or vocabulary ids as in the PIT loss.
    The interchangeable label ``*`` (:data:`tuss_plugin.scoring.metrics.INTERCHANGEABLE`,
    the outputs of a separator without prompts or output slots) is a label like
    any other: all ``*`` outputs form one group, exchanged among themselves and
    never with a prompted output.

    >>> category_groups(["speech", "sfxbg", "speech"])
    [[0, 2], [1]]
    >>> category_groups([1, 3, 1])
    [[0, 2], [1]]
    """
    groups: Dict[Hashable, List[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(p, []).append(i)
    return list(groups.values())


def matched_groups(
    row_prompts: Sequence[Hashable], col_prompts: Sequence[Hashable]
) -> List[Tuple[List[int], List[int]]]:
    """``(rows, cols)`` of each prompt of ``row_prompts`` that ``col_prompts`` has
    too, in order of first appearance in ``row_prompts`` (e.g. outputs and
    references of one prompt; ``*`` as in :func:`category_groups`).

    >>> matched_groups(["speech", "sfx", "speech"], ["sfx", "speech"])
    [([0, 2], [1]), ([1], [0])]
    """
    by_prompt = {col_prompts[g[0]]: g for g in category_groups(col_prompts)}
    return [(g, by_prompt[row_prompts[g[0]]]) for g in category_groups(row_prompts) if row_prompts[g[0]] in by_prompt]


def _sides(group: Group) -> Tuple[List[int], List[int]]:
    """(rows, cols) of a group."""
    if len(group) == 2 and not isinstance(group[0], (int, np.integer)):
        return list(group[0]), list(group[1])
    return list(group), list(group)


def pair_scores(shape: Tuple[int, int], groups: Sequence[Group], score: Callable[[int, int], float]) -> np.ndarray:
    """(n_rows, n_cols) float64 matrix of ``score(i, j)`` for every pair of rows
    and columns of one group (what :func:`best_assignment` may read); NaN elsewhere."""
    out = np.full(shape, np.nan)  # (n_rows, n_cols)
    for group in groups:
        rows, cols = _sides(group)
        for i in rows:
            for j in cols:
                out[i, j] = score(i, j)
    return out


def _candidates(rows: List[int], cols: List[int]) -> Iterator[List[Tuple[int, int]]]:
    """Every pairing of min(len(rows), len(cols)) rows with as many columns, in
    itertools.permutations order of the longer side."""
    if len(rows) <= len(cols):
        for cc in permutations(cols, len(rows)):
            yield list(zip(rows, cc))
    else:
        for rr in permutations(rows, len(cols)):
            yield list(zip(rr, cols))


def _first_best(totals: list, maximize: bool) -> int:
    """Index of the first best total. Torch totals: ``torch.argmin`` / ``argmax``
    of the stacked totals (a NaN total counts as the best); numbers: a later
    total wins only if strictly better, as Python's ``min`` / ``max``."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(totals[0], torch.Tensor):
        stacked = torch.stack(totals).detach()  # (n_candidates,)
        return int(torch.argmax(stacked) if maximize else torch.argmin(stacked))
    best = 0
    for k in range(1, len(totals)):
        if (totals[k] > totals[best]) if maximize else (totals[k] < totals[best]):
            best = k
    return best


def _brute_force(scores, rows: List[int], cols: List[int], maximize: bool) -> List[Tuple[int, int]]:
    """The first best candidate of :func:`_candidates`; totals summed in pair order
    (torch scores stay tensors: float32 sums as the PIT loss computes them)."""
    cands = list(_candidates(rows, cols))
    totals = [sum(scores[i][j] for i, j in c) for c in cands]
    return cands[_first_best(totals, maximize)]


def _exact(scores, rows: List[int], cols: List[int], maximize: bool) -> List[Tuple[int, int]]:
    """scipy's linear_sum_assignment on the group's block (float64), pairs by row position."""
    from scipy.optimize import linear_sum_assignment

    block = np.array([[float(scores[i][j]) for j in cols] for i in rows], dtype=np.float64)  # (n_rows, n_cols)
    r, c = linear_sum_assignment(block, maximize=maximize)
    return [(rows[int(a)], cols[int(b)]) for a, b in zip(r, c)]


def best_assignment(
    scores, groups: Sequence[Group], maximize: bool = False, solver: str = "auto"
) -> List[Tuple[int, int]]:
    """The pairing of rows with columns of ``scores`` with the best summed score,
    searched inside each group and never across groups (Saijo et al., ICASSP
    2025, Sec. II-B: category-wise PIT).

    Args:
        scores: (n_rows, n_cols) matrix read as ``scores[i][j]``: a numpy array,
            nested lists of numbers, or a torch tensor (its sums stay tensors, so
            the brute force compares float32 sums as the PIT loss always did).
            Only entries inside groups are read (see :func:`pair_scores`).
        groups: each a list of indices shared by rows and columns (a permutation
            of the group), or a pair ``(rows, cols)`` (min of the two lengths
            pairs; the rest stay unpaired).
        maximize: maximise the summed score (True) or minimise it (a loss).
        solver: ``brute`` (itertools.permutations, the first best wins ties),
            ``lsa`` (scipy.optimize.linear_sum_assignment, exact, its own
            tie-breaking), or ``auto``: brute force while the larger side of a
            group has at most BRUTE_FORCE_MAX_SIZE indices, else ``lsa``.

    Returns:
        ``(row, col)`` pairs, group by group; a 1 x 1 group pairs without
        reading its score.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    pairs: List[Tuple[int, int]] = []
    for group in groups:
        rows, cols = _sides(group)
        if not rows or not cols:
            continue
        if len(rows) == len(cols) == 1:
            pairs.append((rows[0], cols[0]))
        elif solver == "lsa" or (solver == "auto" and max(len(rows), len(cols)) > BRUTE_FORCE_MAX_SIZE):
            pairs.extend(_exact(scores, rows, cols, maximize))
        else:
            pairs.extend(_brute_force(scores, rows, cols, maximize))
    return pairs
