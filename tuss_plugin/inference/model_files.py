# SPDX-License-Identifier: Apache-2.0
"""Model files: which config and weights a path names, and loading them safely.

:func:`resolve_model_files` takes an experiment or imported directory, a model
file, a packed zip (unpacked by :mod:`tuss_plugin.inference.unpack`), an
unpacked one (``meta.yaml`` at its root: a model-card directory, a Hugging Face
repository clone or snapshot, an ``espnet_model_zoo`` unpack) or a model-zoo /
Hugging Face tag; :func:`load_model` builds the ``TUSSTask`` model of the config,
checks its shapes against the weights on the meta device and loads them with
``weights_only``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import math
import os
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

from tuss_plugin.inference.unpack import PACK_META, cache_base, is_pack, pack_members, prune_cache, unpack_once

if TYPE_CHECKING:  # torch is imported where a model is built or read, not to resolve or read a config
    import torch

# one logger for the whole inference package ("tuss_plugin.inference")
logger = logging.getLogger(__package__)

# model files of a directory, in order of preference; the first that exists is
# the model (default_model_file), else the newest <N>epoch.pth
MODEL_FILE_CANDIDATES = (
    "model.pth",  # an imported reference or hand-made directory
    "valid.loss.ave.pth",  # ESPnet: average of the keep_nbest_models best epochs (the paper's evaluation)
    "valid.loss.best.pth",  # ESPnet: the epoch of the lowest validation loss
    "latest.pth",
    "checkpoint.pth",
)


def resolve_model_files(
    path: Union[str, Path],
    cache_dir: Optional[str] = None,
    max_unpack_bytes: Optional[int] = None,
) -> Tuple[Path, Path]:
    """Find ``(config.yaml, model file)`` for a model directory, file or packed zip.

    A directory without ``config.yaml`` but with ``meta.yaml`` is an unpacked
    packed model (see :func:`meta_dir_files`).

    A packed zip (ESPnet's ``meta.yaml`` at its root) is unpacked once into the
    cache (``cache_dir``, else TUSS_CACHE, else ``~/.cache/tuss``): only
    ``meta.yaml`` and the config and model file it names, at most
    ``max_unpack_bytes`` (default TUSS_MAX_UNPACK_BYTES or
    DEFAULT_MAX_UNPACK_BYTES) bytes; the cache is then pruned (see
    :func:`prune_cache`).
    """
    tag = str(path)
    path = Path(path)
    if not path.exists():
        if tag.count("/") == 1 and not tag.startswith((".", "/")) and not tag.endswith((".zip", ".pth")):
            return _download(tag, cache_dir)
        raise FileNotFoundError(f"{path}: no such model directory or file")
    if path.is_file() and is_pack(path):
        config_name, model_name = pack_members(path)  # checked before anything is unpacked
        base = cache_base(cache_dir)
        out = base / hashlib.md5(str(path.resolve()).encode()).hexdigest()[:16]
        unpack_once(path, out, [PACK_META, config_name, model_name], max_unpack_bytes)
        prune_cache(base, out)
        return out / config_name, out / model_name
    if path.is_file():
        config = path.parent / "config.yaml"
        if not config.exists():
            raise FileNotFoundError(f"{path}: no config.yaml beside the model file")
        return config, path
    if not (path / "config.yaml").exists() and (path / PACK_META).is_file():
        return meta_dir_files(path)
    config = path / "config.yaml"
    if not config.exists():
        raise FileNotFoundError(f"{path}: no config.yaml (or meta.yaml of a packed model) in the model directory")
    model = default_model_file(path)
    logger.info("%s: model file %s", path, model.name)
    return config, model


def _lexical(path: Path) -> Path:
    """``path`` absolute with ``.`` and ``..`` removed by name (links not followed)."""
    return Path(os.path.normpath(path.absolute()))


def meta_dir_files(model_dir: Path) -> Tuple[Path, Path]:
    """(config, model file) that ``meta.yaml`` of an unpacked packed model names:
    a model-card directory (recipe stage 8), a clone or snapshot of its Hugging
    Face repository, or an ``espnet_model_zoo`` unpack. Paths in meta.yaml are
    relative to the directory; an absolute one (ESPnet's pack of files outside
    its working directory, or the zoo's rewrite) is used if it exists inside the
    directory, else taken relative to the directory. A path that leads outside
    the directory (``..``, links) is refused, as in a packed zip."""
    from tuss_plugin.fileio.textfiles import load_yaml_mapping

    meta_file = model_dir / PACK_META
    try:
        meta = load_yaml_mapping(meta_file)
        wanted = {"train_config": meta["yaml_files"]["train_config"], "model_file": meta["files"]["model_file"]}
    except (KeyError, TypeError):
        raise ValueError(f"{meta_file}: not the meta.yaml of a packed model (no train_config / model_file)") from None
    found = []
    root = _lexical(model_dir)
    for key, value in wanted.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{meta_file}: {key} is not a file name")
        p = Path(value)
        inside = p.is_absolute() and p.is_file() and root in _lexical(p).parents
        p = p if inside else model_dir / value.lstrip("/")
        if root not in _lexical(p).parents:  # by name: a hub snapshot's files are links to its blobs
            raise ValueError(f"{meta_file}: {key} {value} lies outside {model_dir}; refusing to read it")
        if not p.is_file():
            raise FileNotFoundError(f"{meta_file}: {key} {value} is not in {model_dir}")
        found.append(p)
    return found[0], found[1]


def default_model_file(model_dir: Union[str, Path]) -> Path:
    """The model file of an experiment (or imported) directory.

    The first of :data:`MODEL_FILE_CANDIDATES` that exists (a link counts only
    if its target does), else the ``<N>epoch.pth`` of the highest N. For an
    ESPnet experiment that is ``valid.loss.ave.pth``, the average of the
    ``keep_nbest_models`` best epochs by validation loss (the authors evaluate
    this average), then ``valid.loss.best.pth``, ``latest.pth``,
    ``checkpoint.pth``. ``SeparateAudio.from_pretrained`` and the recipes'
    default ``--inference_model`` (stages 5, 7, 8) both use this rule.
    Raises ``FileNotFoundError`` (one line naming the directory) if there is none.
    """
    d = Path(model_dir)
    for name in MODEL_FILE_CANDIDATES:
        if (d / name).is_file():
            return d / name
    epochs = {}  # N -> <N>epoch.pth
    for p in d.glob("*epoch.pth"):
        m = re.fullmatch(r"(\d+)epoch\.pth", p.name)
        if m and p.is_file():
            epochs[int(m.group(1))] = p
    if epochs:
        return epochs[max(epochs)]
    raise FileNotFoundError(f"{d}: no model file ({', '.join(MODEL_FILE_CANDIDATES)} or <N>epoch.pth)")


def _download(tag: str, cache_dir: Optional[str] = None) -> Tuple[Path, Path]:
    """A Hugging Face repository (``org/repo[@revision]``) or a model-zoo name.

    The repository is fetched with ``huggingface_hub.snapshot_download`` into
    its own cache (``cache_dir`` if given, else HF_HUB_CACHE / HF_HOME), which
    also serves an offline machine (HF_HUB_OFFLINE=1) from a cached snapshot;
    the snapshot is read like any unpacked packed model
    (:func:`meta_dir_files`). A name that is no repository there is tried
    with ``espnet_model_zoo`` (its table of zoo names and archive URLs).
    """
    repo_id, _, revision = tag.partition("@")
    errors = []
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(repo_id, revision=revision or None, cache_dir=cache_dir)
        if (Path(snapshot) / PACK_META).is_file():
            return meta_dir_files(Path(snapshot))
        errors.append(f"the Hugging Face repository has no {PACK_META}")
    except Exception as e:  # noqa: BLE001 - network, hub or cache errors
        errors.append(" ".join(str(e).split())[:300])
    try:
        from espnet_model_zoo.downloader import ModelDownloader
    except ImportError:
        errors.append("espnet_model_zoo is not installed")
    else:
        try:
            files = ModelDownloader(cache_dir).download_and_unpack(tag)
            return Path(files["train_config"]), Path(files["model_file"])
        except Exception as e:  # noqa: BLE001 - network or hub errors
            errors.append(" ".join(str(e).split())[:300])
    raise FileNotFoundError(f"{tag}: not a local path and could not be downloaded ({'; '.join(errors)})")


def read_config(config_file: Union[str, Path]) -> dict:
    """The training config as a dict; ``ValueError`` naming the file otherwise."""
    from tuss_plugin.fileio.textfiles import load_yaml

    config = load_yaml(config_file, "YAML config")  # regular file, UTF-8, plain YAML (one line otherwise)
    if not isinstance(config, dict) or "separator" not in config:
        raise ValueError(f"{config_file}: not an ESPnet enhancement config")
    return config


def build_config_model(config: dict, config_file: Union[str, Path], meta: bool = False) -> torch.nn.Module:
    """The model of ``config`` (:func:`tuss_plugin.model_builder.build_model`,
    as ``TUSSTask.build_model``); with ``meta``, on the meta device (shapes
    only, no memory, however large the config makes the model)."""
    import torch

    from tuss_plugin.model_builder import build_model

    try:
        with torch.device("meta") if meta else contextlib.nullcontext():
            return build_model(argparse.Namespace(**config))
    except Exception as e:  # noqa: BLE001 - wrong types/keys in a hand-edited config
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"{config_file}: cannot build the model ({type(e).__name__}: {msg})") from None


def _read_state(model_file: Union[str, Path], device: str = "cpu", mmap: bool = False) -> dict:
    """The state dict of a model file (tensors only: ``weights_only``) or of ESPnet's checkpoint.pth.

    With ``mmap`` a file in torch's zip format is mapped, not read: its header
    (names, dtypes, shapes) is read and the tensor data only where touched."""
    import torch

    mmap = mmap and zipfile.is_zipfile(model_file)  # torch's legacy format cannot be mapped
    try:
        state = torch.load(model_file, map_location=device, weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - corrupt or unsafe files
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"{model_file}: not a readable checkpoint ({type(e).__name__}: {msg})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # ESPnet's checkpoint.pth
    if not isinstance(state, dict):
        raise ValueError(f"{model_file}: not a state dict")
    return state


def check_shapes(
    expected: Dict[str, Tuple[int, ...]],
    state: dict,
    config_file: Union[str, Path],
    model_file: Union[str, Path],
    n_keys: int = 3,
) -> None:
    """Raise ``ValueError`` (one line naming both files, the total sizes and the
    first ``n_keys`` differing keys) unless ``state`` has exactly the keys and
    shapes ``expected`` (key -> shape of the model the config builds)."""
    got = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    differ = [k for k in expected if k in got and got[k] != expected[k]]
    if not (missing or extra or differ):
        return
    n_model = sum(math.prod(s) for s in expected.values())
    n_weights = sum(math.prod(s) for s in got.values())
    parts = [f"the config builds {n_model:,} values, the weights hold {n_weights:,} values"]
    if differ:
        shapes = ", ".join(f"{k} (config {list(expected[k])}, weights {list(got[k])})" for k in differ[:n_keys])
        parts.append(f"{len(differ)} shape(s) differ: {shapes}")
    if missing:
        parts.append(f"{len(missing)} missing from the weights: {', '.join(missing[:n_keys])}")
    if extra:
        parts.append(f"{len(extra)} not in the model: {', '.join(extra[:n_keys])}")
    raise ValueError(f"{model_file} does not match {config_file}: {'; '.join(parts)}")


def check_weight_dtypes(expected: Dict[str, "torch.dtype"], state: dict, model_file: Union[str, Path]) -> None:
    """Raise ``ValueError`` (one line naming the file and the first key) when a
    weight the model holds as a real float is stored as an integer, boolean or
    complex tensor: ``load_state_dict`` would cast it silently (integers to
    float, complex to its real part) and the model would run on wrong numbers."""
    bad = [
        (k, v.dtype)
        for k, v in state.items()
        if k in expected and expected[k].is_floating_point and not (v.is_floating_point() and not v.is_complex())
    ]
    if bad:
        key, dtype = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ValueError(
            f"{model_file}: weight {key} is {str(dtype).replace('torch.', '')}, not a real floating-point "
            f"tensor{more}; refusing to cast it"
        )


def _checked_state(
    config: dict, config_file: Union[str, Path], model_file: Union[str, Path], device: str = "cpu", mmap: bool = False
) -> Tuple[torch.nn.Module, dict]:
    """``(model on the meta device, weights)``: the model ``config`` builds, with
    no memory for its weights, and the weights of ``model_file`` (see
    :func:`_read_state`) checked against it: the same keys and shapes
    (:func:`check_shapes`) and real floats where the model has them
    (:func:`check_weight_dtypes`); ``ValueError`` naming the files otherwise."""
    meta_model = build_config_model(config, config_file, meta=True)
    meta_state = meta_model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in meta_state.items()}
    state = _read_state(model_file, device, mmap)
    check_shapes(shapes, state, config_file, model_file)
    check_weight_dtypes({k: v.dtype for k, v in meta_state.items()}, state, model_file)
    return meta_model, state


def check_model_files(config_file: Union[str, Path], model_file: Union[str, Path]) -> Tuple[torch.nn.Module, dict]:
    """Check that ``model_file`` loads into the model of ``config_file`` as
    :func:`load_model` would load it, without building the model's weights:
    the config is built on the meta device and the weights file is mapped
    (its header read; see :func:`_read_state`). Returns ``(model on the meta
    device, config dict)``; raises ``ValueError`` (one line naming the files)
    as :func:`load_model` does."""
    config = read_config(config_file)
    meta_model, _ = _checked_state(config, config_file, model_file, mmap=True)
    return meta_model, config


def load_model(
    config_file: Union[str, Path], model_file: Union[str, Path], device: str = "cpu"
) -> Tuple[torch.nn.Module, dict]:
    """Build a ``TUSSTask`` model from ``config.yaml`` and load weights safely and strictly.

    The config is first built on the meta device and its parameter and buffer
    shapes compared with the weights (read with ``weights_only=True``), so a
    config that does not fit its weights, however large a model it describes,
    is refused before any memory is allocated for the model.
    Returns ``(model in eval mode on device, config dict)``.
    """
    config = read_config(config_file)
    _, state = _checked_state(config, config_file, model_file, device)
    model = build_config_model(config, config_file)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        raise ValueError(f"{model_file} does not match {config_file}: {msg[:500]}") from None
    return model.to(device).eval(), config


def state_digest(state: Dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: names, dtypes, shapes and the bytes of every tensor."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if not isinstance(value, torch.Tensor):
            h.update(f"{name} {value!r}\n".encode("utf-8"))
            continue
        t = value.detach().to("cpu").contiguous()
        h.update(f"{name} {t.dtype} {tuple(t.shape)}\n".encode("utf-8"))
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # (n_bytes,)
    return h.hexdigest()
