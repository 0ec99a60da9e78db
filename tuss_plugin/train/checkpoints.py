# SPDX-License-Identifier: Apache-2.0
"""Crash-safe checkpoints of ESPnet's trainer (used by :class:`tuss_plugin.train.trainer.TUSSTrainer`).

ESPnet overwrites ``checkpoint.pth`` in place; before an epoch starts the
trainer copies the complete checkpoint of the previous epoch atomically to
``checkpoint.prev.pth``. :func:`recover_checkpoints` (run at resume time)
validates ``checkpoint.pth`` and falls back to the copy when it is truncated
or corrupt, rewrites a missing/corrupt ``<N>epoch.pth`` of the resumed epoch
from the checkpoint, removes files of epochs that will be trained again, and
repairs the ``latest.pth`` / ``*.best.pth`` links. Checkpoints are read with
``weights_only=True`` (:func:`check_checkpoint`).

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from tuss_plugin.fileio.atomic import atomic_copy, atomic_write

CHECKPOINT = "checkpoint.pth"
PREVIOUS = "checkpoint.prev.pth"

logger = logging.getLogger(__name__)
_recovered: set = set()  # output dirs already checked in this process


def _reporter_safe_globals() -> list:
    """The plain-data classes ESPnet's reporter pickles into a checkpoint.

    ESPnet 202511 (the Python 3.11 stack) stores its per-epoch statistics as
    numpy scalars (``numpy._core.multiarray.scalar`` with a ``numpy.dtype`` of
    a numeric dtype class) and the epoch time as ``datetime.timedelta``; newer
    ESPnet stores Python floats. These constructors only rebuild numbers from
    bytes, so allowing exactly them keeps ``weights_only=True`` safe. Object
    and void dtypes are not allowed.
    """
    import datetime

    import numpy as np

    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
    dtype_classes = {type(np.dtype(c)) for c in np.typecodes["All"] if c not in "OV"}
    return [core.multiarray.scalar, np.dtype, datetime.timedelta, *sorted(dtype_classes, key=str)]


def _load(path: Path):
    with torch.serialization.safe_globals(_reporter_safe_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


def check_checkpoint(path: Union[str, Path]) -> Tuple[Optional[dict], Optional[str]]:
    """``(state, None)`` for a complete ESPnet training checkpoint, else ``(None, reason)``.

    Loaded with ``weights_only=True``, allowing only the numeric classes that
    ESPnet's reporter stores (:func:`_reporter_safe_globals`), so checkpoints
    of both supported ESPnet versions are inspected. A checkpoint that is a
    complete zip but holds other objects the safe loader refuses is accepted
    as ``({}, None)``: it is complete, only not inspectable here.
    """
    path = Path(path)
    if not path.is_file():
        return None, "missing"
    try:
        state = _load(path)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Weights only" in str(e):
            try:
                with zipfile.ZipFile(path) as zf:
                    if zf.testzip() is None:
                        return {}, None
            except (zipfile.BadZipFile, OSError, EOFError):
                pass
        return None, " ".join(str(e).split())[:200]
    except Exception as e:  # noqa: BLE001 - truncated zip, garbage, I/O errors
        return None, f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    if not isinstance(state, dict) or not {"model", "reporter", "optimizers"} <= set(state):
        return None, "not an ESPnet training checkpoint (model/reporter/optimizers missing)"
    rep = state["reporter"]
    if not isinstance(rep, dict) or not isinstance(rep.get("epoch"), int):
        return None, "reporter state without an epoch"
    return state, None


def _model_file_ok(path: Path) -> bool:
    try:
        obj = _load(path)
    except Exception:  # noqa: BLE001
        return False
    return isinstance(obj, dict)


def _save_model(path: Path, state_dict: Dict[str, torch.Tensor]) -> None:
    atomic_write(path, lambda tmp: torch.save(state_dict, tmp))


def _relink(link: Path, target: str) -> None:
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _best_criteria(out: Path) -> List[Sequence[str]]:
    import yaml

    try:
        conf = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8")) or {}
        return [c for c in conf.get("best_model_criterion") or [] if len(c) == 3]
    except (OSError, yaml.YAMLError, AttributeError):
        return []


def recover_checkpoints(output_dir: Union[str, Path]) -> Optional[int]:
    """Make ``output_dir`` safe to resume after a kill; returns the resumed epoch.

    * ``checkpoint.pth`` truncated/corrupt: moved to ``checkpoint.pth.corrupt``
      and replaced by ``checkpoint.prev.pth`` if that one is complete (else
      training restarts from epoch 1, with a warning);
    * ``<E>epoch.pth`` of the resumed epoch E missing or corrupt: rewritten from
      the checkpoint's model; corrupt older epoch files and files of epochs > E
      are removed (they are trained again);
    * ``latest.pth`` and ``<phase>.<key>.best.pth`` point to existing epochs;
    * temporary files of interrupted atomic writes are removed.

    Returns None when there is nothing to resume from.
    """
    out = Path(output_dir)
    if not out.is_dir():
        return None
    key = str(out.resolve())
    for pattern in (f".{PREVIOUS}.*", f".{CHECKPOINT}.*", ".*epoch.pth.*", ".*.pth.tmp"):
        for tmp in out.glob(pattern):
            tmp.unlink()
    ck, prev = out / CHECKPOINT, out / PREVIOUS
    state, why = check_checkpoint(ck)
    if state is None and ck.exists():
        logger.warning("%s is unusable (%s), probably written when training was killed", ck, why)
        os.replace(ck, out / (CHECKPOINT + ".corrupt"))
    if state is None:
        pstate, pwhy = check_checkpoint(prev)
        if pstate is not None:
            atomic_copy(prev, ck)
            state = pstate
            logger.warning("resuming from the previous complete checkpoint %s", prev)
        elif ck.with_name(CHECKPOINT + ".corrupt").exists():
            logger.warning("no complete checkpoint in %s: training starts again from epoch 1", out)
    _recovered.add(key)
    if not state:  # None (nothing) or {} (complete but not inspectable)
        return None
    epoch = int(state["reporter"]["epoch"])
    for f in out.glob("*epoch.pth"):
        m = re.fullmatch(r"(\d+)epoch\.pth", f.name)
        if not m or f.is_symlink():
            continue
        e = int(m.group(1))
        if e > epoch:
            logger.warning("removing %s: epoch %d is trained again", f, e)
            f.unlink()
        elif e < epoch and not _model_file_ok(f):
            logger.warning("removing corrupt %s", f)
            f.unlink()
    current = out / f"{epoch}epoch.pth"
    if not current.is_file() or not _model_file_ok(current):
        logger.warning("rewriting %s from %s", current, ck)
        _save_model(current, state["model"])
    _relink(out / "latest.pth", current.name)
    criteria = _best_criteria(out)
    if criteria:
        from espnet2.train.reporter import Reporter

        reporter = Reporter()
        reporter.load_state_dict(state["reporter"])
        for phase, k, mode in criteria:
            if reporter.has(phase, k):
                best = reporter.get_best_epoch(phase, k, mode)
                if (out / f"{best}epoch.pth").is_file():
                    _relink(out / f"{phase}.{k}.best.pth", f"{best}epoch.pth")
    logger.info("%s: resuming after epoch %d", out, epoch)
    return epoch


def recover_once(output_dir: Union[str, Path]) -> Optional[int]:
    """:func:`recover_checkpoints` unless already done for this dir in this process."""
    if str(Path(output_dir).resolve()) in _recovered:
        return None
    return recover_checkpoints(output_dir)


def kept_epoch_file(output_dir: Union[str, Path], epoch: int) -> Path:
    """``<output_dir>/<epoch>epoch.kept.pth``: the model weights after ``epoch``, kept on request
    (``--keep_epochs``) where ESPnet removes ``<epoch>epoch.pth`` outside the n best epochs; the
    initialisation of the TUSS paper's prompt-dropout fine-tuning (epoch 124 of TUSS Large)."""
    return Path(output_dir) / f"{int(epoch)}epoch.kept.pth"
