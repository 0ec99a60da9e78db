# SPDX-License-Identifier: Apache-2.0
"""Segment-wise (CSS-style) processing in SeparateAudio."""

import numpy as np
import pytest
import torch

from tuss_plugin.inference import SeparateAudio
from tuss_plugin.inference.overlap_add import segment_starts
from tuss_plugin.prompts import PromptVocabulary


class FakeModelSep(SeparateAudio):
    """SeparateAudio whose 'model' returns known signals, to test the bookkeeping."""

    def __init__(self, fn, segment_size=None, hop_size=None, fs=100):
        self.segment_size = segment_size
        self.hop_size = hop_size if hop_size is not None else segment_size
        self.fs = fs
        self.vocab = PromptVocabulary()
        self.fn = fn
        self.calls = []

    def separate_tensor(self, mix, prompts):  # mix (C, l) -> (C, N, l)
        self.calls.append(mix.shape[-1])
        return self.fn(mix, prompts)


def copies(mix, prompts):
    return torch.stack([mix * (i + 1) for i in range(len(prompts))], dim=1)


@pytest.mark.parametrize("seg,hop", [(1.0, 1.0), (1.0, 0.5), (0.7, 0.3), (2.0, 1.5), (10.0, 10.0)])
def test_overlap_add_is_exact_for_a_linear_model(seg, hop):
    x = np.random.default_rng(0).standard_normal(537).astype(np.float32)
    sep = FakeModelSep(copies, seg, hop)
    out = sep(x, fs=100, prompts=["speech", "sfxbg"])
    assert out.shape == (2, 537)
    assert np.allclose(out[0], x, atol=1e-6) and np.allclose(out[1], 2 * x, atol=1e-5)
    assert max(sep.calls) <= int(seg * 100)


def test_memory_is_bounded_by_the_segment():
    x = np.zeros((1000, 1), dtype=np.float32)
    sep = FakeModelSep(copies, 1.0, 0.5)
    blocks = list(sep.iter_separate(x, ["speech"]))
    assert sum(b.shape[1] for b in blocks) == 1000
    assert max(b.shape[1] for b in blocks) <= 100


def test_repeated_prompts_are_aligned_across_segments():
    t = np.arange(600) / 100
    a, b = np.sin(2 * np.pi * 3 * t), np.sign(np.sin(2 * np.pi * 0.7 * t))
    x = (a + b).astype(np.float32)
    state = {"n": 0}

    def swapping(mix, prompts):  # returns the true sources, swapped on every other segment
        start = state["pos"].pop(0)
        l = mix.shape[-1]
        s = [
            torch.tensor(a[start : start + l], dtype=torch.float32),
            torch.tensor(b[start : start + l], dtype=torch.float32),
        ]
        if state["n"] % 2:
            s = s[::-1]
        state["n"] += 1
        return torch.stack(s)[None]

    state["pos"] = segment_starts(600, 100, 50)
    sep = FakeModelSep(swapping, 1.0, 0.5)
    out = sep(x, fs=100, prompts=["speech", "speech"])
    assert np.allclose(out[0], a, atol=1e-5) and np.allclose(out[1], b, atol=1e-5)


def test_other_prompts_are_never_exchanged():
    t = np.arange(400) / 100
    a, b = np.sin(2 * np.pi * 3 * t), np.sin(2 * np.pi * 5 * t)
    pos = segment_starts(400, 100, 50)

    def swapped(mix, prompts):
        start = pos.pop(0)
        l = mix.shape[-1]
        return torch.stack([torch.tensor(b[start : start + l]), torch.tensor(a[start : start + l])]).float()[None]

    sep = FakeModelSep(swapped, 1.0, 0.5)
    out = sep((a + b).astype(np.float32), fs=100, prompts=["speech", "sfxbg"])
    assert np.allclose(out[0], b, atol=1e-5)  # kept as the model gave them


def test_segment_starts():
    assert segment_starts(50, 100, 50) == [0]
    assert segment_starts(250, 100, 50) == [0, 50, 100, 150]
    assert segment_starts(260, 100, 100) == [0, 100, 160]


class _Dummy:
    separator = None


@pytest.mark.parametrize("seg,hop", [(-1.0, None), (1.0, 2.0), (None, 1.0), (1.0, 0.0)])
def test_invalid_segment_options(seg, hop):
    with pytest.raises(ValueError):
        SeparateAudio(_Dummy(), {}, segment_size=seg, hop_size=hop)


def test_interchangeable_outputs_are_aligned_across_segments():
    """A model without prompts or output slots (the conventional baseline, stock separators):
    its outputs may come in any order in each segment and are aligned over all outputs."""
    from types import SimpleNamespace

    t = np.arange(600) / 100
    a, b = np.sin(2 * np.pi * 3 * t), np.sign(np.sin(2 * np.pi * 0.7 * t))
    pos = segment_starts(600, 100, 50)
    state = {"n": 0}

    def swapping(mix, prompts):
        assert prompts is None
        start, l = pos.pop(0), mix.shape[-1]
        s = [torch.tensor(a[start : start + l]), torch.tensor(b[start : start + l])]
        state["n"] += 1
        return torch.stack(s[::-1] if state["n"] % 2 else s).float()[None]

    sep = FakeModelSep(swapping, 1.0, 0.5)
    sep.vocab = None
    sep.model = SimpleNamespace(separator=SimpleNamespace(num_spk=2, output_prompts=None))
    out = sep((a + b).astype(np.float32), fs=100)
    first = [b, a]  # the first segment's order is kept
    assert np.allclose(out[0], first[0], atol=1e-5) and np.allclose(out[1], first[1], atol=1e-5)
    # declared output slots: never exchanged
    pos[:] = segment_starts(600, 100, 50)
    state["n"] = 0
    sep.model.separator.output_prompts = ["speech", "sfxbg"]
    out = sep((a + b).astype(np.float32), fs=100)
    assert not np.allclose(out[0], b, atol=1e-3)
