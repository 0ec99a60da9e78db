# SPDX-License-Identifier: Apache-2.0
"""StackSettings: the five settings of one TF-Locoformer stack, from flat separator_conf keys."""

import dataclasses
import inspect

import pytest
import torch

from tuss_plugin.layers.stack_settings import StackSettings
from tuss_plugin.layers.tf_locoformer import TFLocoformerStack
from tuss_plugin.separator.bslocoformer_separator import BSLocoformerSeparator
from tuss_plugin.separator.tuss_separator import TUSSSeparator

FFN = [{"dim_inner": 8, "conv1d_kernel": 3}] * 2
TINY = dict(fs=16000, n_fft=256, emb_dim=8, num_groups=2)


def _tuss(**kw):
    conf = dict(
        TINY,
        cross_prompt_blocks=1,
        cross_prompt_attention_dim=8,
        cross_prompt_n_heads=2,
        cross_prompt_freq_ffn=FFN,
        cross_prompt_frame_ffn=FFN,
        cond_tse_blocks=1,
        cond_tse_attention_dim=8,
        cond_tse_n_heads=2,
        cond_tse_freq_ffn=FFN,
        cond_tse_frame_ffn=FFN,
    )
    conf.update(kw)
    return TUSSSeparator(129, **conf)


def _bs(**kw):
    conf = dict(
        TINY,
        num_spk=2,
        first_blocks=1,
        first_attention_dim=8,
        first_n_heads=2,
        first_freq_ffn=FFN,
        first_frame_ffn=FFN,
        second_blocks=0,
    )
    conf.update(kw)
    return BSLocoformerSeparator(129, **conf)


def test_from_prefixed_round_trip():
    conf = {
        "emb_dim": 8,
        "cond_tse_blocks": 2,
        "cond_tse_attention_dim": 12,
        "cond_tse_n_heads": 3,
        "cond_tse_freq_ffn": FFN,
        "cond_tse_frame_ffn": FFN,
    }
    s = StackSettings.from_prefixed(conf, "cond_tse")
    assert (s.blocks, s.attention_dim, s.n_heads, s.head_dim, s.prefix) == (2, 12, 3, 4, "cond_tse")
    assert s.freq_ffn == tuple(FFN) and isinstance(s.frame_ffn, tuple)
    assert s.to_prefixed() == {k: v for k, v in conf.items() if k.startswith("cond_tse_")}
    assert s == StackSettings(2, 12, 3, FFN, FFN)  # the prefix only names keys
    with pytest.raises(ValueError, match="cross_prompt_blocks"):
        StackSettings.from_prefixed(conf, "cross_prompt")


def test_settings_are_frozen_copies():
    ffn = [{"dim_inner": 8}, {"dim_inner": 8}]
    s = StackSettings(1, 8, 2, ffn, ffn)
    ffn[0]["dim_inner"] = 99
    assert s.freq_ffn[0] == {"dim_inner": 8}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.blocks = 2


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(cross_prompt_blocks=0), "cross_prompt_blocks must be >= 1, got 0"),
        (dict(cond_tse_n_heads=0), "cond_tse_n_heads must be >= 1"),
        (dict(cross_prompt_n_heads=3), "cross_prompt_attention_dim=8 is not divisible by cross_prompt_n_heads=3"),
        (dict(cond_tse_attention_dim=12, cond_tse_n_heads=4), r"RoPE needs an even head dimension, got 3 \(cond_tse"),
        (dict(cond_tse_frame_ffn=FFN[:1]), "cond_tse_frame_ffn: a macaron path needs 2 FFN configs, got 1"),
        (
            dict(cross_prompt_freq_ffn=[{"dim_inner": 8, "typo": 1}] * 2),
            r"cross_prompt_freq_ffn\[0\]: unknown FFN option\(s\) \['typo'\]",
        ),
        (
            dict(cross_prompt_frame_ffn=[{"dim_inner": 8}, {"conv1d_kernel": 3}]),
            r"cross_prompt_frame_ffn\[1\]: FFN config .* lacks 'dim_inner'",
        ),
    ],
)
def test_tuss_messages_name_the_key(kw, message):
    with pytest.raises(ValueError, match=message):
        _tuss(**kw)


def test_bslocoformer_messages_name_the_key():
    with pytest.raises(ValueError, match="first_attention_dim=8 is not divisible by first_n_heads=3"):
        _bs(first_n_heads=3)
    with pytest.raises(ValueError, match=r"second_freq_ffn\[0\]: unknown FFN option"):
        _bs(second_blocks=1, second_attention_dim=8, second_n_heads=2, second_freq_ffn=[{"conf": {}}] * 2)
    # without a second stack its other keys are not used (as before)
    assert _bs(second_blocks=0, second_n_heads=7).second is None


def test_positional_stack_keeps_its_messages():
    with pytest.raises(ValueError, match="n_blocks must be >= 1, got 0"):
        TFLocoformerStack(0, 8, 2, 8, 2, FFN, FFN)
    with pytest.raises(ValueError, match="attention_dim=9 is not divisible by n_heads=2"):
        TFLocoformerStack(1, 8, 2, 9, 2, FFN, FFN)
    with pytest.raises(ValueError, match="freq_ffn_config: a macaron path needs 2 FFN configs"):
        TFLocoformerStack(1, 8, 2, 8, 2, FFN[:1], FFN)


def test_from_settings_builds_the_positional_stack():
    s = StackSettings(2, 8, 2, FFN, FFN, prefix="first")
    torch.manual_seed(0)
    a = TFLocoformerStack.from_settings(s, emb_dim=8, num_groups=2, tf_order="tf")
    torch.manual_seed(0)
    b = TFLocoformerStack(2, 8, 2, 8, 2, FFN, FFN, tf_order="tf")
    assert a.settings is s and b.settings == s
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    x = torch.randn(1, 8, 5, 3)
    assert torch.equal(a(x), b(x))
    with pytest.raises(TypeError):
        TFLocoformerStack.from_settings(s, 8, 2)  # the rest by keyword only


def test_separators_gather_their_flat_keys():
    sep = _tuss(cond_tse_blocks=2, cond_tse_attention_dim=12, cond_tse_n_heads=3)
    assert sep.cross_prompt.settings.prefix == "cross_prompt"
    assert sep.cond_tse.settings.to_prefixed() == {
        "cond_tse_blocks": 2,
        "cond_tse_attention_dim": 12,
        "cond_tse_n_heads": 3,
        "cond_tse_freq_ffn": FFN,
        "cond_tse_frame_ffn": FFN,
    }
    bs = _bs()
    assert bs.first.settings == StackSettings.from_prefixed(
        dict(first_blocks=1, first_attention_dim=8, first_n_heads=2, first_freq_ffn=FFN, first_frame_ffn=FFN),
        "first",
    )
    # every settings field is a flat, typed keyword of the separators (what --print_config shows)
    for cls, prefixes in ((TUSSSeparator, ("cross_prompt", "cond_tse")), (BSLocoformerSeparator, ("first", "second"))):
        params = inspect.signature(cls).parameters
        for p in prefixes:
            for f in StackSettings.FIELDS:
                assert params[f"{p}_{f}"].default is not inspect.Parameter.empty


def test_default_stacks_of_both_separators():
    medium = dict(
        blocks=(4, 2),
        attention_dim=(128, 96),
        n_heads=(4, 4),
        freq_ffn=(
            ({"dim_inner": 384, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2,
            ({"dim_inner": 256, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2,
        ),
        frame_ffn=(
            ({"dim_inner": 384, "conv1d_kernel": 1, "conv1d_shift": 1},) * 2,
            ({"dim_inner": 256, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2,
        ),
    )
    for cls, prefixes in ((TUSSSeparator, ("cross_prompt", "cond_tse")), (BSLocoformerSeparator, ("first", "second"))):
        params = inspect.signature(cls).parameters
        for i, p in enumerate(prefixes):
            got = StackSettings.from_prefixed({k: v.default for k, v in params.items()}, p)
            assert got == StackSettings(**{f: v[i] for f, v in medium.items()}), (cls.__name__, p)
