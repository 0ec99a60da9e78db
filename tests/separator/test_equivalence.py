# SPDX-License-Identifier: Apache-2.0
"""The plugin reproduces the authors' implementation on the reference fixture."""

import json
import os

import numpy as np
import pytest
import torch

from tuss_plugin.bin import import_release
from tuss_plugin.convert.release import convert_state_dict, full_config, hparams_to_conf
from tuss_plugin.inference import SeparateAudio

TOL = 1e-5
# TUSS_TEST_DEVICE=cuda runs the comparison on a GPU (tools/gpu_check.sh), in
# float32 proper: TF32 matrix products and convolutions are turned off
DEVICE = os.environ.get("TUSS_TEST_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _float32_on_gpu():
    if DEVICE == "cpu":
        yield
        return
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("TUSS_TEST_DEVICE=cuda but CUDA is not available")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    from conftest import TESTS

    fx = TESTS / "fixtures" / "reference_tuss"
    out = tmp_path_factory.mktemp("imported")
    rc = import_release.main(
        ["--hparams", str(fx / "hparams.yaml"), "--checkpoint", str(fx / "model.pth"), "--outdir", str(out)]
    )
    assert rc == 0
    return out, torch.load(fx / "io.pt", weights_only=True)


def test_waveform_level(imported):
    out, io = imported
    sep = SeparateAudio.from_pretrained(out, device=DEVICE)
    mix = io["mixture"][0].numpy()
    assert len(io["cases"]) == 5
    for case in io["cases"]:
        est = sep(mix, fs=io.get("sample_rate", 48000), prompts=case["prompts"])
        ref = case["output"][0].numpy()
        assert est.shape == ref.shape and est.dtype == np.float32
        err = np.abs(est - ref).max()
        assert err <= TOL, (case["prompts"], err)


def test_stft_level(imported):
    """Separator alone, STFT in and out.

    The spectra reach |X| ~ 700, where one float32 ulp is ~6e-5, so the error is
    checked on the mask (output / input, |mask| <= ~0.5) and relative to the
    largest output bin.
    """
    out, io = imported
    sep = SeparateAudio.from_pretrained(out, device=DEVICE)
    case = io["separator_case"]
    x = case["stft_input"]
    with torch.inference_mode():
        est, _, _ = sep.model.separator(
            x.to(DEVICE), torch.tensor([x.shape[1]], device=DEVICE), {"prompts": case["prompts"]}
        )
    est = torch.stack(est, dim=1).cpu()
    ref = case["stft_output"]
    assert est.shape == ref.shape
    diff = (est - ref).abs()
    mask_err = (diff / x.unsqueeze(1).abs().clamp(min=1e-3)).max().item()
    assert mask_err <= TOL, mask_err
    assert diff.max().item() / ref.abs().max().item() <= TOL


def test_rope_tables_match_release(fixture_dir):
    state = torch.load(fixture_dir / "model.pth", weights_only=True)
    freqs = {k: v for k, v in state.items() if k.endswith("rope.freqs")}
    assert freqs
    for k, v in freqs.items():
        d = 2 * v.numel()
        assert torch.allclose(v, 10000 ** (-torch.arange(0, d, 2).float() / d)), k


def test_medium_release_converts(fixture_dir, tmp_path):
    """A Medium checkpoint in the release format (909 keys) loads strictly."""
    import argparse

    import yaml

    from tuss_plugin.tasks.tuss import TUSSTask

    shapes = json.loads((fixture_dir / "medium_state_dict_shapes.json").read_text())
    assert len(shapes) == 909
    hparams = yaml.safe_load((fixture_dir / "medium_hparams.yaml").read_text())
    model = TUSSTask.build_model(argparse.Namespace(**full_config(hparams_to_conf(hparams))))
    release = {k: torch.randn(v) for k, v in shapes.items()}
    state = convert_state_dict(release)
    for k, v in state.items():
        if k.endswith("rope.freqs"):
            state[k] = model.state_dict()[k]
    model.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in model.separator.parameters()) == 11_132_352
    # the CLI path, through files
    torch.save(release, tmp_path / "model.pth")
    rc = import_release.main(
        [
            "--hparams",
            str(fixture_dir / "medium_hparams.yaml"),
            "--checkpoint",
            str(tmp_path / "model.pth"),
            "--outdir",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0 and (tmp_path / "out" / "config.yaml").exists()


def test_mismatched_checkpoint_is_an_error(fixture_dir, tmp_path, capsys):
    state = torch.load(fixture_dir / "model.pth", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, tmp_path / "bad.pth")
    rc = import_release.main(
        [
            "--hparams",
            str(fixture_dir / "medium_hparams.yaml"),
            "--checkpoint",
            str(tmp_path / "bad.pth"),
            "--outdir",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 1
    assert "does not match" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.pth").exists()
