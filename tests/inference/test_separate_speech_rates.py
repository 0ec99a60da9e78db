# SPDX-License-Identifier: Apache-2.0
"""ESPnet's ``SeparateSpeech`` on a TUSS model gives ``SeparateAudio``'s outputs
at any input rate (the README's claim at 16, 44.1 and 48 kHz), and a packed zip
separates through ``SeparateSpeech.from_pretrained`` with no inference config."""

import numpy as np
import pytest
import yaml

from tuss_plugin.inference import SeparateAudio


def _mixture(fs: int, seconds: float = 0.25) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    rng = np.random.default_rng(3)
    x = 0.05 * np.sin(2 * np.pi * 330 * t) + 0.01 * rng.standard_normal(t.size)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def espnet_and_ours(model_dir, tmp_path_factory):
    from espnet2.bin.enh_inference import SeparateSpeech

    conf = tmp_path_factory.mktemp("inf") / "inference.yaml"
    conf.write_text(yaml.safe_dump({"separator_conf": {"default_prompts": ["speech", "sfxbg"]}}))
    files = {"train_config": model_dir / "config.yaml", "model_file": model_dir / "model.pth"}
    ss = SeparateSpeech(**files, inference_config=conf)
    # ESPnet's model class divides the mixture by its std alone, ours by std + 1e-8
    # (normalize_variance_eps); an exact copy of ESPnet's arithmetic needs eps 0
    exact = SeparateAudio.from_pretrained(model_dir)
    exact.model.normalize_variance_eps = 0.0
    return ss, SeparateAudio.from_pretrained(model_dir), exact


@pytest.mark.parametrize("fs", [16000, 44100, 48000])
def test_separate_speech_equals_separate_audio_at_any_rate(espnet_and_ours, fs):
    ss, ours, exact = espnet_and_ours
    x = _mixture(fs)
    got = np.stack([np.asarray(w)[0] for w in ss(x[None], fs=fs)])  # (N, T)
    want = ours(x, fs=fs, prompts=["speech", "sfxbg"])  # (N, T)
    assert got.shape == want.shape == (2, x.size)
    peak = np.abs(want).max()
    # before the rate adapter: differences larger than the outputs' peak at 16 kHz
    assert np.abs(got - want).max() <= 1e-3 * peak, (fs, np.abs(got - want).max(), peak)
    same = exact(x, fs=fs, prompts=["speech", "sfxbg"])
    assert np.abs(got - same).max() <= 1e-6 * peak, (fs, np.abs(got - same).max(), peak)


def test_separate_speech_normalize_output_wav_at_the_input_rate(model_dir, tmp_path):
    """enh.sh's --normalize_output_wav true: each output scaled to a peak of 0.9."""
    from espnet2.bin.enh_inference import SeparateSpeech

    conf = tmp_path / "inference.yaml"
    conf.write_text(yaml.safe_dump({"separator_conf": {"default_prompts": ["speech", "sfxbg"]}}))
    ss = SeparateSpeech(
        train_config=model_dir / "config.yaml",
        model_file=model_dir / "model.pth",
        inference_config=conf,
        normalize_output_wav=True,
    )
    waves = ss(_mixture(16000)[None], fs=16000)
    assert len(waves) == 2
    for w in waves:
        assert np.asarray(w).shape == (1, 4000)
        np.testing.assert_allclose(np.abs(np.asarray(w)).max(), 0.9, rtol=1e-5)


def test_packed_zip_separates_with_from_pretrained_and_no_config(model_dir, tmp_path, capsys):
    """Recipe stage 7 packs pack_config's copy of the config (default prompts: the
    test sets' most common list), so SeparateSpeech.from_pretrained needs nothing else."""
    from espnet2.bin.enh_inference import SeparateSpeech
    from espnet2.main_funcs.pack_funcs import pack
    from espnet_model_zoo.downloader import ModelDownloader

    from tuss_plugin.bin import pack_config

    u2p = tmp_path / "utt2prompts"
    u2p.write_text("a speech sfxbg\nb speech speech sfxbg\nc speech sfxbg\n")
    packed_conf = tmp_path / "packed" / "config.yaml"
    assert pack_config.main(["--config", str(model_dir / "config.yaml"), "--out", str(packed_conf),
                             "--utt2prompts", str(u2p)]) == 0  # fmt: skip
    assert capsys.readouterr().out.split() == ["speech", "sfxbg"]
    zip_path = tmp_path / "model.zip"
    pack(files={"model_file": model_dir / "model.pth"}, yaml_files={"train_config": packed_conf},
         option=[], outpath=str(zip_path))  # fmt: skip
    files = ModelDownloader(tmp_path / "zoo").unpack_local_file(str(zip_path))
    ss = SeparateSpeech.from_pretrained(**files)
    x = _mixture(16000)
    got = np.stack([np.asarray(w)[0] for w in ss(x[None], fs=16000)])  # (2, T)
    ours = SeparateAudio.from_pretrained(zip_path, cache_dir=str(tmp_path / "cache"))
    want = ours(x, fs=16000, prompts=["speech", "sfxbg"])
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()


def test_pack_config_keeps_explicit_prompts_and_prompt_free_separators(tmp_path):
    from tuss_plugin.bin.pack_config import pack_config

    tuss = {"separator": "tuss", "separator_conf": {"fs": 16000}}
    want = {"fs": 16000, "default_prompts": ["vocals", "other"]}
    assert pack_config(tuss, ["vocals", "other"])["separator_conf"] == want
    assert "default_prompts" not in tuss["separator_conf"]  # the input is not changed
    fixed = {"separator_conf": {"default_prompts": ["speech"]}, "separator": "tuss"}
    assert pack_config(fixed, ["sfx"]) == fixed
    assert pack_config({"separator": "bslocoformer"}, ["speech"]) == {"separator": "bslocoformer"}
