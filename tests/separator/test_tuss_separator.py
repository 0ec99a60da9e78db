# SPDX-License-Identifier: Apache-2.0
import pytest
import torch

from tuss_plugin.separator.bslocoformer_separator import BSLocoformerSeparator
from tuss_plugin.separator.tuss_separator import TUSSSeparator

FFN = [{"dim_inner": 16, "conv1d_kernel": 3}] * 2
FRAME_FFN = [{"dim_inner": 16, "conv1d_kernel": 1}] * 2


def tiny(fs=16000, n_fft=256, **kw):
    conf = dict(
        fs=fs,
        n_fft=n_fft,
        emb_dim=8,
        num_groups=2,
        cross_prompt_blocks=1,
        cross_prompt_attention_dim=8,
        cross_prompt_n_heads=2,
        cross_prompt_freq_ffn=FFN,
        cross_prompt_frame_ffn=FRAME_FFN,
        cond_tse_blocks=1,
        cond_tse_attention_dim=8,
        cond_tse_n_heads=2,
        cond_tse_freq_ffn=FFN,
        cond_tse_frame_ffn=FFN,
    )
    conf.update(kw)
    return TUSSSeparator(n_fft // 2 + 1, **conf)


PROMPT_LISTS = [
    ["speech"],
    ["speech", "sfxbg"],
    ["speech", "speech", "sfxbg"],
    ["sfx", "sfx", "sfx", "sfx"],
    ["drums", "bass", "vocals", "other"],
    ["speech", "sfxbg", "musicbg"],
    ["speech"] * 5,
]


@pytest.mark.parametrize("prompts", PROMPT_LISTS)
def test_forward_backward(prompts):
    sep = tiny()
    x = torch.randn(2, 9, 129, dtype=torch.complex64, requires_grad=True)
    out, ilens, others = sep(x, torch.tensor([9, 9]), {"prompts": prompts})
    assert len(out) == len(prompts)
    assert all(o.shape == x.shape and o.is_complex() for o in out)
    assert others["prompts"].shape == (2, len(prompts))
    sum(o.abs().sum() for o in out).backward()
    assert torch.isfinite(x.grad.real).all()
    used = {sep.vocab.canonical(p) for p in prompts}
    for name, p in sep.prompt_encoder.prompts.items():
        assert (p.grad is not None and p.grad.abs().sum() > 0) == (name in used)


@pytest.mark.parametrize("fs", [8000, 16000, 22050, 24000, 32000, 44100, 48000])
def test_sample_rates(fs):
    sep = tiny(fs=fs, n_fft=512)
    x = torch.randn(1, 6, 257, dtype=torch.complex64)
    out, _, _ = sep(x, torch.tensor([6]), {"prompts": ["speech", "sfxbg"]})
    assert out[0].shape == x.shape


def test_identical_prompts_give_distinct_outputs():
    sep = tiny().eval()
    x = torch.randn(1, 12, 129, dtype=torch.complex64)
    with torch.no_grad():
        out, _, _ = sep(x, torch.tensor([12]), {"prompts": ["speech", "speech", "speech"]})
    assert (out[0] - out[1]).abs().max() > 1e-4
    assert (out[1] - out[2]).abs().max() > 1e-4


def test_per_item_prompts_and_ids():
    sep = tiny().eval()
    x = torch.randn(2, 7, 129, dtype=torch.complex64)
    with torch.no_grad():
        a, _, _ = sep(x, torch.tensor([7, 7]), {"prompts": [["speech", "sfxbg"], ["drums", "bass"]]})
        b, _, _ = sep(x[1:], torch.tensor([7]), {"prompts": ["drums", "bass"]})
        c, _, _ = sep(x, torch.tensor([7, 7]), {"prompts": torch.tensor([[1, 3], [4, 5]])})
    assert torch.allclose(a[0][1], b[0][0], atol=1e-5)
    assert torch.allclose(a[1][0], c[1][0])


@pytest.mark.parametrize("prompts", [[], ["speech", "nonsense"], ["sfx", "sfxbg"], ["musicbg", "drums"]])
def test_invalid_prompts_raise(prompts):
    sep = tiny()
    with pytest.raises(ValueError):
        sep(torch.randn(1, 4, 129, dtype=torch.complex64), torch.tensor([4]), {"prompts": prompts})


def test_missing_prompts_and_bad_input_dim():
    with pytest.raises(ValueError, match="prompts"):
        tiny()(torch.randn(1, 4, 129, dtype=torch.complex64), torch.tensor([4]), {})
    with pytest.raises(ValueError, match="input_dim"):
        TUSSSeparator(257, n_fft=256)


def test_no_sos_token():
    sep = tiny(use_sos_token=False)
    assert sep.prompt_encoder.sos_token is None
    out, _, _ = sep(torch.randn(1, 4, 129, dtype=torch.complex64), torch.tensor([4]), {"prompts": ["speech"]})
    assert out[0].shape == (1, 4, 129)


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_default_constructor_is_medium():
    assert _count(TUSSSeparator(1025)) == 11_132_352


def test_large_parameter_count():
    sep = TUSSSeparator(
        1025,
        emb_dim=128,
        cross_prompt_blocks=6,
        cross_prompt_attention_dim=256,
        cross_prompt_n_heads=8,
        cond_tse_blocks=3,
        cond_tse_attention_dim=192,
        cond_tse_n_heads=8,
    )
    assert _count(sep) == 38_210_112


def test_bslocoformer_forward_backward():
    sep = BSLocoformerSeparator(
        129,
        num_spk=3,
        fs=16000,
        n_fft=256,
        emb_dim=8,
        num_groups=2,
        first_blocks=1,
        first_attention_dim=8,
        first_n_heads=2,
        first_freq_ffn=FFN,
        first_frame_ffn=FRAME_FFN,
        second_blocks=1,
        second_attention_dim=8,
        second_n_heads=2,
        second_freq_ffn=FFN,
        second_frame_ffn=FFN,
    )
    x = torch.randn(2, 6, 129, dtype=torch.complex64)
    out, _, others = sep(x, torch.tensor([6, 6]))
    assert len(out) == 3 and sep.num_spk == 3 and "mask_spk3" in others
    sum(o.abs().sum() for o in out).backward()


def test_bslocoformer_default_constructor():
    sep = BSLocoformerSeparator(1025)
    assert sep.num_spk == 4 and _count(sep) > 10_000_000
