# SPDX-License-Identifier: Apache-2.0
"""ESPnet's trainer with crash-safe checkpoints and non-finite-loss accounting.

:class:`TUSSTrainer` keeps everything of ``espnet2.train.trainer.Trainer``
(it only wraps two of its class methods) and adds:

* **non-finite losses are skipped and counted.** A mini-batch whose loss is
  NaN or Inf gets a NaN gradient on every parameter, so ESPnet's own
  non-finite-gradient-norm check skips the optimiser update (weights, Adam
  moments and step counts stay untouched). After each epoch one log line
  gives the number of such batches and of skipped updates (from any cause).
* **a kill never loses the last complete checkpoint.** ESPnet overwrites
  ``checkpoint.pth`` in place; before an epoch starts, the complete
  checkpoint of the previous epoch is copied atomically to
  ``checkpoint.prev.pth``. :func:`recover_checkpoints` (run at resume time)
  validates ``checkpoint.pth`` and falls back to the copy when it is
  truncated or corrupt, rewrites a missing/corrupt ``<N>epoch.pth`` of the
  resumed epoch from the checkpoint, removes files of epochs that will be
  trained again, and repairs the ``latest.pth`` / ``*.best.pth`` links.
* **validation as the TUSS authors do it** (when the validation set has a
  ``utt2corpus`` list, see :class:`CorpusTagger`): ``valid/loss`` is the mean
  of the per-corpus mean losses, so every corpus weighs the same however many
  items it has, and each corpus's mean is logged as ``valid/loss_<corpus>``;
  items of the corpora in ``--valid_segment_corpora`` (long tracks) are
  separated in consecutive ``--valid_segment_seconds`` segments and scored on
  the whole track (:class:`CorpusValidation`). Without ``utt2corpus`` the
  validation is ESPnet's own (item mean, whole items).

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from espnet2.train.trainer import Trainer, TrainerOptions
from espnet2.utils.build_dataclass import build_dataclass
from espnet2.utils.types import float_or_none

from tuss_plugin.fileio import atomic_copy, atomic_write
from tuss_plugin.finetune import restore_frozen

CHECKPOINT = "checkpoint.pth"
PREVIOUS = "checkpoint.prev.pth"

logger = logging.getLogger(__name__)
_recovered: set = set()  # output dirs already checked in this process
_warned: set = set()  # warnings given once per process


class FiniteLossGuard(torch.nn.Module):
    """Wraps the training model; turns a non-finite loss into NaN gradients.

    The forward returns ESPnet's ``(loss, stats, weight)`` (or its dict form)
    unchanged when the loss is finite. Otherwise the loss is replaced by a NaN
    that depends on every trainable parameter, so the gradient norm is NaN and
    ESPnet skips the update, whatever made the loss non-finite. The original
    stats (with the NaN/Inf loss) are still reported; ESPnet's reporter
    leaves non-finite values out of its averages.

    Args:
        module: the (possibly DDP-wrapped) model.
    """

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module
        self.n_forward = 0
        self.n_nonfinite = 0

    def _poisoned(self, loss: torch.Tensor) -> torch.Tensor:
        params = [p for p in self.module.parameters() if p.requires_grad and p.numel() > 0]
        nan = torch.tensor(float("nan"), device=loss.device, dtype=loss.dtype)
        if not params:
            return loss
        # first element of each parameter only: cheap, and enough for a NaN norm
        touch = torch.stack([p.reshape(-1)[0].to(loss.dtype) for p in params]).sum()
        return (touch * nan).to(loss.device) + torch.zeros_like(loss)  # shape of loss

    def forward(self, **batch):
        self.n_forward += 1
        retval = self.module(**batch)
        loss = retval["loss"] if isinstance(retval, dict) else retval[0]
        if torch.isfinite(loss.detach()).all():
            return retval
        self.n_nonfinite += 1
        utts = batch.get("utt_id") or []
        logger.warning(
            "non-finite loss (%s) for %s; the update of this step is skipped",
            loss.detach().flatten()[:4].tolist(),
            ", ".join(list(utts)[:4]) + (" ..." if len(utts) > 4 else ""),
        )
        poisoned = self._poisoned(loss)
        if isinstance(retval, dict):
            return dict(retval, loss=poisoned)
        return (poisoned,) + tuple(retval[1:])


class TUSSTrainer(Trainer):
    """``Trainer`` + skipped-step accounting, a last-good checkpoint copy and
    per-corpus validation."""

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The validation options of :class:`TUSSTrainerOptions`."""
        group = parser.add_argument_group("TUSS validation")
        group.add_argument(
            "--valid_segment_seconds",
            type=float_or_none,
            default=None,
            help="separate the validation items of --valid_segment_corpora in consecutive "
            "segments of this many seconds (the last one zero-padded) and score the whole "
            "track, as the TUSS authors validate long tracks (their value: 6); "
            "None: whole items",
        )
        group.add_argument(
            "--valid_segment_corpora",
            type=str,
            nargs="*",
            default=[],
            help="corpora (names in the validation set's utt2corpus) validated segment-wise, e.g. musdb18hq dnr",
        )

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> "TUSSTrainerOptions":
        """ESPnet's options plus the validation options (and ``--fs``, the rate
        of the validation data, when the task has it)."""
        base = build_dataclass(TrainerOptions, args)
        options = TUSSTrainerOptions(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
            valid_segment_seconds=getattr(args, "valid_segment_seconds", None),
            valid_segment_corpora=list(getattr(args, "valid_segment_corpora", None) or []),
            fs=getattr(args, "fs", None),
        )
        check_validation_options(options)
        return options

    @classmethod
    def validate_one_epoch(cls, model, iterator, reporter, options, distributed_option) -> None:
        """ESPnet's validation; with corpus-tagged batches (``utt2corpus``), through
        :class:`CorpusValidation`, which then reports the equal-weight ``loss``
        and ``loss_<corpus>``."""
        corpora = iterator_corpora(iterator)
        segment_corpora = list(getattr(options, "valid_segment_corpora", None) or [])
        tally = None
        if corpora is None:
            if segment_corpora and "segment" not in _warned:
                _warned.add("segment")
                logger.warning(
                    "--valid_segment_corpora %s: the validation set has no utt2corpus, so "
                    "every item is validated whole and items are averaged",
                    segment_corpora,
                )
        else:
            tally = CorpusValidation(model, corpora, segment_samples(options, model), segment_corpora)
        super().validate_one_epoch(
            model=model if tally is None else tally,
            iterator=iterator,
            reporter=reporter,
            options=options,
            distributed_option=distributed_option,
        )
        if tally is None or options.no_forward_run:
            return  # item means (no corpora), or nothing computed (no loss, as in ESPnet)
        device = "cuda" if options.ngpu > 0 else "cpu"
        tally.report(reporter, distributed=distributed_option.distributed, device=device)

    @classmethod
    def run(
        cls,
        model,
        optimizers,
        schedulers,
        train_iter_factory,
        valid_iter_factory,
        plot_attention_iter_factory,
        trainer_options,
        distributed_option,
    ) -> None:
        """ESPnet's ``run`` after checking the checkpoints of a resumed run; when
        fine-tuning, frozen tensors are then restored in the averaged model files
        (:func:`tuss_plugin.finetune.restore_frozen`)."""
        out = Path(trainer_options.output_dir)
        rank0 = not distributed_option.distributed or distributed_option.dist_rank == 0
        if rank0:
            if trainer_options.resume:
                if not distributed_option.distributed:
                    recover_once(out)  # (distributed: done by tuss_train before the workers start)
            elif (out / PREVIOUS).exists():
                (out / PREVIOUS).unlink()  # from an earlier, unrelated run
        super().run(
            model=model,
            optimizers=optimizers,
            schedulers=schedulers,
            train_iter_factory=train_iter_factory,
            valid_iter_factory=valid_iter_factory,
            plot_attention_iter_factory=plot_attention_iter_factory,
            trainer_options=trainer_options,
            distributed_option=distributed_option,
        )
        if rank0:
            restore_frozen(out, model)

    @classmethod
    def train_one_epoch(
        cls, model, iterator, optimizers, schedulers, scaler, reporter, summary_writer, options, distributed_option
    ) -> bool:
        epoch = getattr(reporter, "epoch", None)
        rank0 = not distributed_option.distributed or distributed_option.dist_rank == 0
        out = Path(options.output_dir)
        # checkpoint.pth now holds the complete previous epoch (written by this
        # run, or validated and loaded by --resume); keep a copy that survives
        # a kill while ESPnet overwrites it at the end of this epoch
        if rank0 and epoch is not None and epoch > 1 and (out / CHECKPOINT).is_file():
            atomic_copy(out / CHECKPOINT, out / PREVIOUS)
        guard = FiniteLossGuard(model)
        stepped: set = set()
        hooks = [o.register_step_post_hook(lambda *_: stepped.add(guard.n_forward)) for o in optimizers]
        try:
            all_invalid = super().train_one_epoch(
                model=guard,
                iterator=iterator,
                optimizers=optimizers,
                schedulers=schedulers,
                scaler=scaler,
                reporter=reporter,
                summary_writer=summary_writer,
                options=options,
                distributed_option=distributed_option,
            )
        finally:
            for h in hooks:
                h.remove()
        n_updates = guard.n_forward // max(1, int(options.accum_grad))
        skipped = max(0, n_updates - len(stepped))
        logger.info(
            "epoch %s: %d of %d updates skipped (non-finite loss or gradient); %d of %d batches had a non-finite loss",
            epoch,
            skipped,
            n_updates,
            guard.n_nonfinite,
            guard.n_forward,
        )
        return all_invalid


# --------------------------------------------------------------------------
# Validation per corpus (the TUSS authors' rule)
# --------------------------------------------------------------------------

UTT2CORPUS = "utt2corpus"  # <utt> <corpus>, next to the first validation data file
CORPUS_KEY = "corpus"  # batch entry: the corpus of each item (list of names)
_CORPUS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass
class TUSSTrainerOptions(TrainerOptions):
    """ESPnet's trainer options plus the validation options.

    Args:
        valid_segment_seconds: segment length of segment-wise validation
            (None: whole items).
        valid_segment_corpora: corpora validated segment-wise.
        fs: rate of the validation data (the task's ``--fs``; None: the
            separator's ``fs``).
    """

    valid_segment_seconds: Optional[float] = None
    valid_segment_corpora: Sequence[str] = ()
    fs: Optional[int] = None


def check_validation_options(options: TUSSTrainerOptions) -> None:
    """Raise ``ValueError`` for contradicting validation options."""
    seconds, corpora = options.valid_segment_seconds, list(options.valid_segment_corpora)
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"--valid_segment_seconds must be a positive number, got {seconds}")
    if corpora and seconds is None:
        raise ValueError(f"--valid_segment_corpora {corpora} needs --valid_segment_seconds")
    bad = [c for c in corpora if not _CORPUS_NAME.fullmatch(c)]
    if bad:
        raise ValueError(f"--valid_segment_corpora: invalid corpus name(s) {bad}")


def segment_samples(options: TUSSTrainerOptions, model: torch.nn.Module) -> Optional[int]:
    """``--valid_segment_seconds`` in samples of the validation data, or None.

    The rate is ``--fs`` (the rate the recipes dump the validation set at),
    else the separator's ``fs``.
    """
    seconds = getattr(options, "valid_segment_seconds", None)
    if seconds is None:
        return None
    net = getattr(model, "module", model)  # DDP / DataParallel
    fs = getattr(options, "fs", None) or getattr(getattr(net, "separator", None), "fs", None)
    if not fs:
        raise ValueError("--valid_segment_seconds needs the rate of the validation data: set --fs")
    return max(1, int(round(float(seconds) * int(fs))))


def read_utt2corpus(path: Union[str, Path]) -> Dict[str, str]:
    """``utt2corpus`` (``<utt> <corpus>`` per line) as ``{utt: corpus}``.

    Read by the project's list reader (:func:`tuss_plugin.kaldi_io.read_list`:
    id rule, duplicate keys). Corpus names become statistics keys
    (``loss_<corpus>``): letters, digits, ``_``, ``.``, ``-``. Raises
    ``ValueError`` naming the file (and line).
    """
    from tuss_plugin.kaldi_io import read_list

    out: Dict[str, str] = {}
    for utt, fields in read_list(path):
        if len(fields) != 1:
            raise ValueError(f"{path}: utterance {utt}: expected '<utt> <corpus>', got {len(fields)} fields")
        if not _CORPUS_NAME.fullmatch(fields[0]):
            raise ValueError(
                f"{path}: utterance {utt}: invalid corpus name {fields[0]!r} (letters, digits, '_', '.', '-')"
            )
        out[utt] = fields[0]
    return out


class CorpusTagger:
    """Collate function of the validation iterator that names each item's corpus.

    Wraps ESPnet's collate function; every batch gets ``batch["corpus"]``, the
    list of the items' corpora (ESPnet moves only tensors to the device and
    passes lists on to the model call, where :class:`CorpusValidation` takes
    it out).

    Args:
        collate_fn: ESPnet's collate function (``[(utt, data), ...] -> (utts, batch)``).
        corpus_of: ``{utt: corpus}`` of every validation item.
        corpora: all corpora of the validation set (all ranks of a distributed
            run need the same list); default: those of ``corpus_of``.
    """

    def __init__(self, collate_fn: Callable, corpus_of: Dict[str, str], corpora: Optional[Sequence[str]] = None):
        self.collate_fn = collate_fn
        self.corpus_of = dict(corpus_of)
        self.corpora = sorted(set(corpora if corpora is not None else corpus_of.values()))

    def __call__(self, data):
        utts, batch = self.collate_fn(data)
        batch[CORPUS_KEY] = [self.corpus_of[u] for u in utts]
        return utts, batch


def iterator_corpora(iterator) -> Optional[List[str]]:
    """The corpora of a validation iterator whose batches are tagged by a
    :class:`CorpusTagger`, else None."""
    tagger = getattr(iterator, "collate_fn", None)
    return list(tagger.corpora) if isinstance(tagger, CorpusTagger) else None


def _select(batch: Dict, index: List[int]) -> Dict:
    """Items ``index`` of a collated batch (tensors along dim 0, lists by item)."""
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            out[k] = v[torch.as_tensor(index, device=v.device)]
        elif isinstance(v, (list, tuple)):
            out[k] = type(v)(v[i] for i in index)
        else:
            out[k] = v
    return out


class CorpusValidation(torch.nn.Module):
    """Validation forward that keeps the loss sums of each corpus.

    Called by ESPnet's ``validate_one_epoch`` in place of the model. A batch
    is split by corpus (one model call per corpus present; the TUSS recipes
    validate with batch 1 as the authors do, so one call); items of
    ``segment_corpora`` are separated segment-wise (the model's
    ``segment_samples``). ESPnet's reporter receives the model's statistics
    averaged over the batch's items, without ``loss``; :meth:`report` then
    registers ``loss`` = the mean of the per-corpus mean losses and
    ``loss_<corpus>`` as one more step, so they are exactly these values in
    the epoch's statistics (the other steps have no ``loss``). Non-finite
    losses are left out, as ESPnet leaves them out of its averages.

    Args:
        module: the model (DDP / DataParallel wrappers are looked through: the
            per-corpus calls run on the local model, with no collective call).
        corpora: all corpora of the validation set.
        segment_samples: segment length in samples (None: whole items).
        segment_corpora: corpora validated segment-wise.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        corpora: Sequence[str],
        segment_samples: Optional[int] = None,
        segment_corpora: Sequence[str] = (),
    ):
        super().__init__()
        self.module = module
        self.corpora = sorted(corpora)
        self.segment_samples = segment_samples
        self.segment_corpora = frozenset(segment_corpora) if segment_samples else frozenset()
        # corpus -> [sum of the finite item losses, number of those items]
        self.totals: Dict[str, List[float]] = {c: [0.0, 0] for c in self.corpora}

    def _call(self, batch: Dict, corpus: str):
        net = getattr(self.module, "module", self.module)  # DDP / DataParallel
        if corpus in self.segment_corpora:
            retval = net(**batch, segment_samples=self.segment_samples)
        else:
            retval = net(**batch)
        if isinstance(retval, dict):
            return retval["loss"], retval["stats"]
        return retval[0], retval[1]

    def forward(self, **batch):
        corpora = batch.pop(CORPUS_KEY, None)
        if corpora is None:
            raise ValueError("a validation batch without its corpora (batch['corpus'])")
        groups: Dict[str, List[int]] = {}
        for i, c in enumerate(corpora):
            groups.setdefault(c, []).append(i)
        n_items = len(corpora)
        losses, sums, counts = [], {}, {}
        for corpus, index in groups.items():
            part = batch if len(groups) == 1 else _select(batch, index)
            loss, stats = self._call(part, corpus)
            loss = loss.detach().float().mean()
            if torch.isfinite(loss):
                total = self.totals.setdefault(corpus, [0.0, 0])
                total[0] += float(loss) * len(index)
                total[1] += len(index)
            losses.append(loss * len(index))
            for k, v in stats.items():
                if k == "loss" or v is None:
                    continue
                v = torch.as_tensor(v, device=loss.device).detach().float().reshape(())
                sums[k] = sums.get(k, 0.0) + v * len(index)
                counts[k] = counts.get(k, 0) + len(index)
        stats = {k: sums[k] / counts[k] for k in sums}
        loss = torch.stack(losses).sum() / n_items
        return loss, stats, torch.tensor(n_items, device=loss.device)

    def corpus_means(self, distributed: bool = False, device: str = "cpu") -> Dict[str, float]:
        """``{corpus: mean loss}`` (NaN for a corpus without a finite loss),
        summed over all ranks when ``distributed``."""
        names = sorted(self.totals)
        sums = torch.tensor(
            [[self.totals[c][0], self.totals[c][1]] for c in names], dtype=torch.float64, device=device
        )  # (n_corpora, 2)
        if distributed:
            torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM)
        return {c: float(s / n) if n > 0 else math.nan for c, (s, n) in zip(names, sums.tolist())}

    def report(self, reporter, distributed: bool = False, device: str = "cpu") -> None:
        """Register ``loss`` (mean of the finite per-corpus means) and
        ``loss_<corpus>`` as one more step of ``reporter``."""
        means = self.corpus_means(distributed, device)
        finite = [m for m in means.values() if math.isfinite(m)]
        stats = {"loss": sum(finite) / len(finite) if finite else math.nan}
        stats.update({f"loss_{c}": m for c, m in means.items()})
        reporter.register(stats, 1)
        reporter.next()


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
