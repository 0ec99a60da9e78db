# SPDX-License-Identifier: Apache-2.0
"""Speed and compute of one model (``tuss_plugin.bin.benchmark --mode infer|train``).

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
:func:`measure` times waveform-to-waveform separation of a batch of mixtures
(``infer``) or one training step (``train``: forward with the loss, backward
and the update of the config's optimiser) and counts its FLOPs;
:func:`compare_separators` does the same for ESPnet's stock separators at a
comparable size (:mod:`tuss_plugin.benchmark.compare`). The figures are
described in the docstring of ``tuss_plugin.bin.benchmark``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Dict, List, Optional

import torch

from tuss_plugin.benchmark.compare import compare_conf
from tuss_plugin.benchmark.profiling import flop_counter, peak_rss_mb, reset_peak_rss, sync, time_runs
from tuss_plugin.precision import autocast


# ---------------------------------------------------------------- models
def load_config(path: str) -> Dict:
    import yaml

    try:
        with open(path) as f:
            conf = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise SystemExit(f"{path}: cannot read the config ({e})")
    if not isinstance(conf, dict) or "separator" not in conf:
        raise SystemExit(f"{path}: not a training config (no 'separator' key)")
    return conf


def build_model(conf: Dict) -> torch.nn.Module:
    """``TUSSTask`` model from a (partial) training config."""
    from tuss_plugin.convert.release import full_config
    from tuss_plugin.tasks.tuss import TUSSTask

    return TUSSTask.build_model(argparse.Namespace(**full_config(conf)))


# ---------------------------------------------------------------- measurement
def build_optimizer(model: torch.nn.Module, conf: Optional[Dict]) -> torch.optim.Optimizer:
    """The optimiser of a training config (``optim``, ``optim_conf``; ESPnet's
    table of names), as the trainer builds it; AdamW at 1e-4 without a config."""
    if not conf or "optim" not in conf:
        return torch.optim.AdamW(model.parameters(), lr=1e-4)
    from espnet2.tasks.abs_task import optim_classes

    name = str(conf["optim"]).lower()
    if name not in optim_classes:
        raise SystemExit(f"optim {conf['optim']!r}: not one of ESPnet's optimisers ({', '.join(optim_classes)})")
    return optim_classes[name](model.parameters(), **(conf.get("optim_conf") or {}))


def _train_step(model, batch: Dict, bf16: bool, device: torch.device, optimizer, optim_times: List[float]):
    """``(step, fwd_bwd)`` of one training step: forward with the loss, backward,
    the optimiser's update (its wall time appended to ``optim_times``)."""
    model.train()

    def fwd_bwd() -> None:
        with autocast("bf16" if bf16 else "fp32", device):
            loss, _, _ = model(**batch)
        loss.backward()

    def step() -> None:
        fwd_bwd()
        sync(device)
        t0 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        optim_times.append(time.perf_counter() - t0)

    return step, fwd_bwd


def measure(
    model: torch.nn.Module,
    mode: str,
    n_samples: int,
    prompt_ids: Optional[torch.Tensor],
    device: torch.device,
    bf16: bool,
    runs: int,
    warmup: int,
    seed: int,
    batch_size: int = 1,
    train_conf: Optional[Dict] = None,
) -> Dict:
    """Figures of one model (see the module docstring). ``batch_size``: mixtures
    per run (1); ``train_conf``: the training config whose optimiser the
    ``train`` mode steps (default: AdamW at 1e-4)."""
    model.to(device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    n_src = int(prompt_ids.shape[1]) if prompt_ids is not None else 1
    refs = [(torch.randn(batch_size, n_samples, generator=g) * 0.1).to(device) for _ in range(n_src)]
    mix = sum(refs)  # (B, L)
    lengths = torch.full((batch_size,), n_samples, device=device)
    ids = prompt_ids.to(device).expand(batch_size, -1) if prompt_ids is not None else None  # (B, N)
    optim_times: List[float] = []

    if mode == "infer":
        model.eval()

        def step() -> None:
            with torch.inference_mode(), autocast("bf16" if bf16 else "fp32", device):
                model.separate(mix, lengths, ids)

    else:
        batch = {"speech_mix": mix, "speech_mix_lengths": lengths}
        batch.update({f"speech_ref{k}": r for k, r in enumerate(refs, 1)})
        if ids is not None:
            batch.update(prompts=ids, prompts_lengths=torch.full((batch_size,), n_src, device=device))
        optimizer = build_optimizer(model, train_conf)
        step, fwd_bwd = _train_step(model, batch, bf16, device, optimizer, optim_times)

    # FLOPs: one forward (infer) or forward + backward (train)
    counter = flop_counter()
    with counter:
        if mode == "infer":
            step()
        else:
            fwd_bwd()
    if mode == "train":
        model.zero_grad(set_to_none=True)
    gflop = counter.get_total_flops() / 1e9

    reset = reset_peak_rss() if device.type == "cpu" else False
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    cpu_times: List[float] = []
    times = time_runs(step, runs, warmup, device, cpu_times)
    med = statistics.median(times)
    res = {"batch_size": batch_size}
    res.update(
        {
            "params": sum(p.numel() for p in model.parameters()),
            "separator_params": sum(p.numel() for p in model.separator.parameters()),
            "gflop": round(gflop, 3),
            "seconds_median": round(med, 4),
            "seconds_all": [round(t, 4) for t in times],
            "gflop_per_s": round(gflop / med, 3),
            # CPU time of the whole process (all threads) per run: less sensitive than
            # wall time to other processes on the machine
            "cpu_seconds_median": round(statistics.median(cpu_times), 4),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "peak_rss_is_per_model": reset,
        }
    )
    if mode == "train":  # the update alone (the timed runs'), and its optimiser
        res["optimizer"] = type(optimizer).__name__ + (" (fused)" if optimizer.defaults.get("fused") else "")
        res["optimizer_seconds_median"] = round(statistics.median(optim_times[-runs:]), 4)
    if device.type == "cuda":
        res["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    model.to("cpu")
    return res


def compare_separators(
    args: argparse.Namespace, conf: Dict, n_samples: int, ids: torch.Tensor, device: torch.device, matmul: float
) -> Dict[str, Dict]:
    """The figures of ``measure`` for each of ESPnet's stock separators of
    ``--compare``, built at a size comparable to ``conf`` (:func:`compare_conf`)."""
    out = {}
    for name in args.compare:
        cconf = compare_conf(name, conf, len(args.prompts))
        cmodel = build_model(cconf)
        runs = args.compare_runs or args.runs
        r = measure(cmodel, args.mode, n_samples, ids, device, args.bf16, runs, args.warmup, args.seed, args.batch_size)
        del cmodel
        r["efficiency"] = round(r["gflop_per_s"] / matmul, 4)
        r["separator_conf"] = cconf["separator_conf"]
        out[name] = r
    return out
