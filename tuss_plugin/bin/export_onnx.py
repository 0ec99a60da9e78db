#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Export a TUSS model to ONNX: one graph, any number of prompts.

    python -m tuss_plugin.bin.export_onnx --model exp/enh_tuss_medium --output model.onnx
    tuss-export-onnx --model MODEL.zip --output exp/enh_tuss_medium/model.onnx [--check]

MODEL is anything ``SeparateAudio.from_pretrained`` takes (experiment dir,
packed zip, model file, imported dir, hub tag). The graph takes
``mixture`` (batch, samples) float32 at the model's rate and ``prompt_ids``
(batch, prompts) int64, 0-based indices into the vocabulary stored in its
metadata (``tuss.prompts``), and gives ``separated`` (batch, prompts,
samples); batch, length and the number of prompts (1 to the model's maximum,
repeats allowed) are dynamic. Variance normalisation, STFT and inverse STFT
are inside (see docs/onnx.md). ``--check`` compares onnxruntime's outputs with
torch's on a random mixture and fails above ``--tolerance``. Run it with
``SeparateAudio.from_pretrained(..., backend="onnxruntime")`` or
``tuss-separate --backend onnxruntime``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from tuss_plugin.utils.cli import CLIError, run_main
from tuss_plugin.utils.errors import one_line

PROG = "tuss-export-onnx"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True, help="exp dir, packed zip, model file, imported dir or hub tag")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the pinned one, see docs/onnx.md)")
    p.add_argument("--check", action="store_true", help="compare onnxruntime with torch on a random 1-s mixture")
    p.add_argument("--tolerance", type=float, default=1e-4, help="--check: max abs difference (default: 1e-4)")
    return p


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    from tuss_plugin.inference import SeparateAudio
    from tuss_plugin.onnx.export import export_model
    from tuss_plugin.onnx.metadata import OPSET

    out = Path(args.output)
    if out.is_dir():
        raise CLIError(f"{out}: is a directory; give the .onnx file to write")
    if not out.parent.is_dir():
        raise CLIError(f"{out.parent}: no such directory")
    try:
        sep = SeparateAudio.from_pretrained(args.model)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise CLIError(f"cannot load model {args.model}: {one_line(e)}") from None
    try:
        info = export_model(sep.model, sep.config, out, args.opset or OPSET)
    except ValueError as e:
        raise CLIError(f"{args.model}: {one_line(e)}") from None
    info["output"] = str(out)
    if args.check:
        from tuss_plugin.onnx.compare import compare

        info["check"] = compare(sep, out, seconds=1.0, counts=(1, 2, sep.model.separator._num_spk))
        err = info["check"]["max_abs"]
        if err > args.tolerance:
            raise CLIError(f"{out}: onnxruntime differs from torch by {err:.3g} > {args.tolerance}")
    print(json.dumps(info))
    return 0


def main(cmd: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(cmd)
    return run_main(PROG, run, args, errors=(OSError,))


if __name__ == "__main__":
    sys.exit(main())
