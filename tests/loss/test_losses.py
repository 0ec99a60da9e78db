# SPDX-License-Identifier: Apache-2.0
from itertools import permutations

import pytest
import torch
from espnet2.enh.loss.criterions.time_domain import SISNRLoss, SNRLoss

from tuss_plugin.loss.category_pit import CategoryPITSolver
from tuss_plugin.loss.criterions import SNRWithZeroRefLoss
from tuss_plugin.loss.permutation import category_groups


def brute_force(ref, inf, prompts, crit, average):
    """Search all full permutations that keep every output in its reference's category."""
    B, N = prompts.shape
    losses, perms = [], []
    for b in range(B):
        row = prompts[b].tolist()
        best = None
        for p in permutations(range(N)):
            if any(row[i] != row[j] for i, j in enumerate(p)):
                continue
            per = [crit(ref[i][b : b + 1], inf[j][b : b + 1])[0] for i, j in enumerate(p)]
            if average == "category":
                groups = category_groups(row)
                val = sum(sum(per[i] for i in g) / len(g) for g in groups) / len(groups)
            else:
                val = sum(per) / N
            if best is None or val < best[0] - 1e-9:
                best = (val, p)
        losses.append(best[0])
        perms.append(best[1])
    return torch.stack(losses).mean(), torch.tensor(perms)


@pytest.mark.parametrize("average", ["category", "source"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("crit_cls", [SNRLoss, SNRWithZeroRefLoss])
def test_category_pit_matches_brute_force(average, seed, crit_cls):
    g = torch.Generator().manual_seed(seed)
    B, N, L = 3, 4, 64
    prompts = torch.randint(1, 4, (B, N), generator=g)
    ref = [torch.randn(B, L, generator=g) for _ in range(N)]
    inf = [r * 0.3 + torch.randn(B, L, generator=g) for r in ref]
    crit = crit_cls()
    solver = CategoryPITSolver(crit, average=average)
    loss, stats, others = solver(ref, inf, {"prompts": prompts})
    exp_loss, exp_perm = brute_force(ref, inf, prompts, crit, average)
    assert torch.allclose(loss, exp_loss, atol=1e-5)
    assert torch.equal(others["perm"], exp_perm)
    assert crit.name in stats


def test_never_pairs_across_categories():
    """Swapped outputs of different prompts stay unswapped."""
    B, L = 2, 100
    s1, s2 = torch.randn(B, L), torch.randn(B, L)
    solver = CategoryPITSolver(SNRLoss())
    _, _, o = solver([s1, s2], [s2, s1], {"prompts": torch.tensor([[1, 3], [1, 3]])})
    assert o["perm"].tolist() == [[0, 1], [0, 1]]
    _, _, o = solver([s1, s2], [s2, s1], {"prompts": torch.tensor([[1, 1], [1, 1]])})
    assert o["perm"].tolist() == [[1, 0], [1, 0]]


def test_without_prompts_is_plain_pit():
    B, L = 2, 50
    ref = [torch.randn(B, L) for _ in range(3)]
    inf = [ref[2] + 0.01 * torch.randn(B, L), ref[0], ref[1] + 0.01 * torch.randn(B, L)]
    loss, _, o = CategoryPITSolver(SISNRLoss(eps=1e-8))(ref, inf, {})
    assert o["perm"].tolist() == [[1, 2, 0]] * 2
    assert loss < -30


def test_gradient_flows():
    ref = [torch.randn(2, 40) for _ in range(2)]
    inf = [torch.randn(2, 40, requires_grad=True) for _ in range(2)]
    loss, _, _ = CategoryPITSolver(SNRWithZeroRefLoss())(ref, inf, {"prompts": torch.tensor([[1, 1], [1, 2]])})
    loss.backward()
    assert all(torch.isfinite(i.grad).all() and i.grad.abs().sum() > 0 for i in inf)


def test_snr_zeroref_values():
    crit = SNRWithZeroRefLoss(snr_max=30, zero_ref_loss_weight=0.1, eps=0.0)
    ref = torch.ones(1, 100)
    inf = ref + 0.1  # SNR 20 dB
    expected = 10 * torch.log10(torch.tensor(1.0 + 1e-3 * 100)) - 10 * torch.log10(torch.tensor(100.0))
    assert torch.allclose(crit(ref, inf), expected.view(1), atol=1e-5)
    # zero reference: weighted 10 log10(|y|^2 + tau |mix|^2)
    zero = torch.zeros(1, 100)
    mix = torch.ones(1, 100)
    val = crit(zero, 0.01 * torch.ones(1, 100), mix)
    assert torch.allclose(val, 0.1 * 10 * torch.log10(torch.tensor([0.01 + 0.1])), atol=1e-5)
    assert torch.isfinite(crit(zero, zero, mix)).all()


def test_bad_average_option():
    with pytest.raises(ValueError):
        CategoryPITSolver(SNRLoss(), average="mean")


def test_average_per_category_or_per_output():
    """``category`` (default, the paper's text) weighs every category equally;
    ``source`` (the authors' released code) weighs every output equally."""
    g = torch.Generator().manual_seed(0)
    ref = [torch.randn(1, 200, generator=g) for _ in range(3)]
    inf = [r + s * torch.randn(1, 200, generator=g) for r, s in zip(ref, (0.01, 0.02, 0.5))]
    prompts = torch.tensor([[1, 1, 3]])  # speech, speech, sfxbg
    crit = SNRLoss()
    per = [crit(r, i)[0] for r, i in zip(ref, inf)]  # the identity is the best assignment
    by_category = ((per[0] + per[1]) / 2 + per[2]) / 2
    by_output = (per[0] + per[1] + per[2]) / 3
    assert not torch.allclose(by_category, by_output, atol=1e-3)
    default, _, _ = CategoryPITSolver(crit)(ref, inf, {"prompts": prompts})
    source, _, _ = CategoryPITSolver(crit, average="source")(ref, inf, {"prompts": prompts})
    assert torch.allclose(default, by_category, atol=1e-5)
    assert torch.allclose(source, by_output, atol=1e-5)
