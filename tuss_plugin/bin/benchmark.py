#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Speed and compute of a TUSS model (Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025), as one JSON object on stdout.

    python -m tuss_plugin.bin.benchmark --config conf/tuss_medium.yaml \
        --seconds 6 --fs 48000 --prompts speech sfxbg musicbg --threads 2 \
        [--mode infer|train] [--compare tfgridnetv2 bsrnn] [--device cuda --bf16]
    python -m tuss_plugin.bin.benchmark --mode data --config TRAIN_CONFIG_WITH_ONTHEFLY_CONF \
        [--pools DIR ...] [--realistic_pool DIR] [--batches 10] [--profile]

``--mode infer`` times waveform-to-waveform separation (variance normalisation,
STFT, separator, iSTFT) of ``--batch_size`` mixtures (default 1) under
``torch.inference_mode``; ``--mode train`` times one training step of
``--batch_size`` mixtures: forward with the loss of the config, backward, and
the update of the config's optimiser (``optim``, ``optim_conf``, e.g. fused
AdamW; AdamW at 1e-4 when the config names none), whose time alone is
``optimizer_seconds_median``. ``gflop`` is what
``torch.utils.flop_counter.FlopCounterMode`` counts for one forward (infer) or
one forward + backward (train; the optimizer step is not counted; the
TUSS layers with a written-out backward are counted as autograd through
the plain modules would be, see tests/layers/test_tf_locoformer.py). It counts
matrix products, convolutions and attention only (2 FLOP per multiply-add;
attention on the CPU too, see
:func:`tuss_plugin.benchmark.profiling.flop_counter`), so
``efficiency = gflop_per_s / matmul_gflop_per_s`` compares the model with a
2048 x 2048 x 2048 float32 matmul run in the same process with the same
number of threads (measured before and after the model, median of 5 runs
each; the faster of the two is used, so that a slow-down of the machine
during one measurement does not inflate the efficiency).
``seconds_median`` is the median wall time of ``--runs`` runs after
``--warmup`` runs; ``cpu_seconds_median`` is the process CPU time of a run
(all threads), which is less affected by other processes sharing the cores.

``--mode data`` times the on-the-fly training data of the config's
``onthefly_conf`` (``--pools`` replaces its pools; ``--realistic_pool DIR``
writes and uses a pool with the real corpora's formats, rates and lengths,
:mod:`tuss_plugin.onthefly.throughput`): ``--batches`` batches simulated in
this process as one data worker does, ``mixtures_per_s_per_worker``, and the
figure for the config's ``num_workers`` (``mixtures_per_s_workers``, assuming
a core per worker); ``--profile`` adds the functions that took the most time.
``--seconds`` and ``--fs`` set the crop and the rate (default 6 s, the
config's rate).

``--modes`` measures inference paths side by side instead (torch eager fp32 and
bf16, onnxruntime fp32, ``torch.compile`` fp32 and bf16, the authors' code):
see :mod:`tuss_plugin.benchmark.modes` and docs/onnx.md.

``--compare`` adds the same figures for ESPnet's stock separators, built at a
size comparable to the config (see
:func:`tuss_plugin.benchmark.compare.compare_conf`), in ``compare``.
``machine`` names the hardware (CPU model, logical CPUs, torch's SIMD level,
native bf16 units; the GPU on CUDA): compare figures of one machine kind only.
``peak_rss_mb`` is the process' peak resident memory while that model was
measured (Linux resets the peak per model; elsewhere it is the process peak).
Like the toolkit's programs, the benchmark lets malloc keep freed memory for
reuse (:mod:`tuss_plugin.utils.cpu_memory`; ``retain_freed_memory`` in the output;
``TUSS_RETAIN_FREED_MEMORY=0`` turns it off).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Dict, Optional, Sequence, Tuple

# what --help needs; the measurements import torch when they run
from tuss_plugin.benchmark.compare import COMPARE_CHOICES, MODES


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="training config (conf/tuss_medium.yaml style)")
    p.add_argument("--seconds", type=float, default=6.0, help="mixture length in seconds (default: 6)")
    p.add_argument(
        "--fs",
        type=int,
        default=None,
        help="sample rate of the mixture (default: the config's separator_conf.fs or fs)",
    )
    p.add_argument(
        "--prompts",
        nargs="+",
        default=["speech", "sfxbg", "musicbg"],
        help="prompt list (default: speech sfxbg musicbg)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--batch_size", type=int, default=1, help="--mode infer|train: mixtures per run (default: 1)")
    p.add_argument("--mode", choices=("infer", "train", "data"), default="infer", help="default: infer")
    p.add_argument("--pools", nargs="+", default=None, help="--mode data: these pool dirs instead of the config's")
    p.add_argument(
        "--realistic_pool",
        default=None,
        metavar="DIR",
        help="--mode data: write (once) and use pools with the real corpora's formats, rates and lengths",
    )
    p.add_argument("--batches", type=int, default=10, help="--mode data: batches to simulate (default: 10)")
    p.add_argument("--profile", action="store_true", help="--mode data: also list the most expensive functions")
    p.add_argument("--runs", type=int, default=3, help="timed runs, >= 3 (default: 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    p.add_argument(
        "--compare", nargs="*", default=[], choices=COMPARE_CHOICES, help="also measure ESPnet's stock separators"
    )
    p.add_argument("--compare-runs", type=int, default=None, help="timed runs of --compare models (default: --runs)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 autocast (CUDA, or CPUs with native bf16: AVX512-BF16, AMX); the matmul reference in bf16",
    )
    p.add_argument(
        "--matmul-size",
        type=int,
        default=2048,
        help="n of the n x n x n matmul that efficiency is measured against (default: 2048)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--modes",
        nargs="+",
        default=None,
        choices=MODES,
        help="--mode infer on the CPU: these inference paths side by side in 'modes' (tuss_plugin.benchmark.modes)",
    )
    p.add_argument("--onnx", default=None, help="--modes onnxruntime_fp32: this graph (default: exported in the run)")
    p.add_argument("--authors_code", default=None, help="--modes authors_fp32: a checkout of the authors' release")
    p.add_argument("--authors_hparams", default=None, help="--modes authors_fp32: their hparams.yaml of the model")
    return p


def data_main(args: argparse.Namespace) -> Tuple[int, Optional[Dict]]:
    """``--mode data``: the on-the-fly data of the config (see the module docstring)."""
    from pathlib import Path

    import torch

    from tuss_plugin.benchmark.measure import load_config
    from tuss_plugin.benchmark.profiling import machine_info, software_versions
    from tuss_plugin.onthefly import throughput

    conf = load_config(args.config)
    realistic = Path(args.realistic_pool) if args.realistic_pool else None
    try:
        result = throughput.benchmark(
            conf, args.pools, realistic, args.seconds, args.fs, args.batches, args.profile, args.seed
        )
    except (OSError, ValueError) as e:
        print(f"benchmark: {args.config}: {e}", file=sys.stderr)
        return 2, None
    result.update(config=args.config, mode="data", machine=machine_info(torch.device("cpu")))
    result.update({k: v for k, v in software_versions().items() if k != "tuss_plugin"})
    return 0, result


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    stdout = sys.stdout
    # the JSON object is all of stdout: what libraries print meanwhile (ESPnet
    # 202511 prints a note when its enhancement task is imported) goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        status, result = (data_main if args.mode == "data" else model_main)(args)
    if result is not None:
        print(json.dumps(result), file=stdout)
    return status


def emulated_bf16(device: str, option: str) -> bool:
    """Whether the bf16 request ``option`` is refused on ``device`` (bf16 would be
    emulated: :func:`tuss_plugin.precision.check_bf16_request`); prints the line."""
    from tuss_plugin.precision import EmulatedBF16Error, check_bf16_request

    try:
        check_bf16_request(device, option)
    except EmulatedBF16Error as e:
        print(f"benchmark: {e}", file=sys.stderr)
        return True
    return False


def arg_problem(args: argparse.Namespace) -> Optional[str]:
    """What is wrong with ``--runs`` or ``--batch_size``, or None."""
    if args.runs < 3:
        return f"--runs must be >= 3 (got {args.runs})"
    if args.batch_size < 1:
        return f"--batch_size must be >= 1 (got {args.batch_size})"
    return None


def sample_rate(args: argparse.Namespace, conf: Dict) -> Optional[int]:
    """The rate to measure at: ``--fs``, else the config's; None (after saying
    why on stderr) if neither gives one or they differ."""
    from tuss_plugin.benchmark.compare import config_fs

    fs = args.fs or config_fs(conf)
    if fs is None:
        print(f"{args.config}: no sample rate in the config; pass --fs", file=sys.stderr)
        return None
    model_fs = config_fs(conf)
    if model_fs is not None and model_fs != fs:
        print(f"{args.config}: the model is built for fs={model_fs}, not --fs {fs}", file=sys.stderr)
        return None
    return fs


def model_main(args: argparse.Namespace) -> Tuple[int, Optional[Dict]]:
    """``--mode infer|train``: the model of the config (see the module docstring)."""
    import torch

    from tuss_plugin.benchmark.measure import build_model, compare_separators, load_config, measure
    from tuss_plugin.benchmark.profiling import machine_info, matmul_gflop_per_s, software_versions
    from tuss_plugin.utils.cpu_memory import retain_freed_memory

    if (problem := arg_problem(args)) is not None:
        print(f"benchmark: {problem}", file=sys.stderr)
        return 2, None
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("benchmark: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2, None
    if args.bf16 and emulated_bf16(str(device), "--bf16"):
        return 2, None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    retained = retain_freed_memory()  # as the toolkit's programs do; TUSS_RETAIN_FREED_MEMORY=0: off

    conf = load_config(args.config)
    if (fs := sample_rate(args, conf)) is None:
        return 2, None
    n_samples = int(round(args.seconds * fs))

    import tuss_plugin  # noqa: F401  (registers the plugin with ESPnet)

    model = build_model(conf)
    vocab = getattr(model.separator, "vocab", None)
    if vocab is None:
        print(f"{args.config}: the separator has no prompt vocabulary (not TUSS)", file=sys.stderr)
        return 2, None
    try:
        ids = torch.tensor([vocab.encode(args.prompts)])  # (1, N)
    except ValueError as e:
        print(f"benchmark: {e}", file=sys.stderr)
        return 2, None

    if args.modes:
        return modes_main(args, conf, model, fs, n_samples, retained)
    # measured before and after the model (the machine's load may change); the faster counts;
    # in the dtype the model's products run in (bf16 under --bf16)
    mm_dtype = torch.bfloat16 if args.bf16 else torch.float32
    matmul_runs = [matmul_gflop_per_s(device, n=args.matmul_size, dtype=mm_dtype)]
    result: Dict = {
        "config": args.config,
        "mode": args.mode,
        "seconds_audio": args.seconds,
        "fs": fs,
        "prompts": list(args.prompts),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "machine": machine_info(device),
        "bf16": bool(args.bf16),
        "retain_freed_memory": retained,
        "flops_counted": "forward" if args.mode == "infer" else "forward+backward",
    }
    figures = measure(
        model, args.mode, n_samples, ids, device, args.bf16, args.runs, args.warmup, args.seed, args.batch_size, conf
    )
    result.update(figures)
    del model
    matmul_runs.append(matmul_gflop_per_s(device, n=args.matmul_size, dtype=mm_dtype))
    matmul = max(matmul_runs)
    result["matmul_dtype"] = str(mm_dtype).replace("torch.", "")
    result["matmul_gflop_per_s"] = round(matmul, 3)
    result["matmul_gflop_per_s_before_after"] = [round(m, 3) for m in matmul_runs]
    result["efficiency"] = round(result["gflop_per_s"] / matmul, 4)
    if args.bf16:  # the float32 reference too, to compare with fp32 runs
        result["matmul_float32_gflop_per_s"] = round(matmul_gflop_per_s(device, n=args.matmul_size), 3)
    result.update({k: v for k, v in software_versions().items() if k != "tuss_plugin"})
    if args.compare:
        result["compare"] = compare_separators(args, conf, n_samples, ids, device, matmul)
    return 0, result


def modes_main(args: argparse.Namespace, conf: Dict, model, fs: int, n_samples: int, retained) -> Tuple[int, Dict]:
    """``--modes``: the inference paths of :mod:`tuss_plugin.benchmark.modes` side by side."""
    import torch

    from tuss_plugin.benchmark.modes import run_modes
    from tuss_plugin.benchmark.profiling import machine_info, software_versions
    from tuss_plugin.convert.release import full_config

    if args.mode != "infer" or args.device != "cpu" or args.bf16:
        print("benchmark: --modes measures CPU inference (--mode infer, --device cpu, no --bf16)", file=sys.stderr)
        return 2, None
    # a bf16 mode is an explicit bf16 request: refused where bf16 would be emulated
    if any(emulated_bf16("cpu", f"--modes {m}") for m in args.modes if m.endswith("bf16")):
        return 2, None
    args.full_config, args.model_fs = full_config(conf), fs
    result = {"config": args.config, "mode": "infer", "seconds_audio": args.seconds, "fs": fs}
    result.update(prompts=list(args.prompts), threads=torch.get_num_threads(), device="cpu")
    result.update(machine=machine_info(torch.device("cpu")), retain_freed_memory=retained, flops_counted="forward")
    try:
        result.update(run_modes(model, args.modes, n_samples, list(args.prompts), args))
    except (OSError, ValueError) as e:
        print(f"benchmark: {e}", file=sys.stderr)
        return 2, None
    result.update({k: v for k, v in software_versions().items() if k != "tuss_plugin"})
    return 0, result


if __name__ == "__main__":
    sys.exit(main())
