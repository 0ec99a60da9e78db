# SPDX-License-Identifier: Apache-2.0
"""onnxruntime against torch: the largest output difference of an exported graph.

    python -m tuss_plugin.onnx.compare --config conf/tuss_medium.yaml [--seconds 1 6] [--threads 2]
    python -m tuss_plugin.onnx.compare --model exp/enh_tuss_medium [--onnx exp/enh_tuss_medium/model.onnx]

With ``--config`` the model of the config is built with random weights (the
check concerns the graph, not what the weights learnt) and exported to a
temporary file; with ``--model`` the trained model is loaded and ``--onnx``
(default: exported to a temporary file) compared. Prints one JSON object:
per case (prompt list, seconds) the max abs difference, the export's time and
size. Prompt lists: 2, 3 and 4 prompts (as the model's maximum allows) and
lists with a repeated prompt, from :func:`prompt_lists`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np


def prompt_lists(vocab, counts: Sequence[int], repeats: bool = True) -> List[List[str]]:
    """Valid prompt lists: for each count the first names of the vocabulary
    that combine (its exclusion rules), and with ``repeats`` a list of one
    prompt twice and one of one prompt three times beside another."""
    out = []
    for n in counts:
        names: List[str] = []
        for name in vocab.names:
            try:
                vocab.validate(names + [name])
            except ValueError:
                continue
            names.append(name)
            if len(names) == n:
                out.append(names)
                break
    if repeats:
        first = vocab.names[0]
        out.append([first, first])
        other = next((x for x in vocab.names[1:] if _valid(vocab, [first, x])), None)
        out.append([first, first, other] if other else [first] * 3)
    return out


def _valid(vocab, names: List[str]) -> bool:
    try:
        vocab.validate(names)
        return True
    except ValueError:
        return False


def compare(sep, onnx_file, seconds: float = 1.0, counts: Sequence[int] = (2, 3, 4), seed: int = 0) -> Dict:
    """Max abs difference of onnxruntime and torch (``sep``: a torch-backend
    ``SeparateAudio``) on a random mixture of ``seconds`` at the model's rate,
    batch 1, for :func:`prompt_lists` of ``counts`` (at most the model's maximum)."""
    import torch

    from tuss_plugin.onnx.runtime import OnnxModel

    onnx = OnnxModel(onnx_file)
    counts = [n for n in counts if n <= onnx.max_prompts]
    rng = np.random.default_rng(seed)
    mix = (rng.standard_normal((1, int(round(seconds * sep.fs)))) * 0.1).astype(np.float32)  # (1, L)
    cases = []
    for names in prompt_lists(sep.vocab, counts):
        ids = onnx.prompt_indices(names)
        got = onnx.run(mix, ids[None])  # (1, N, L)
        ref = sep.separate_tensor(torch.from_numpy(mix), names).numpy()  # (1, N, L)
        cases.append({"prompts": names, "seconds": seconds, "max_abs": float(np.abs(got - ref).max())})
    return {"cases": cases, "max_abs": max(c["max_abs"] for c in cases)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="training config: its model with random weights")
    src.add_argument("--model", help="a model SeparateAudio.from_pretrained loads")
    p.add_argument("--onnx", default=None, help="--model: its exported graph (default: export it now)")
    p.add_argument("--seconds", type=float, nargs="+", default=[1.0, 6.0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    from tuss_plugin.onnx.export import export_model

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sep = _random_model(args.config) if args.config else _loaded(args.model)
    result: Dict = {"config": args.config, "model": args.model}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = Path(args.onnx) if args.onnx else Path(tmp) / "model.onnx"
        if not args.onnx:
            result["export"] = export_model(sep.model, sep.config, onnx_file)
        runs = [compare(sep, onnx_file, s, seed=args.seed) for s in args.seconds]
    result["cases"] = [c for r in runs for c in r["cases"]]
    result["max_abs"] = max(r["max_abs"] for r in runs)
    print(json.dumps(result))
    return 0


def _loaded(model: str):
    from tuss_plugin.inference import SeparateAudio

    return SeparateAudio.from_pretrained(model)


def _random_model(config_file: str):
    import yaml

    from tuss_plugin.benchmark.measure import build_model
    from tuss_plugin.convert.release import full_config
    from tuss_plugin.inference import SeparateAudio

    with open(config_file, encoding="utf-8") as f:
        config = full_config(yaml.safe_load(f))
    return SeparateAudio(build_model(config).eval(), config)


if __name__ == "__main__":
    sys.exit(main())
