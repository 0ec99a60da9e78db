# SPDX-License-Identifier: Apache-2.0
"""Inference precision: fp32 unchanged, bf16 autocast close to it (SNR), "auto"
by the device's bf16 support, the FFN's matrix-product path under CPU autocast,
and the options of the commands."""

import numpy as np
import pytest
import soundfile as sf
import torch

from tuss_plugin import precision
from tuss_plugin.inference import SeparateAudio
from tuss_plugin.layers import ffn_kernels
from tuss_plugin.layers.tf_locoformer import SwiGLUConvDeconv1d

from conftest import TESTS

MIN_SNR_DB = 30.0  # bf16 outputs against fp32 ones (measured: 36-41 dB on the fixture)


def _snr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - est) ** 2)))


def test_precision_names_are_checked_and_auto_follows_the_device(monkeypatch, bf16_runs):
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, auto, got 'fp16'"):
        precision.resolve_precision("fp16")
    assert precision.resolve_precision("fp32") == "fp32" and precision.resolve_precision("bf16") == "bf16"
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(precision, "native_bf16", lambda device="cpu", n=native: n)
        assert precision.resolve_precision("auto", "cpu") == expected
    assert precision.native_bf16("mps") is False


def test_bad_precision_is_refused_before_loading(tmp_path):
    with pytest.raises(ValueError, match="precision must be one of"):
        SeparateAudio.from_pretrained(tmp_path / "missing", precision="half")


def test_bf16_outputs_are_close_to_fp32(model_dir, fixture_dir, bf16_runs):
    io = torch.load(fixture_dir / "io.pt", weights_only=True)
    mix = io["mixture"][0].numpy()
    fp32 = SeparateAudio.from_pretrained(model_dir)
    bf16 = SeparateAudio.from_pretrained(model_dir, precision="bf16")
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    for case in io["cases"][:2]:
        a = fp32(mix, fs=48000, prompts=case["prompts"])
        b = bf16(mix, fs=48000, prompts=case["prompts"])
        assert b.dtype == np.float32 and b.shape == a.shape
        assert np.abs(a - case["output"][0].numpy()).max() <= 1e-5  # fp32 is the release's output
        snrs = [_snr(x, y) for x, y in zip(a, b)]
        assert min(snrs) >= MIN_SNR_DB, (case["prompts"], snrs)
        assert max(snrs) < 120  # bf16 did run
    # the outputs differ, so does the fingerprint (fp32's keeps the keys of earlier versions)
    assert "precision" not in fp32.fingerprint() and bf16.fingerprint()["precision"] == "bf16"


def test_ffn_runs_as_matrix_products_under_cpu_autocast(monkeypatch):
    """Inference under CPU autocast: the FFN's product path in bf16 (not the
    convolution modules), close to the convolution modules under autocast;
    with autograd under autocast the convolution modules are used."""
    torch.manual_seed(0)
    ffn = SwiGLUConvDeconv1d(16, 24, conv1d_kernel=4).eval()
    x = torch.randn(5, 30, 16)
    calls = []
    fast = ffn_kernels._swiglu_ffn
    monkeypatch.setattr(ffn_kernels, "_swiglu_ffn", lambda *a, **k: calls.append(a[0].dtype) or fast(*a, **k))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = ffn(x)
        want = ffn._forward_conv(x)
    assert calls == [torch.bfloat16] and got.dtype == want.dtype == torch.bfloat16
    err = (got.float() - want.float()).norm() / want.float().norm()
    assert err < 2e-2, err
    calls.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ffn(x.requires_grad_())
    assert calls == []


def test_commands_take_precision(model_dir, tmp_path, bf16_runs):
    from tuss_plugin.bin import separate, tuss_inference

    x = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1
    sf.write(tmp_path / "mix.wav", x, 48000)
    outdir = tmp_path / "sep"
    argv = ["--model", str(model_dir), "--prompts", "speech", "sfxbg", "--outdir", str(outdir), "--quiet"]
    assert separate.main(argv + ["--precision", "bf16", str(tmp_path / "mix.wav")]) == 0
    bf16 = sf.read(outdir / "mix" / "1_speech.wav")[0]
    assert separate.main(argv + ["--precision", "fp32", str(tmp_path / "mix.wav")]) == 0
    fp32 = sf.read(outdir / "mix" / "1_speech.wav")[0]
    assert MIN_SNR_DB <= _snr(fp32, bf16) < 120
    assert separate.get_parser().parse_args(["--model", "m"]).precision == "auto"
    args = tuss_inference.parse_args(["--model", "m", "--data_dir", "d", "--output_dir", "o"])
    assert args.precision == "fp32"  # recipe scoring stays fp32 unless asked


def _no_bf16_units(monkeypatch):
    """This CPU as one without native bf16 units (AVX2 only), whatever it is."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv(precision.ALLOW_EMULATED_BF16, raising=False)


def test_onednn_isa_cap_removes_the_units_above_it(monkeypatch):
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    for cap in ("AVX2", "avx512_core_vnni", "SSE41"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert precision.cpu_bf16_units() == [] and precision.native_bf16("cpu") is False
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert "amx" not in precision.cpu_bf16_units()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert precision.cpu_bf16_units() == ["avx512_bf16"]
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert precision.cpu_bf16_units() == ["avx512_bf16", "amx"]


def test_explicit_bf16_is_refused_where_it_would_be_emulated(monkeypatch, tmp_path):
    _no_bf16_units(monkeypatch)
    with pytest.raises(precision.EmulatedBF16Error, match="no native bfloat16 units .* TUSS_ALLOW_EMULATED_BF16=1"):
        precision.resolve_precision("bf16")
    with pytest.raises(precision.EmulatedBF16Error, match="^precision bf16: "):
        SeparateAudio.from_pretrained(tmp_path / "missing", precision="bf16")  # before anything is loaded
    assert precision.resolve_precision("auto") == "fp32" and precision.resolve_precision("fp32") == "fp32"
    precision.check_bf16_request("cuda", "--bf16")  # only CPUs are judged here
    monkeypatch.setenv(precision.ALLOW_EMULATED_BF16, "1")  # the documented override
    assert precision.resolve_precision("bf16") == "bf16"


def test_commands_refuse_emulated_bf16_in_one_line(monkeypatch, tmp_path, model_dir, capsys):
    from tuss_plugin.bin import benchmark, separate

    _no_bf16_units(monkeypatch)
    x = np.zeros(4800, np.float32)
    sf.write(tmp_path / "mix.wav", x, 48000)
    outdir = tmp_path / "sep"
    argv = ["--model", str(model_dir), "--prompts", "speech", "--outdir", str(outdir), "--precision", "bf16"]
    assert separate.main(argv + [str(tmp_path / "mix.wav")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no native bfloat16 units" in err, err
    assert not outdir.exists() or not any(outdir.rglob("*.wav"))
    tiny = str(TESTS / "conf" / "tuss_tiny.yaml")
    assert benchmark.main(["--config", tiny, "--fs", "16000", "--prompts", "speech", "--bf16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("benchmark: --bf16: this CPU has no native bfloat16 units"), err
