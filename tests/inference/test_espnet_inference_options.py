# SPDX-License-Identifier: Apache-2.0
"""enh.sh's inference options reach tuss_inference: an ESPnet-style inference
config (SeparateSpeech's separator_conf.default_prompts, enh_inference's
options), --normalize_output_wav true; what has no meaning is refused in one line."""

import numpy as np
import pytest
import soundfile as sf
import yaml

from tuss_plugin.bin import tuss_inference

from datagen import make_data_dir


@pytest.fixture
def data(tmp_path):
    return make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], fs=16000, seconds=0.25)


def test_espnet_style_configs_and_normalize_output_wav(model_dir, data, tmp_path):
    enh_conf = tmp_path / "enh_inference.yaml"  # SeparateSpeech's inference config
    enh_conf.write_text(yaml.safe_dump({"separator_conf": {"default_prompts": ["vocals", "other", "bass"]}}))
    conf = tmp_path / "decode.yaml"  # enh_inference's options
    conf.write_text(yaml.safe_dump({"normalize_output_wav": True}))
    out = tmp_path / "out"
    args = ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out)]
    assert tuss_inference.main(args + ["--config", str(conf), "--enh_config", str(enh_conf)]) == 0
    assert (out / "utt2prompts").read_text().split() == ["utt000", "vocals", "other", "bass"]
    for k in (1, 2, 3):
        y, _ = sf.read(out / "wavs" / str(k) / "utt000.wav")
        assert np.abs(y).max() == pytest.approx(0.9, rel=1e-6)
    # the same from the command line, as enh.sh's default --inference_args gives it
    out2 = tmp_path / "out2"
    args2 = ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out2)]
    assert tuss_inference.main(args2 + ["--normalize_output_wav", "true"]) == 0
    y, _ = sf.read(out2 / "wavs" / "1" / "utt000.wav")
    assert np.abs(y).max() == pytest.approx(0.9, rel=1e-6)


@pytest.mark.parametrize(
    "conf, message",
    [
        ({"separator_conf": {"n_fft": 512}}, "separator_conf.n_fft: only default_prompts"),
        ({"encoder": "stft"}, "encoder: the model's modules come from its training config"),
        ({"normalize_segment_scale": True}, "normalize_segment_scale: ESPnet enh_inference option with no counterpart"),
    ],
)
def test_refused_in_one_line(model_dir, data, tmp_path, capsys, conf, message):
    path = tmp_path / "inf.yaml"
    path.write_text(yaml.safe_dump(conf))
    with pytest.raises(SystemExit) as e:
        tuss_inference.main(["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(tmp_path / "o"),
                             "--config", str(path)])  # fmt: skip
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and str(path) in err
