# SPDX-License-Identifier: Apache-2.0
"""``iterator_type: chunk`` (ESPnet's wsj0_2mix TF-GridNetV2 config has it) trains
TUSS and stock separators: the prompt ids are not cut into chunks; data whose
mixtures have different numbers of prompts is refused in one line."""

import pytest
import yaml

from tuss_plugin.bin import tuss_train

from conftest import ROOT
from datagen import make_data_dir, train_args

TINY = str(ROOT / "tests" / "conf" / "tuss_tiny.yaml")
CHUNK = ["--iterator_type", "chunk", "--chunk_length", "4000", "--batch_size", "2", "--num_iters_per_epoch", "2"]


@pytest.mark.parametrize("separator", ["tuss", "stock"])
def test_chunk_iterator_trains(tmp_path, separator):
    data = make_data_dir(tmp_path / "data", [["speech", "speech"]] * 3, fs=16000, seconds=0.5)
    config = TINY
    if separator == "stock":  # ESPnet's TF-GridNetV2 (fixed outputs) on the same data, prompts and loss
        conf = yaml.safe_load(open(TINY))
        conf.update(encoder="same", encoder_conf={}, decoder="same", decoder_conf={}, separator="tfgridnetv2")
        conf["separator_conf"] = {"n_srcs": 2, "n_fft": 128, "stride": 64, "n_layers": 1, "lstm_hidden_units": 8,
                                  "attn_n_head": 1, "emb_dim": 4}  # fmt: skip
        config = str(tmp_path / "stock.yaml")
        (tmp_path / "stock.yaml").write_text(yaml.safe_dump(conf))
    exp = tmp_path / "exp"
    assert tuss_train.main(train_args(data, exp, config, epochs=1, extra=CHUNK)) in (0, None)
    assert (exp / "1epoch.pth").exists()


def test_chunk_iterator_refuses_mixed_prompt_counts(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["speech", "speech", "sfxbg"]], seconds=0.5)
    with pytest.raises((ValueError, SystemExit)) as e:
        tuss_train.main(train_args(data, tmp_path / "exp", TINY, epochs=1, extra=CHUNK))
    text = str(e.value) + capsys.readouterr().err
    assert "iterator_type chunk" in text and "utt2prompts" in text
