# SPDX-License-Identifier: Apache-2.0
"""Run an exported TUSS graph with onnxruntime; no torch.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.

:func:`resolve_onnx_file` finds the graph that a path names (an ``.onnx``
file, a directory holding ``model.onnx``, or a packed model zip that carries
one beside its model file, recipe stage 7 with ``--pack_onnx true``);
:class:`OnnxModel` opens it and checks its metadata
(:mod:`tuss_plugin.onnx.metadata`).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from pathlib import Path
from typing import Optional, Union

import numpy as np

from tuss_plugin.onnx.metadata import FORMAT, INPUTS, OUTPUT

# the graph's file name in a model directory or beside the model file of a packed model
ONNX_NAME = "model.onnx"


def resolve_onnx_file(
    path: Union[str, Path], cache_dir: Optional[str] = None, max_unpack_bytes: Optional[int] = None
) -> Path:
    """The ONNX graph that ``path`` names; ``FileNotFoundError`` / ``ValueError`` (one line) otherwise.

    A packed zip is unpacked (only ``meta.yaml``, the config and the graph)
    into the cache as :func:`tuss_plugin.inference.model_files.resolve_model_files` does.
    """
    from tuss_plugin.inference import unpack

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such ONNX model file or directory")
    if p.is_dir():
        if (p / ONNX_NAME).is_file():
            return p / ONNX_NAME
        if (p / unpack.PACK_META).is_file():
            from tuss_plugin.inference.model_files import meta_dir_files

            beside = meta_dir_files(p)[1].parent / ONNX_NAME
            if beside.is_file():
                return beside
        raise FileNotFoundError(f"{p}: no {ONNX_NAME} in the model directory (export one with tuss-export-onnx)")
    if unpack.is_pack(p):
        config_name, model_name = unpack.pack_members(p)
        member = posixpath.join(posixpath.dirname(model_name), ONNX_NAME)
        import zipfile

        with zipfile.ZipFile(p) as zf:
            if member not in zf.namelist():
                raise FileNotFoundError(f"{p}: the package carries no {member} (pack it with --pack_onnx true)")
        base = unpack.cache_base(cache_dir)
        out = base / hashlib.md5(f"{p.resolve()}\0onnx".encode()).hexdigest()[:16]
        unpack.unpack_once(p, out, [unpack.PACK_META, config_name, member], max_unpack_bytes)
        unpack.prune_cache(base, out)
        return out / member
    return p


class OnnxModel:
    """An exported TUSS graph in an onnxruntime CPU session.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (None: onnxruntime's choice).

    Attributes: ``config`` (the training config), ``vocab``
    (:class:`~tuss_plugin.prompts.PromptVocabulary`), ``fs``, ``n_fft``,
    ``hop_length``, ``max_prompts``, ``weights_sha256``.
    """

    def __init__(self, path: Union[str, Path], threads: Optional[int] = None):
        import onnxruntime as ort

        from tuss_plugin.prompts import model_vocabulary

        self.path = Path(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            msg = " ".join(str(e).split())[:300]
            raise ValueError(f"{path}: not a readable ONNX model ({msg})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("tuss.format") != FORMAT:
            raise ValueError(f"{path}: not a TUSS graph of format {FORMAT} (export it with tuss-export-onnx)")
        try:
            self.config = json.loads(meta["tuss.config"])
            self.vocab = model_vocabulary(self.config)
            names = json.loads(meta["tuss.prompts"])
            self.fs, self.n_fft = int(meta["tuss.fs"]), int(meta["tuss.n_fft"])
            self.hop_length, self.max_prompts = int(meta["tuss.hop_length"]), int(meta["tuss.max_prompts"])
            self.weights_sha256 = meta["tuss.weights_sha256"]
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{path}: broken TUSS metadata ({type(e).__name__}: {e})") from None
        if self.vocab is None or list(self.vocab.names) != list(names):
            raise ValueError(f"{path}: the vocabulary of tuss.prompts does not match tuss.config")
        got = [i.name for i in self.session.get_inputs()]
        if got != list(INPUTS):
            raise ValueError(f"{path}: expected inputs {list(INPUTS)}, the graph has {got}")

    def prompt_indices(self, prompts) -> np.ndarray:
        """0-based indices (N,) int64 of a prompt list (validated by the vocabulary's rules)."""
        names = self.vocab.validate(list(prompts))
        if len(names) > self.max_prompts:
            raise ValueError(f"{len(names)} prompts; this model separates at most {self.max_prompts} at once")
        return np.asarray(self.vocab.encode(names), dtype=np.int64) - 1

    def run(self, mixture: np.ndarray, prompt_ids: np.ndarray) -> np.ndarray:
        """mixture (B, L) float32, prompt_ids (B, N) or (N,) 0-based -> (B, N, L) float32."""
        mix = np.ascontiguousarray(mixture, dtype=np.float32)
        ids = np.asarray(prompt_ids, dtype=np.int64)
        if ids.ndim == 1:
            ids = np.broadcast_to(ids, (mix.shape[0], ids.shape[0]))
        feeds = {INPUTS[0]: mix, INPUTS[1]: np.ascontiguousarray(ids)}
        return self.session.run([OUTPUT], feeds)[0]
