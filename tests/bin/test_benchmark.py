# SPDX-License-Identifier: Apache-2.0
"""Smoke test of the benchmark CLI on the tiny config (figures are not checked for speed)."""

import json

from tuss_plugin.benchmark.profiling import flop_counter
from tuss_plugin.bin import benchmark

from conftest import TESTS

TINY = str(TESTS / "conf" / "tuss_tiny.yaml")
KEYS = (
    "params",
    "gflop",
    "seconds_median",
    "gflop_per_s",
    "matmul_gflop_per_s",
    "efficiency",
    "peak_rss_mb",
    "torch",
    "espnet",
)


def _run(capsys, *extra):
    rc = benchmark.main(
        [
            "--config",
            TINY,
            "--seconds",
            "0.25",
            "--fs",
            "16000",
            "--threads",
            "1",
            "--prompts",
            "speech",
            "sfxbg",
            "--matmul-size",
            "256",  # a small reference: quick also where bf16 is emulated (tests check fields, not speed)
            *extra,
        ]
    )
    assert rc == 0
    return json.loads(capsys.readouterr().out)


def _sane(r):
    assert r["params"] > 0 and r["gflop"] > 0 and r["seconds_median"] > 0
    assert r["gflop_per_s"] > 0 and r["peak_rss_mb"] > 0
    assert r["efficiency"] > 0


def test_infer_and_train(capsys):
    r = _run(capsys)
    for k in KEYS:
        assert k in r, k
    _sane(r)
    assert r["mode"] == "infer" and r["flops_counted"] == "forward" and len(r["seconds_all"]) == 3
    assert r["params"] == r["separator_params"] == 189128
    # the hardware of the figure
    m = r["machine"]
    assert m["cpu_model"] and m["cpu_count"] >= 1 and isinstance(m["cpu_capability"], str)
    assert set(m["cpu_bf16_units"]) <= {"avx512_bf16", "amx"}
    # the faster of the two matmul measurements is the reference
    assert r["matmul_gflop_per_s"] == max(r["matmul_gflop_per_s_before_after"])
    assert abs(r["efficiency"] - r["gflop_per_s"] / r["matmul_gflop_per_s"]) < 1e-3
    t = _run(capsys, "--mode", "train", "--compare", "bsrnn")
    _sane(t)
    # forward + backward costs more than the forward alone
    assert t["flops_counted"] == "forward+backward" and t["gflop"] > 2 * r["gflop"]
    _sane(t["compare"]["bsrnn"])
    assert t["compare"]["bsrnn"]["efficiency"] > 0


def test_bf16_run_has_a_bf16_matmul_reference(capsys, bf16_runs):
    """--bf16: efficiency against the bfloat16 matmul of the same run; the
    float32 reference is reported beside it."""
    r = _run(capsys, "--bf16", "--runs", "3", "--warmup", "0")
    _sane(r)
    assert r["bf16"] is True and r["matmul_dtype"] == "bfloat16" and r["matmul_float32_gflop_per_s"] > 0
    assert abs(r["efficiency"] - r["gflop_per_s"] / r["matmul_gflop_per_s"]) < 1e-3
    assert _run(capsys)["matmul_dtype"] == "float32"


def test_flop_counter_counts_attention_on_the_cpu():
    """torch has no FLOP formula for its CPU attention kernel; the benchmark's counter adds torch's own."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    q = torch.randn(2, 3, 11, 8, requires_grad=True)
    fwd = sdpa_flop_count(q.shape, q.shape, q.shape)
    with flop_counter() as counter:
        out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert counter.get_total_flops() == fwd
    with flop_counter() as counter:
        out.sum().backward()
    assert counter.get_total_flops() == sdpa_backward_flop_count(q.shape, q.shape, q.shape, q.shape)
    # the counter is the only difference from plain FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as plain, flop_counter() as ours:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert ours.get_total_flops() == fwd >= plain.get_total_flops()


def test_bf16_autocast_on_cpu(capsys, bf16_runs):
    """--bf16 (meant for GPUs) must not break on the CPU."""
    for mode in ("infer", "train"):
        r = _run(capsys, "--bf16", "--mode", mode)
        _sane(r)
        assert r["bf16"] is True


def test_errors(capsys, tmp_path):
    assert benchmark.main(["--config", TINY, "--fs", "48000"]) == 2
    assert "fs=16000" in capsys.readouterr().err
    assert benchmark.main(["--config", TINY, "--prompts", "sfx", "sfxbg"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert benchmark.main(["--config", TINY, "--runs", "2"]) == 2
    assert "--runs must be >= 3 (got 2)" in capsys.readouterr().err
    assert benchmark.main(["--config", TINY, "--batch_size", "0"]) == 2
    assert "--batch_size must be >= 1 (got 0)" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\n")
    try:
        benchmark.main(["--config", str(bad)])
    except SystemExit as e:
        assert "bad.yaml" in str(e)
    else:
        raise AssertionError("a config without a separator must be refused")


def test_train_step_with_the_configs_optimiser_and_a_batch(capsys, tmp_path):
    """--mode train steps the optimiser of the config (here fused AdamW) and
    reports its update time; --batch_size mixtures per step."""
    import yaml

    conf = yaml.safe_load(open(TINY))
    conf.update(optim="adamw", optim_conf={"lr": 1.0e-3, "weight_decay": 1.0e-2, "fused": True})
    path = tmp_path / "tiny_fused.yaml"
    path.write_text(yaml.safe_dump(conf))
    one = _run(capsys, "--mode", "train")
    assert one["batch_size"] == 1 and one["optimizer"] == "AdamW"  # no optim in the config: AdamW at 1e-4
    rc = benchmark.main(
        ["--config", str(path), "--seconds", "0.25", "--threads", "1", "--prompts", "speech", "sfxbg"]
        + ["--matmul-size", "256", "--mode", "train", "--batch_size", "2"]
    )
    assert rc == 0
    two = json.loads(capsys.readouterr().out)
    _sane(two)
    assert two["batch_size"] == 2 and two["optimizer"] == "AdamW (fused)"
    assert 0 < two["optimizer_seconds_median"] < two["seconds_median"]
    assert abs(two["gflop"] - 2 * one["gflop"]) < 0.02 * two["gflop"]
