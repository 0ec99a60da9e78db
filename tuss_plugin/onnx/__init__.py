# SPDX-License-Identifier: Apache-2.0
"""TUSS as one ONNX graph (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025).

* :mod:`.graph`: the model in exportable operators (torch);
* :mod:`.export`: writing the graph (``tuss-export-onnx``, torch);
* :mod:`.metadata`: what the graph says about itself (no torch);
* :mod:`.runtime`: finding and running it with onnxruntime (no torch);
* :mod:`.compare`: onnxruntime against torch.

See docs/onnx.md.
"""
