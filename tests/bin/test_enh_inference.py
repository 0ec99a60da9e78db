# SPDX-License-Identifier: Apache-2.0
"""ESPnet's own inference (``espnet2.bin.enh_inference.SeparateSpeech``) on TUSS
models: an imported release model builds with ESPnet's model class, and the
prompts come from the inference config (``separator_conf.default_prompts``)."""

import numpy as np
import pytest
import torch
import yaml

from tuss_plugin.inference import SeparateAudio
from tuss_plugin.separator.tuss_separator import TUSSSeparator


def _inference_config(tmp_path, prompts):
    path = tmp_path / "espnet_inference.yaml"
    path.write_text(yaml.safe_dump({"separator_conf": {"default_prompts": prompts}}))
    return path


def test_imported_release_config_builds_with_espnet_model_class(model_dir):
    """model_conf holds only keys ESPnet's ESPnetEnhancementModel takes."""
    from espnet2.tasks.enh import EnhancementTask

    config = yaml.safe_load((model_dir / "config.yaml").read_text())
    assert "normalize_variance_eps" not in config["model_conf"]
    model, _ = EnhancementTask.build_model_from_file(model_dir / "config.yaml", model_dir / "model.pth", "cpu")
    assert type(model).__name__ == "ESPnetEnhancementModel" and model.normalize_variance


@pytest.mark.parametrize("prompts", [["speech", "sfxbg"], ["vocals", "bass", "drums"]])
def test_separate_speech_matches_separate_audio(model_dir, tmp_path, prompts):
    from espnet2.bin.enh_inference import SeparateSpeech

    ss = SeparateSpeech(
        train_config=model_dir / "config.yaml",
        model_file=model_dir / "model.pth",
        inference_config=_inference_config(tmp_path, prompts),
    )
    ours = SeparateAudio.from_pretrained(model_dir)
    x = (0.1 * np.random.default_rng(0).standard_normal(ours.fs // 2)).astype(np.float32)
    got = np.stack([w[0] for w in ss(x[None], fs=ours.fs)])  # (N, T)
    want = np.asarray(ours(x, fs=ours.fs, prompts=prompts))  # (N, T)
    assert got.shape == want.shape == (len(prompts), x.size)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())


def test_default_prompts_checked_and_used_only_without_prompts():
    with pytest.raises(ValueError, match="separator_conf.default_prompts: .*sfxbg"):
        TUSSSeparator(input_dim=129, fs=16000, n_fft=256, emb_dim=8, num_groups=2, cross_prompt_blocks=1,
                      cond_tse_blocks=1, default_prompts=["sfx", "sfxbg"])  # fmt: skip
    sep = TUSSSeparator(input_dim=129, fs=16000, n_fft=256, emb_dim=8, num_groups=2, cross_prompt_blocks=1,
                        cond_tse_blocks=1, default_prompts=["speech"])  # fmt: skip
    assert sep.num_spk == 1
    spec = torch.randn(1, 5, 129, dtype=torch.complex64)
    assert len(sep(spec, torch.tensor([5]))[0]) == 1  # the default list
    assert len(sep(spec, torch.tensor([5]), {"prompts": ["speech", "sfx", "musicbg"]})[0]) == 3
