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

The checkpoint files are :mod:`tuss_plugin.train.checkpoints`, the validation per
corpus :mod:`tuss_plugin.train.corpus_validation`.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch
from espnet2.train.trainer import Trainer, TrainerOptions
from espnet2.utils.build_dataclass import build_dataclass
from espnet2.utils.types import float_or_none, str2bool

from tuss_plugin.fileio.atomic import atomic_copy
from tuss_plugin.train.checkpoints import (
    CHECKPOINT,
    PREVIOUS,
    kept_epoch_file,
    recover_once,
)
from tuss_plugin.train.corpus_validation import (
    CorpusValidation,
    iterator_corpora,
    model_rate,
    segment_samples,
)
from tuss_plugin.train.finetune import restore_frozen
from tuss_plugin.train.options import TUSSTrainerOptions, check_validation_options

logger = logging.getLogger(__name__)
_warned: set = set()  # warnings given once per process


def keep_epoch_file(out: Path, epoch: int, keep_epochs) -> None:
    """Copy ``<epoch>epoch.pth`` to :func:`kept_epoch_file` (atomically, once) when ``epoch``
    is one of ``keep_epochs``."""
    if epoch not in set(keep_epochs or ()):
        return
    src, dst = out / f"{epoch}epoch.pth", kept_epoch_file(out, epoch)
    if src.is_file() and not dst.is_file():
        atomic_copy(src, dst)
        logger.info("kept the weights of epoch %d: %s", epoch, dst)


class FiniteLossGuard(torch.nn.Module):
    """Wraps the training model; turns a non-finite loss into NaN gradients.

    The forward returns ESPnet's ``(loss, stats, weight)`` (or its dict form)
    unchanged when the loss is finite. Otherwise the loss is replaced by a NaN
    that depends on every trainable parameter, so the gradient norm is NaN and
    ESPnet skips the update, whatever made the loss non-finite. The original
    stats (with the NaN/Inf loss) are still reported; ESPnet's reporter
    leaves non-finite values out of its averages.

    With ``cpu_bf16`` each forward runs under its own CPU bfloat16 autocast
    (``--cpu_bf16``). The context must not outlive the forward: autocast keeps
    the bf16 copies of the weights it made until its context is left, so a
    context around a whole epoch would run every forward of the epoch with
    the weights of its first step while the optimizer updates the float32
    ones. The backward then runs outside autocast, as PyTorch recommends.

    Args:
        module: the (possibly DDP-wrapped) model.
        cpu_bf16: run the forwards under CPU bfloat16 autocast.
    """

    def __init__(self, module: torch.nn.Module, cpu_bf16: bool = False):
        super().__init__()
        self.module = module
        self.cpu_bf16 = cpu_bf16
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
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cpu_bf16):
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
        parser.add_argument_group("TUSS checkpoints").add_argument(
            "--keep_epochs",
            type=int,
            nargs="*",
            default=[],
            help="keep the weights after these epochs as <N>epoch.kept.pth, which ESPnet's "
            "keep_nbest_models does not remove (e.g. 124: the initialisation of the TUSS "
            "paper's prompt-dropout fine-tuning)",
        )
        parser.add_argument_group("TUSS CPU training").add_argument(
            "--cpu_bf16",
            type=str2bool,
            default=False,
            help="with --ngpu 0: train under bfloat16 autocast (products of the forward and backward in bf16; "
            "weights, optimizer and validation in float32; no gradient scaler). Pays on CPUs with native bf16 "
            "(AVX512-BF16, AMX). ESPnet's --use_amp is for GPUs and stays off on the CPU",
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
            cpu_bf16=bool(getattr(args, "cpu_bf16", False)),
            keep_epochs=[int(e) for e in (getattr(args, "keep_epochs", None) or [])],
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
            tally = CorpusValidation(
                model, corpora, segment_samples(options, model), segment_corpora, model_rate(options, model)
            )
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
        (:func:`tuss_plugin.train.finetune.restore_frozen`).

        Distributed (DDP), rank 0 alone checks and repairs the checkpoints
        while the other ranks wait at a barrier, so that every rank, on any
        node and however it was started, resumes from the same files.
        """
        out = Path(trainer_options.output_dir)
        distributed = bool(distributed_option.distributed)
        rank0 = not distributed or distributed_option.dist_rank == 0
        if rank0:
            if trainer_options.resume:
                recover_once(out)
            elif (out / PREVIOUS).exists():
                (out / PREVIOUS).unlink()  # from an earlier, unrelated run
        if distributed and trainer_options.resume:
            torch.distributed.barrier()
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
            # the last epoch's file is removed only by a later epoch: keep it now
            for e in trainer_options.keep_epochs:
                keep_epoch_file(out, e, trainer_options.keep_epochs)

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
        # <epoch - 1>epoch.pth is still there (ESPnet removes an epoch's file outside the
        # n best only at the end of the next epoch): keep it when asked to
        if rank0 and epoch is not None:
            keep_epoch_file(out, epoch - 1, getattr(options, "keep_epochs", ()))
        # --cpu_bf16: CPU autocast around each forward (ESPnet's own autocast is CUDA's)
        guard = FiniteLossGuard(model, cpu_bf16=options.cpu_bf16 and int(options.ngpu) == 0)
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
