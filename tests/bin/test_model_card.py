# SPDX-License-Identifier: Apache-2.0
"""The model card of stage 8 carries what ESPnet's Hugging Face cards carry: the
recipe's ``--download_model`` usage line, the training config, ESPnet's
citations beside the paper's, datasets and language tags, and the packed
default prompts that ESPnet's SeparateSpeech uses."""

import shutil

import yaml

from tuss_plugin.bin import make_model_card, pack_config


def test_card_has_espnet_usage_config_and_citations(model_dir, tmp_path):
    from espnet2.main_funcs.pack_funcs import pack

    exp = tmp_path / "exp" / "enh_x"
    exp.mkdir(parents=True)
    shutil.copy(model_dir / "config.yaml", exp / "config.yaml")
    shutil.copy(model_dir / "model.pth", exp / "model.pth")
    assert pack_config.main(["--config", str(exp / "config.yaml"), "--out", str(exp / "packed" / "config.yaml"),
                             "--prompts", "speech sfxbg"]) == 0  # fmt: skip
    zip_path = exp / "x.zip"
    pack(files={"model_file": exp / "model.pth"}, yaml_files={"train_config": exp / "packed" / "config.yaml"},
         option=[], outpath=str(zip_path))  # fmt: skip
    out = exp / "model_card"
    args = ["--packed", str(zip_path), "--exp", str(exp), "--outdir", str(out), "--recipe", "vctk_demand"]
    assert make_model_card.main(args + ["--hf_repo", "someone/tuss"]) == 0
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["datasets"] == ["vctk_demand"] and front["language"] == ["en"]
    assert "./run.sh --skip_data_prep false --skip_train true --download_model someone/tuss" in card
    assert 'SeparateSpeech.from_pretrained("someone/tuss")' in card
    assert "default prompts\n(`speech`, `sfxbg`)" in card
    assert "separator: tuss" in card  # the training config, verbatim
    assert "li2021espnetse" in card and "watanabe2018espnet" in card and "saijo2025tuss" in card
