# SPDX-License-Identifier: Apache-2.0
"""A stock ESPnet separator (TF-GridNetV2) as a task specialist through TUSSTask."""

import numpy as np
import torch
import yaml

from tuss_plugin.inference import SeparateAudio
from tuss_plugin.tasks.tuss import TUSSTask

from conftest import ROOT

CONF = ROOT / "egs" / "mini_tuss" / "tuss1" / "conf" / "tuning" / "train_tfgridnetv2_se.yaml"


def test_specialist_trains_and_separates(tmp_path):
    parser = TUSSTask.get_parser()
    args = parser.parse_args(["--config", str(CONF), "--fs", "16000"])
    model = TUSSTask.build_model(args)
    n = 4000
    refs = [torch.randn(2, n) * 0.1, torch.randn(2, n) * 0.05]
    batch = {
        "speech_mix": refs[0] + refs[1],
        "speech_mix_lengths": torch.tensor([n, n]),
        "speech_ref1": refs[0],
        "speech_ref2": refs[1],
        "prompts": torch.tensor([[1, 3], [1, 3]]),
        "prompts_lengths": torch.tensor([2, 2]),
    }
    loss, stats, _ = model(**batch)
    loss.backward()
    assert torch.isfinite(loss)
    # prompts reached the loss: distinct prompts keep their order
    _, _, _, others = model.separate(batch["speech_mix"], batch["speech_mix_lengths"], batch["prompts"])
    assert others["prompts"].tolist() == [[1, 3], [1, 3]]
    config = vars(args)
    config.pop("config", None)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), tmp_path / "model.pth")
    sep = SeparateAudio.from_pretrained(tmp_path)
    assert sep.fs == 16000 and sep.vocab is None
    out = sep(np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1, fs=16000)
    assert out.shape == (2, 8000)


def test_espnet_load_knows_tuss():
    import espnet

    tasks = getattr(espnet, "TASKS", None)
    if tasks is not None:  # espnet >= 202611
        assert tasks["tuss"] == ("tuss_plugin.inference", "SeparateAudio")
