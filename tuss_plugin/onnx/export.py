# SPDX-License-Identifier: Apache-2.0
"""Export a TUSS model to one ONNX graph (:class:`~tuss_plugin.onnx.graph.ExportGraph`).

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.

The graph has dynamic batch, length and number of prompts (1 to the model's
maximum, repeats allowed); its metadata (:mod:`tuss_plugin.onnx.metadata`)
carries the vocabulary the prompt indices refer to, the rate and the STFT.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, Union

import torch

from tuss_plugin.onnx.graph import ExportGraph
from tuss_plugin.onnx.metadata import INPUTS, OPSET, OUTPUT, metadata_props


def _example_inputs(graph: ExportGraph, vocab_size: int) -> tuple:
    """Inputs to trace with: 2 items, 2 prompts, 2.5 STFT windows (no dimension of size 0 or 1)."""
    length = max(graph.n_fft * 5 // 2, 2 * graph.hop + 1)
    mix = torch.randn(2, length, generator=torch.Generator().manual_seed(0)) * 0.1
    ids = torch.tensor([[0, min(1, vocab_size - 1)]] * 2, dtype=torch.long)
    return mix, ids


def export_model(model: torch.nn.Module, config: Dict, output: Union[str, Path], opset: int = OPSET) -> Dict:
    """Write ``model`` (a loaded ``TUSSEnhancementModel``) to ``output`` as ONNX.

    The file is written beside ``output`` and renamed when complete.
    Returns ``{"seconds": export time, "bytes": file size, "opset": opset}``.
    Raises ``ValueError`` for a model that does not export (see :class:`ExportGraph`).
    """
    import onnx

    output = Path(output)
    graph = ExportGraph(model.float().eval()).eval()
    sep = model.separator
    max_prompts = int(sep._num_spk)
    inputs = _example_inputs(graph, len(sep.vocab))
    # batch, length and prompt count dynamic; ranges are not stated: the shape
    # solver cannot prove the (true) guards of the STFT's frame arithmetic for a
    # named range, and the runtime checks the prompt count (tuss.max_prompts)
    dyn = torch.export.Dim.DYNAMIC
    shapes = {"mixture": {0: dyn, 1: dyn}, "prompt_ids": {0: dyn, 1: dyn}}
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    start = time.perf_counter()
    try:
        # the exporter's progress lines go to stderr: stdout stays the callers' (JSON)
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                inputs,
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                opset_version=opset,
                external_data=False,
            )
        proto = program.model_proto
        for key, value in metadata_props(config, max_prompts, graph.n_fft, graph.hop, _weights_digest(model)).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save_model(proto, str(tmp))
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return {"seconds": round(time.perf_counter() - start, 2), "bytes": output.stat().st_size, "opset": opset}


def _weights_digest(model: torch.nn.Module) -> str:
    from tuss_plugin.inference.model_files import state_digest

    return state_digest(model.state_dict())
