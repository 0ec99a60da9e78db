# SPDX-License-Identifier: Apache-2.0
"""Inference paths of one TUSS model side by side (``benchmark --modes``).

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.

Every mode separates the same mixture with the same weights and prompts:

- ``eager_fp32`` / ``eager_bf16``: ``model.separate`` (the toolkit's
  kernels), float32 or bfloat16 autocast;
- ``onnxruntime_fp32``: the graph of ``tuss-export-onnx`` in onnxruntime
  (exported in this run unless ``--onnx`` names one; export time and size
  are reported);
- ``compile_fp32`` / ``compile_bf16``: ``torch.compile`` (Inductor's CPU
  backend, shapes fixed) of the plain-operator model
  (:class:`tuss_plugin.onnx.graph.ExportGraph`), float32 or bf16 autocast;
  the compilation happens in the warm-up runs and is reported apart;
- ``authors_fp32``: ``SeparationModel`` of the authors' release
  (merlresearch/unified-source-separation, a checkout named by
  ``--authors_code``, built from their ``hparams.yaml``, ``--authors_hparams``;
  its weights are the ones all modes use).

Each mode reports its time, ``gflop_per_s`` (the FLOPs of one eager float32
forward, :func:`tuss_plugin.benchmark.profiling.flop_counter`), ``efficiency`` against
the matmul of the same run in its dtype, its peak resident memory and how far
its outputs are from ``eager_fp32`` (max abs difference and SNR in dB).
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from tuss_plugin.benchmark.compare import MODES
from tuss_plugin.benchmark.profiling import (
    flop_counter,
    matmul_gflop_per_s,
    peak_rss_mb,
    reset_peak_rss,
    time_runs,
)
from tuss_plugin.precision import autocast


def _dtype(mode: str) -> torch.dtype:
    return torch.bfloat16 if mode.endswith("bf16") else torch.float32


def _autocast(mode: str):
    """bf16 autocast on the CPU for the ``*_bf16`` modes (:func:`tuss_plugin.precision.autocast`)."""
    return autocast("bf16" if mode.endswith("bf16") else "fp32", "cpu")


def authors_model(code_dir: str, hparams_file: str, fs: int) -> torch.nn.Module:
    """The authors' ``SeparationModel`` built from their ``hparams.yaml`` (their
    checkout ``code_dir`` first on ``sys.path``); ``ValueError`` naming what is missing."""
    import yaml

    root = Path(code_dir)
    if not (root / "nets" / "model_wrapper.py").is_file():
        raise ValueError(f"{code_dir}: not a checkout of the authors' release (no nets/model_wrapper.py)")
    with open(hparams_file, encoding="utf-8") as f:
        h = yaml.safe_load(f)
    sys.path.insert(0, str(root.resolve()))
    try:
        from nets.model_wrapper import SeparationModel
    except ImportError as e:
        raise ValueError(f"{code_dir}: the authors' code does not import ({e}; pip install -e '.[bench]')") from None
    css = {"segment_size": 6, "shift_size": 3, "normalize_segment_scale": False, "solve_perm": False}
    return SeparationModel(
        h["encoder_name"],
        h["encoder_conf"],
        h["decoder_name"],
        h["decoder_conf"],
        h["model_name"],
        h["model_conf"],
        dict(css, sample_rate=fs),
        h.get("variance_normalization", True),
    ).eval()


def load_authors_weights(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    """Give our model the weights of theirs (their keys are the release's without ``model.``)."""
    from tuss_plugin.convert.release import convert_state_dict

    state = convert_state_dict({f"model.{k}": v for k, v in theirs.state_dict().items()})
    try:
        ours.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"--authors_hparams does not describe the model of --config ({msg})") from None


def _steps(mode: str, model, mix: torch.Tensor, prompts: List[str], args, info: Dict) -> Callable[[], np.ndarray]:
    """The call that separates ``mix`` (1, L) in ``mode`` and returns (N, L) float32."""
    ids = torch.tensor([model.separator.vocab.encode(prompts)])  # (1, N)
    lengths = torch.tensor([mix.shape[1]])
    if mode.startswith("eager"):

        def step():
            with torch.inference_mode(), _autocast(mode):
                est = model.separate(mix, lengths, ids)[0]
            return torch.stack(est, 1)[0].float().numpy()

        return step
    if mode.startswith("compile"):
        from tuss_plugin.onnx.graph import ExportGraph

        compiled = torch.compile(ExportGraph(model).eval(), dynamic=False)

        def step():
            with torch.inference_mode(), _autocast(mode):
                return compiled(mix, ids - 1)[0].float().numpy()

        t0 = time.perf_counter()
        step()
        info["compile_seconds"] = round(time.perf_counter() - t0, 2)
        return step
    if mode == "onnxruntime_fp32":
        from tuss_plugin.onnx.runtime import OnnxModel

        path = args.onnx
        if path is None:
            from tuss_plugin.onnx.export import export_model

            path = str(Path(info.pop("_tmp")) / "model.onnx")
            ex = export_model(model, args.full_config, path)
            info.update(export_seconds=ex["seconds"], onnx_bytes=ex["bytes"], opset=ex["opset"])
        onnx = OnnxModel(path, threads=torch.get_num_threads())
        from tuss_plugin.inference.model_files import state_digest

        if onnx.weights_sha256 != state_digest(model.state_dict()):
            raise ValueError(f"{path}: exported from other weights than the benchmark's model")
        x, ids0 = mix.numpy(), ids.numpy() - 1
        return lambda: onnx.run(x, ids0)[0]
    if mode == "authors_fp32":
        theirs = info.pop("_authors")

        def step():
            with torch.inference_mode():
                # their forward scales its input in place and returns the whole iSTFT (cut here)
                return theirs(mix.clone(), [prompts])[0, :, : mix.shape[1]].float().numpy()

        return step
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


def _distance(y: np.ndarray, ref: np.ndarray) -> Dict[str, float]:
    err = float(np.abs(y - ref).max())
    noise = float(np.sum((y.astype(np.float64) - ref) ** 2))
    snr = 10 * math.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise) if noise > 0 else math.inf
    return {"max_abs_vs_eager_fp32": err, "snr_db_vs_eager_fp32": round(snr, 2) if math.isfinite(snr) else None}


def run_modes(model, modes: Sequence[str], n_samples: int, prompts: List[str], args) -> Dict:
    """``{"matmul_gflop_per_s": {dtype: ...}, "gflop": ..., "modes": {mode: figures}}`` (see the module docstring)."""
    g = torch.Generator().manual_seed(args.seed)
    mix = torch.randn(1, n_samples, generator=g) * 0.1  # (1, L)
    ids = torch.tensor([model.separator.vocab.encode(prompts)])
    model.eval()
    counter = flop_counter()
    with counter, torch.inference_mode():
        model.separate(mix, torch.tensor([n_samples]), ids)
    gflop = counter.get_total_flops() / 1e9
    dtypes = sorted({str(_dtype(m)).replace("torch.", "") for m in modes})
    matmul = {d: [matmul_gflop_per_s(torch.device("cpu"), n=args.matmul_size, dtype=getattr(torch, d))] for d in dtypes}
    authors = None
    if "authors_fp32" in modes:
        if not (args.authors_code and args.authors_hparams):
            raise ValueError("mode authors_fp32 needs --authors_code DIR and --authors_hparams FILE")
        authors = authors_model(args.authors_code, args.authors_hparams, args.model_fs)
        load_authors_weights(model, authors)
    out: Dict[str, Dict] = {}
    ref: Optional[np.ndarray] = None
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ["eager_fp32"] + [m for m in modes if m != "eager_fp32"]:
            info: Dict = {"_tmp": tmp, "_authors": authors}
            reset = reset_peak_rss()
            step = _steps(mode, model, mix, prompts, args, info)
            info.pop("_tmp", None), info.pop("_authors", None)
            cpu: List[float] = []
            times = time_runs(step, args.runs, args.warmup, torch.device("cpu"), cpu)
            y = step()
            med = statistics.median(times)
            d = str(_dtype(mode)).replace("torch.", "")
            out[mode] = {
                "dtype": d,
                "seconds_median": round(med, 4),
                "seconds_all": [round(t, 4) for t in times],
                "cpu_seconds_median": round(statistics.median(cpu), 4),
                "gflop_per_s": round(gflop / med, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "peak_rss_is_per_mode": reset,
                **info,
            }
            if mode == "eager_fp32":
                ref = y
            out[mode].update(_distance(y, ref))
    for d in dtypes:
        matmul[d].append(matmul_gflop_per_s(torch.device("cpu"), n=args.matmul_size, dtype=getattr(torch, d)))
    best = {d: max(v) for d, v in matmul.items()}
    for mode, r in out.items():
        r["efficiency"] = round(r["gflop_per_s"] / best[r["dtype"]], 4)
    wanted = {m: out[m] for m in modes if m in out}
    return {
        "gflop": round(gflop, 3),
        "matmul_gflop_per_s": {d: round(v, 3) for d, v in best.items()},
        "matmul_gflop_per_s_before_after": {d: [round(x, 3) for x in v] for d, v in matmul.items()},
        "modes": wanted if "eager_fp32" in modes else {"eager_fp32": out["eager_fp32"], **wanted},
    }
