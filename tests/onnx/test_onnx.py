# SPDX-License-Identifier: Apache-2.0
"""ONNX: the export has dynamic batch, length and prompt count, onnxruntime
gives torch's outputs, SeparateAudio and tuss-separate run the graph without
importing torch, and a packed model carries it. One tiny TUSS
(tests/conf/tuss_tiny.yaml, random weights) is exported once per session."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conftest import ROOT, TESTS

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An experiment dir (config.yaml, model.pth) of the tiny config with random weights."""
    from tuss_plugin.benchmark.measure import build_model
    from tuss_plugin.convert.release import full_config

    root = tmp_path_factory.mktemp("tiny_onnx")
    config = full_config(yaml.safe_load((TESTS / "conf" / "tuss_tiny.yaml").read_text()))
    config["fs"] = 16000
    torch.manual_seed(0)
    model = build_model(config)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), root / "model.pth")
    return root


@pytest.fixture(scope="module")
def tiny_onnx(tiny_model_dir) -> Path:
    """``tiny_model_dir/model.onnx``, written by the export CLI."""
    from tuss_plugin.bin import export_onnx

    out = tiny_model_dir / "model.onnx"
    assert export_onnx.main(["--model", str(tiny_model_dir), "--output", str(out)]) == 0
    return out


TOL = 1e-4
PROMPT_LISTS = [
    ["speech"],
    ["speech", "sfxbg"],
    ["speech", "sfxbg", "musicbg"],
    ["drums", "bass", "vocals", "other"],
    ["speech", "speech"],  # repeated prompts
    ["sfx", "sfx", "speech"],
]


@pytest.fixture(scope="module")
def seps(tiny_model_dir, tiny_onnx):
    from tuss_plugin.inference import SeparateAudio

    return (
        SeparateAudio.from_pretrained(tiny_model_dir),
        SeparateAudio.from_pretrained(tiny_onnx, backend="onnxruntime", threads=1),
    )


def test_graph_has_dynamic_axes_and_the_vocabulary(tiny_onnx, seps):
    import onnx

    from tuss_plugin.onnx.metadata import OPSET

    m = onnx.load(str(tiny_onnx))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
    # batch, length and the number of prompts are symbols, not numbers
    assert all(isinstance(d, str) and d for d in dims["mixture"] + dims["prompt_ids"]), dims
    assert dims["mixture"][0] == dims["prompt_ids"][0]
    meta = {p.key: p.value for p in m.metadata_props}
    assert json.loads(meta["tuss.prompts"]) == seps[0].prompts
    assert int(meta["tuss.fs"]) == 16000 and int(meta["tuss.max_prompts"]) == 4
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]


@pytest.mark.parametrize("prompts", PROMPT_LISTS, ids=lambda p: "-".join(p))
def test_onnxruntime_equals_torch(seps, prompts):
    """1 to 4 prompts, repeats included, in one graph; two channels as a batch; 1 s."""
    _check_equal(seps, prompts, seconds=1.0, channels=2)


@pytest.mark.parametrize("prompts", [["speech", "sfxbg", "musicbg"], ["speech", "speech"]], ids="-".join)
def test_onnxruntime_equals_torch_6s(seps, prompts):
    _check_equal(seps, prompts, seconds=6.0, channels=1)


def _check_equal(seps, prompts, seconds, channels):
    torch_sep, ort_sep = seps
    rng = np.random.default_rng(len(prompts))
    x = rng.uniform(-0.3, 0.3, (int(seconds * 16000), channels)).astype(np.float32)
    ref = torch_sep.separate_block(x, prompts)  # (N, L, C)
    got = ort_sep.separate_block(x, prompts)
    assert got.shape == ref.shape == (len(prompts), x.shape[0], channels)
    assert np.abs(got - ref).max() <= TOL


def test_separate_audio_api_any_rate_segments(seps):
    """The whole SeparateAudio path (resampling, segments, alignment of repeats) is shared."""
    torch_sep, ort_sep = seps
    x = np.random.default_rng(3).uniform(-0.3, 0.3, (22050, 2)).astype(np.float32)  # 0.5 s at 44.1 kHz
    for sep in seps:
        sep.set_segments(0.2, 0.1)
    try:
        ref = torch_sep(x, 44100, ["speech", "speech", "sfxbg"])
        got = ort_sep(x, 44100, ["speech", "speech", "sfxbg"])
    finally:
        for sep in seps:
            sep.set_segments(None)
    assert got.shape == ref.shape == (3, 22050, 2)
    assert np.abs(got - ref).max() <= TOL
    assert ort_sep.fingerprint()["weights"] == torch_sep.fingerprint()["weights"]


def test_bad_prompt_lists_and_options_are_refused(seps, tiny_onnx):
    from tuss_plugin.inference import SeparateAudio

    ort_sep = seps[1]
    x = np.zeros((1600, 1), np.float32)
    with pytest.raises(ValueError, match="at most 4"):
        ort_sep.separate_block(x, ["speech"] * 5)
    with pytest.raises(ValueError, match="sfxbg"):
        ort_sep.separate_block(x, ["sfx", "sfxbg"])  # the vocabulary's exclusion rule
    with pytest.raises(ValueError, match="float32"):
        SeparateAudio.from_pretrained(tiny_onnx, backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="backend"):
        SeparateAudio.from_pretrained(tiny_onnx, backend="tensorrt")
    with pytest.raises(ValueError, match="not a readable ONNX"):
        SeparateAudio.from_pretrained(tiny_onnx.parent / "config.yaml", backend="onnxruntime")


NO_TORCH_CLI = """
import json, sys
from tuss_plugin.bin import separate
rc = separate.main(sys.argv[1:])
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules}))
"""


def test_cli_onnxruntime_without_torch(tiny_model_dir, tiny_onnx, tmp_path):
    """tuss-separate --backend onnxruntime in a fresh interpreter: no torch
    imported; segment-wise, 44.1 kHz stereo; the outputs of the torch backend."""
    from tuss_plugin.bin import separate

    x = np.random.default_rng(5).uniform(-0.3, 0.3, (44100 // 2, 2)).astype(np.float32)
    sf.write(tmp_path / "mix.wav", x, 44100, subtype="FLOAT")
    opts = ["--prompts", "speech", "musicbg", "--segment", "0.25", "--hop", "0.125", "--quiet"]
    r = subprocess.run(
        [sys.executable, "-c", NO_TORCH_CLI, "--backend", "onnxruntime", "--model", str(tiny_onnx),
         "--outdir", str(tmp_path / "ort"), *opts, str(tmp_path / "mix.wav")],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"rc": 0, "torch": False}
    assert separate.main(["--model", str(tiny_model_dir), "--outdir", str(tmp_path / "pt"), *opts,
                          "--device", "cpu", "--precision", "fp32", str(tmp_path / "mix.wav")]) == 0  # fmt: skip
    for name in ("1_speech.wav", "2_musicbg.wav"):
        got, fs = sf.read(tmp_path / "ort" / "mix" / name, dtype="float32")
        ref, _ = sf.read(tmp_path / "pt" / "mix" / name, dtype="float32")
        assert fs == 44100 and got.shape == ref.shape == x.shape
        assert np.abs(got - ref).max() <= TOL


def test_packed_model_carries_the_graph(tiny_model_dir, tiny_onnx, tmp_path, monkeypatch):
    """ESPnet's pack with the graph as an option (recipe stage 7, --pack_onnx true):
    both backends load the zip; a zip without the graph is refused in one line."""
    import shutil

    from espnet2.main_funcs.pack_funcs import pack

    from tuss_plugin.inference import SeparateAudio

    exp = tmp_path / "exp" / "enh_tiny"
    exp.mkdir(parents=True)
    for name in ("config.yaml", "model.pth", "model.onnx"):
        shutil.copy(tiny_model_dir / name, exp / name)
    monkeypatch.chdir(tmp_path)
    files = {"model_file": "exp/enh_tiny/model.pth"}
    pack(files=files, yaml_files={"train_config": "exp/enh_tiny/config.yaml"}, outpath="with.zip",
         option=["exp/enh_tiny/model.onnx"])  # fmt: skip
    pack(files=files, yaml_files={"train_config": "exp/enh_tiny/config.yaml"}, outpath="without.zip")
    cache = tmp_path / "cache"
    ort_sep = SeparateAudio.from_pretrained(tmp_path / "with.zip", backend="onnxruntime", cache_dir=str(cache))
    torch_sep = SeparateAudio.from_pretrained(tmp_path / "with.zip", cache_dir=str(cache))
    x = np.random.default_rng(7).uniform(-0.3, 0.3, (8000, 1)).astype(np.float32)
    assert np.abs(ort_sep.separate_block(x, ["speech"]) - torch_sep.separate_block(x, ["speech"])).max() <= TOL
    with pytest.raises(FileNotFoundError, match="carries no exp/enh_tiny/model.onnx"):
        SeparateAudio.from_pretrained(tmp_path / "without.zip", backend="onnxruntime", cache_dir=str(cache))


def test_benchmark_modes_json(tiny_onnx, capsys, bf16_runs):
    """benchmark --modes: one entry per mode with time, GFLOP/s, efficiency against the
    matmul of its dtype, peak memory and the distance from eager float32; the CPU named."""
    from tuss_plugin.bin import benchmark

    cmd = ["--config", str(TESTS / "conf" / "tuss_tiny.yaml"), "--seconds", "0.25", "--fs", "16000", "--threads",
           "1", "--prompts", "speech", "sfxbg", "--runs", "3", "--warmup", "0", "--modes", "eager_bf16",
           "onnxruntime_fp32", "--matmul-size", "256", "--onnx", str(tiny_onnx)]  # fmt: skip
    assert benchmark.main(cmd) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["machine"]["cpu_model"] and r["gflop"] > 0 and r["flops_counted"] == "forward"
    assert set(r["modes"]) == {"eager_fp32", "eager_bf16", "onnxruntime_fp32"}  # the reference always
    assert set(r["matmul_gflop_per_s"]) == {"float32", "bfloat16"}
    for mode, m in r["modes"].items():
        assert m["dtype"] == ("bfloat16" if mode.endswith("bf16") else "float32")
        assert len(m["seconds_all"]) == 3 and m["seconds_median"] > 0 and m["peak_rss_mb"] > 0
        assert m["gflop_per_s"] == pytest.approx(r["gflop"] / m["seconds_median"], rel=1e-2)
        assert m["efficiency"] == pytest.approx(m["gflop_per_s"] / r["matmul_gflop_per_s"][m["dtype"]], rel=1e-2)
    assert r["modes"]["onnxruntime_fp32"]["max_abs_vs_eager_fp32"] <= TOL
    assert r["modes"]["eager_bf16"]["snr_db_vs_eager_fp32"] > 20
    # refused: modes of another task, a graph of other weights
    assert benchmark.main(cmd + ["--mode", "train"]) == 2
    assert benchmark.main(cmd[:-1] + [str(tiny_onnx), "--seed", "1"]) == 2
    assert "other weights" in capsys.readouterr().err
    # a bf16 mode where bf16 would be emulated (oneDNN capped at AVX2): one line, nothing measured
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
        mp.delenv("TUSS_ALLOW_EMULATED_BF16")
        assert benchmark.main(cmd) == 2
    err = capsys.readouterr()
    assert err.out == "" and "--modes eager_bf16: this CPU has no native bfloat16 units" in err.err
