# SPDX-License-Identifier: Apache-2.0
"""Statistical checks of the on-the-fly prompt sampler (paper Sec. II-C, Table II)."""

from collections import Counter

import numpy as np
import pytest

from tuss_plugin.onthefly.prompt_sampler import DEFAULT_PROMPT_TABLE, PromptSampler

STEMS = {"drums", "bass", "vocals", "other"}


@pytest.fixture(scope="module")
def draws():
    """6,000 batches of the default tables: (N, prompt list) pairs."""
    sampler = PromptSampler()
    rng = np.random.default_rng(1234)
    out = []
    for _ in range(6000):
        n = sampler.sample_num_prompts(rng)
        out.append((n, sampler.sample(n, rng)))
    return out


def test_forbidden_pairs_never_occur(draws):
    for _, prompts in draws:
        s = set(prompts)
        assert not ("sfxbg" in s and "sfx" in s), prompts
        assert not ("musicbg" in s and s & STEMS), prompts


def test_repeat_limits_hold(draws):
    for n, prompts in draws:
        assert len(prompts) == n
        counts = Counter(prompts)
        for p, c in counts.items():
            assert c <= DEFAULT_PROMPT_TABLE[p]["num_appear"], prompts
        for p in ("sfxbg", "musicbg", *STEMS):
            assert counts[p] <= 1, prompts


def test_zero_transitions_are_respected(draws):
    # every chosen prompt blocks the candidates its 'next' row gives weight 0
    for _, prompts in draws:
        for i, a in enumerate(prompts):
            for b in prompts[i + 1 :]:
                assert DEFAULT_PROMPT_TABLE[a]["next"][b] > 0, prompts


def test_num_prompts_distribution(draws):
    counts = Counter(n for n, _ in draws)
    assert set(counts) == {2, 3, 4}
    for n in (2, 3, 4):
        assert abs(counts[n] / len(draws) - 1 / 3) < 0.025, counts


def test_every_prompt_is_drawn(draws):
    seen = Counter(p for _, prompts in draws for p in prompts)
    assert set(seen) == set(DEFAULT_PROMPT_TABLE)
    # speech and sfx may repeat; stems only come together with other stems or
    # single sources, never with the music mix
    assert any(Counter(pr)["speech"] >= 2 for _, pr in draws)


def test_custom_weights_and_determinism():
    s = PromptSampler(num_prompts_weights={2: 0.8, 4: 0.2})
    rng = np.random.default_rng(0)
    ns = Counter(s.sample_num_prompts(rng) for _ in range(4000))
    assert set(ns) == {2, 4} and abs(ns[2] / 4000 - 0.8) < 0.03

    def run(seed):
        r = np.random.default_rng(seed)
        return [s.sample(s.sample_num_prompts(r), r) for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_specialist_tables():
    # the authors' WHAM! data specialist: two speakers and the noise, every time
    wham = {
        "speech": {"next": {"speech": 0.75, "sfxbg": 0.25}, "init_prob": 0.5, "num_appear": 2},
        "sfxbg": {"next": {"speech": 1.0, "sfxbg": 0.0}, "init_prob": 0.5, "num_appear": 1},
    }
    s = PromptSampler(wham, {3: 1.0})
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert sorted(s.sample(3, rng)) == ["sfxbg", "speech", "speech"]
    # MUSDB: four distinct stems
    musdb = {p: {"next": {q: 0.0 if q == p else 0.3 for q in STEMS}, "init_prob": 0.25, "num_appear": 1} for p in STEMS}
    s = PromptSampler(musdb, {4: 1.0})
    for _ in range(300):
        assert set(s.sample(4, rng)) == STEMS


def test_unsatisfiable_table_raises():
    table = {"speech": {"next": {"speech": 1.0}, "init_prob": 1.0, "num_appear": 2}}
    s = PromptSampler(table, {3: 1.0}, max_restarts=5)
    with pytest.raises(ValueError, match="no valid list of 3 prompts"):
        s.sample(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown prompts"):
        PromptSampler({"speech": {"next": {"birds": 1.0}, "init_prob": 1.0}})
