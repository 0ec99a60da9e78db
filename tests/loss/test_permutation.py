# SPDX-License-Identifier: Apache-2.0
"""The one category-wise permutation search (tuss_plugin.loss.permutation) and its users."""

from itertools import permutations

import numpy as np
import pytest
import torch

from tuss_plugin.inference.overlap_add import align_outputs
from tuss_plugin.loss.category_pit import CategoryPITSolver
from tuss_plugin.loss.permutation import (
    BRUTE_FORCE_MAX_SIZE,
    best_assignment,
    category_groups,
    matched_groups,
    pair_scores,
)
from tuss_plugin.scoring.metrics import INTERCHANGEABLE


def first_best_square(scores, idx, maximize):
    """Reference: the first best of itertools.permutations(idx), a later one only if strictly better."""
    best = None
    for perm in permutations(idx):
        total = sum(scores[i][j] for i, j in zip(idx, perm))
        if best is None or (total > best[0] if maximize else total < best[0]):
            best = (total, perm)
    return list(zip(idx, best[1]))


def test_category_groups_and_interchangeable_label():
    assert category_groups(["speech", "sfxbg", "speech"]) == [[0, 2], [1]]
    assert category_groups([1, 3, 1]) == [[0, 2], [1]]
    assert category_groups([]) == []
    # "*" is a label like any other: the interchangeable outputs form one group
    assert category_groups([INTERCHANGEABLE] * 3) == [[0, 1, 2]]
    assert category_groups(["speech", INTERCHANGEABLE, INTERCHANGEABLE]) == [[0], [1, 2]]


def test_matched_groups():
    assert matched_groups(["speech", "sfx", "speech"], ["sfx", "speech"]) == [([0, 2], [1]), ([1], [0])]
    assert matched_groups(["drums", "bass"], ["bass"]) == [([1], [0])]


@pytest.mark.parametrize("maximize", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_brute_force_keeps_the_first_best_permutation(maximize, seed):
    """Integer scores: many ties, decided as itertools.permutations orders them."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, (6, 6)).astype(float)
    groups = [[0, 2, 5], [1, 3], [4]]
    got = best_assignment(scores, groups, maximize=maximize)
    expected = [p for g in groups for p in first_best_square(scores, g, maximize)]
    assert got == expected


def test_rectangular_groups_follow_the_longer_side():
    scores = np.array([[1.0, 5.0, 5.0], [0.0, 0.0, 0.0]])  # 2 outputs, 3 references
    assert best_assignment(scores, [([0], [0, 1, 2])], maximize=True) == [(0, 1)]  # first of the tie
    assert best_assignment(scores.T, [([0, 1, 2], [0])], maximize=True) == [(1, 0)]
    assert best_assignment(scores, [([0, 1], [])]) == []


@pytest.mark.parametrize("seed", range(5))
def test_exact_solver_agrees_without_ties(seed):
    scores = np.random.default_rng(seed).standard_normal((5, 5))
    idx = [0, 1, 2, 3, 4]
    for maximize in (True, False):
        brute = best_assignment(scores, [idx], maximize=maximize, solver="brute")
        assert sorted(best_assignment(scores, [idx], maximize=maximize, solver="lsa")) == sorted(brute)


def test_large_groups_use_the_exact_solver():
    n = BRUTE_FORCE_MAX_SIZE + 4
    perm = np.random.default_rng(0).permutation(n)
    scores = np.full((n, n), 1.0)
    scores[np.arange(n), perm] = 0.0
    assert best_assignment(scores, [list(range(n))]) == [(i, int(perm[i])) for i in range(n)]
    with pytest.raises(ValueError, match="solver"):
        best_assignment(scores, [[0, 1]], solver="greedy")


def test_pair_scores_reads_only_groups():
    calls = []
    m = pair_scores((3, 3), [[0, 2], [1]], lambda i, j: calls.append((i, j)) or float(i * 3 + j))
    assert sorted(calls) == [(0, 0), (0, 2), (1, 1), (2, 0), (2, 2)]
    assert np.isnan(m[0, 1]) and m[2, 0] == 6.0


def test_torch_scores_compare_float32_sums_like_argmin():
    """Torch scores: totals stay float32 tensors; a tie goes to the first permutation."""
    t = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    assert best_assignment(t, [[0, 1]]) == [(0, 0), (1, 1)]
    t = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
    assert best_assignment(t, [[0, 1]]) == [(0, 1), (1, 0)]


def test_segment_alignment_ties_keep_the_order():
    new = np.ones((2, 10, 1), np.float32)  # identical outputs: every order ties
    assert align_outputs(new, new, [[0, 1]]) == [0, 1]
    prev = np.stack([np.arange(10.0), -np.arange(10.0)])[..., None]
    assert align_outputs(prev, prev[::-1], [[0, 1]]) == [1, 0]
    assert align_outputs(prev, prev[::-1], [[0], [1]]) == [0, 1]  # other prompts: never exchanged


def test_pit_ties_keep_the_first_permutation():
    x = torch.randn(2, 64)
    ref = [x, x, torch.randn(2, 64)]
    inf = [x, x, ref[2]]
    from espnet2.enh.loss.criterions.time_domain import SNRLoss

    _, _, o = CategoryPITSolver(SNRLoss())(ref, inf, {"prompts": torch.tensor([[1, 1, 1], [1, 1, 2]])})
    assert o["perm"].tolist() == [[0, 1, 2], [0, 1, 2]]
