# SPDX-License-Identifier: Apache-2.0
"""Which model file of an experiment is used: by default the average of the best
checkpoints (ESPnet's valid.loss.ave.pth), by SeparateAudio.from_pretrained and by
the recipes' stage 5 alike, with a documented fallback."""

import logging
import os
import subprocess
from pathlib import Path

import pytest
import torch

from tuss_plugin.inference import SeparateAudio
from tuss_plugin.inference.model_files import default_model_file

from conftest import ROOT

RECIPE = ROOT / "egs" / "mini_tuss" / "tuss1"


def _scaled(state: dict, factor: float) -> dict:
    return {k: v * factor if v.is_floating_point() else v for k, v in state.items()}


def _espnet_exp(model_dir: Path, d: Path, ave: bool = True) -> Path:
    """An experiment dir as ESPnet's trainer leaves it after two epochs with
    keep_nbest_models 2: epoch files, the best/latest links, the average of the
    two epochs (valid.loss.ave_2best.pth) and its link valid.loss.ave.pth."""
    d.mkdir(parents=True)
    (d / "config.yaml").write_bytes((model_dir / "config.yaml").read_bytes())
    first = torch.load(model_dir / "model.pth", weights_only=True)
    torch.save(first, d / "1epoch.pth")
    torch.save(_scaled(first, 0.5), d / "2epoch.pth")
    (d / "valid.loss.best.pth").symlink_to("1epoch.pth")
    (d / "latest.pth").symlink_to("2epoch.pth")
    if ave:
        torch.save(_scaled(first, 0.75), d / "valid.loss.ave_2best.pth")
        (d / "valid.loss.ave.pth").symlink_to("valid.loss.ave_2best.pth")
    return d


@pytest.mark.parametrize(
    "files,chosen",
    [
        (
            ["valid.loss.ave.pth", "valid.loss.best.pth", "latest.pth", "checkpoint.pth", "3epoch.pth"],
            "valid.loss.ave.pth",
        ),
        (["valid.loss.best.pth", "latest.pth", "checkpoint.pth", "3epoch.pth"], "valid.loss.best.pth"),
        (["latest.pth", "checkpoint.pth", "3epoch.pth"], "latest.pth"),
        (["checkpoint.pth", "3epoch.pth"], "checkpoint.pth"),
        (["2epoch.pth", "10epoch.pth", "3epoch.pth"], "10epoch.pth"),
        (["model.pth", "valid.loss.ave.pth"], "model.pth"),  # an imported reference dir
    ],
)
def test_default_model_file_order(tmp_path, files, chosen):
    for name in files:
        (tmp_path / name).write_bytes(b"")
    assert default_model_file(tmp_path) == tmp_path / chosen


def test_dangling_average_link_falls_back(tmp_path):
    (tmp_path / "valid.loss.ave.pth").symlink_to("valid.loss.ave_5best.pth")  # its target was removed
    (tmp_path / "valid.loss.best.pth").write_bytes(b"")
    assert default_model_file(tmp_path) == tmp_path / "valid.loss.best.pth"


def test_no_model_file_is_one_line_error(tmp_path):
    (tmp_path / "config.yaml").write_text("separator: tuss\n")
    with pytest.raises(FileNotFoundError) as e:
        default_model_file(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path}: no model file (") and "valid.loss.ave.pth, valid.loss.best.pth" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("ave", [True, False])
def test_from_pretrained_loads_the_default_file_and_says_so(model_dir, tmp_path, caplog, ave):
    exp = _espnet_exp(model_dir, tmp_path / "exp", ave=ave)
    expected = torch.load(exp / ("valid.loss.ave.pth" if ave else "valid.loss.best.pth"), weights_only=True)
    with caplog.at_level(logging.INFO, logger="tuss_plugin.inference"):
        sep = SeparateAudio.from_pretrained(exp)
    state = sep.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    name = "valid.loss.ave.pth" if ave else "valid.loss.best.pth"
    assert f"{exp}: model file {name}" in caplog.text


@pytest.fixture
def recipe(tmp_path):
    """A run dir of the shared stage script (no data: stage 5 runs with no evaluation mode)."""
    work = tmp_path / "recipe"
    work.mkdir()
    for name in ("tuss.sh", "path.sh", "cmd.sh", "utils"):
        os.symlink((RECIPE / name).resolve(), work / name)
    (work / "conf").mkdir()
    (work / "conf" / "train.yaml").write_text("separator: tuss\n")
    return work


@pytest.mark.parametrize("case", ["default", "explicit"])
def test_stage5_default_is_the_file_from_pretrained_loads(model_dir, recipe, case):
    """Stage 5 (with no evaluation mode: no inference) names its model file; the
    fallback without valid.loss.ave.pth is default_model_file's, tested above."""
    exp = _espnet_exp(model_dir, recipe / "exp" / "enh_train")
    extra = ["--inference_model", "latest.pth"] if case == "explicit" else []
    r = subprocess.run(
        [
            "./tuss.sh",
            "--train_set",
            "train",
            "--valid_set",
            "dev",
            "--test_sets",
            "test",
            "--train_config",
            "conf/train.yaml",
            "--stage",
            "5",
            "--stop_stage",
            "5",
            "--eval_modes",
            "",
            *extra,
        ],
        cwd=recipe,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    name = "latest.pth" if case == "explicit" else "valid.loss.ave.pth"
    assert f"Stage 5: inference with exp/enh_train/{name}" in r.stdout
    if case == "default":
        assert default_model_file(exp).name == name
        assert f"Model file: exp/enh_train/{name} (default of --inference_model" in r.stdout
