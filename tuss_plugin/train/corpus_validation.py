# SPDX-License-Identifier: Apache-2.0
"""Validation as the TUSS authors do it: every corpus weighs the same.

With a ``utt2corpus`` list next to the validation data (see
:class:`CorpusTagger`), ``valid/loss`` is the mean of the per-corpus mean
losses, so every corpus weighs the same however many items it has, and each
corpus's mean is logged as ``valid/loss_<corpus>``; items of the corpora in
``--valid_segment_corpora`` (long tracks) are separated in consecutive
``--valid_segment_seconds`` segments and scored on the whole track
(:class:`CorpusValidation`). Used by :class:`tuss_plugin.train.trainer.TUSSTrainer`.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch

from tuss_plugin.train.options import CORPUS_NAME, TUSSTrainerOptions

logger = logging.getLogger(__name__)

UTT2CORPUS = "utt2corpus"  # <utt> <corpus>, next to the first validation data file
CORPUS_KEY = "corpus"  # batch entry: the corpus of each item (list of names)
UTT2FS = "utt2fs"  # <utt> <rate>, written by format_data --fs native next to wav.scp
FS_KEY = "native_fs"  # batch entry: the rate of each item (list of ints), with utt2fs


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


def model_rate(options: TUSSTrainerOptions, model: torch.nn.Module) -> Optional[int]:
    """The model's rate: ``--fs``, else the separator's ``fs``; None when neither is known."""
    net = getattr(model, "module", model)  # DDP / DataParallel
    fs = getattr(options, "fs", None) or getattr(getattr(net, "separator", None), "fs", None)
    return int(fs) if fs else None


def read_utt2fs(path: Union[str, Path]) -> Dict[str, int]:
    """``utt2fs`` (``<utt> <rate>``) as ``{utt: rate}``; ``ValueError`` naming the file."""
    from tuss_plugin.fileio.kaldi_io import read_list

    out: Dict[str, int] = {}
    for utt, fields in read_list(path):
        if len(fields) != 1 or not fields[0].isdigit() or int(fields[0]) <= 0:
            raise ValueError(f"{path}: utterance {utt}: expected '<utt> <rate in Hz>', got {' '.join(fields)!r}")
        out[utt] = int(fields[0])
    return out


def read_utt2corpus(path: Union[str, Path]) -> Dict[str, str]:
    """``utt2corpus`` (``<utt> <corpus>`` per line) as ``{utt: corpus}``.

    Read by the project's list reader (:func:`tuss_plugin.fileio.kaldi_io.read_list`:
    id rule, duplicate keys). Corpus names become statistics keys
    (``loss_<corpus>``): letters, digits, ``_``, ``.``, ``-``. Raises
    ``ValueError`` naming the file (and line).
    """
    from tuss_plugin.fileio.kaldi_io import read_list

    out: Dict[str, str] = {}
    for utt, fields in read_list(path):
        if len(fields) != 1:
            raise ValueError(f"{path}: utterance {utt}: expected '<utt> <corpus>', got {len(fields)} fields")
        if not CORPUS_NAME.fullmatch(fields[0]):
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
        rate_of: ``{utt: rate}`` of a set dumped at each corpus's own rate
            (``utt2fs``); every batch then also gets ``batch["native_fs"]``.
    """

    def __init__(
        self,
        collate_fn: Callable,
        corpus_of: Dict[str, str],
        corpora: Optional[Sequence[str]] = None,
        rate_of: Optional[Dict[str, int]] = None,
    ):
        self.collate_fn = collate_fn
        self.corpus_of = dict(corpus_of)
        self.corpora = sorted(set(corpora if corpora is not None else corpus_of.values()))
        self.rate_of = dict(rate_of) if rate_of else None

    def __call__(self, data):
        utts, batch = self.collate_fn(data)
        batch[CORPUS_KEY] = [self.corpus_of[u] for u in utts]
        if self.rate_of is not None:
            batch[FS_KEY] = [self.rate_of[u] for u in utts]
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
    is split by corpus (one model call per corpus and rate present; the TUSS
    recipes validate with batch 1 as the authors do, so one call); items of
    ``segment_corpora`` are separated segment-wise (the model's
    ``segment_samples``). Items whose rate (``batch["native_fs"]``) is not
    ``model_fs`` are separated at ``model_fs`` and the loss is computed at their
    own rate, as the authors validate (the model's ``native_fs``). ESPnet's reporter receives the model's statistics
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
        model_fs: the model's rate (needed when batches carry their rates).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        corpora: Sequence[str],
        segment_samples: Optional[int] = None,
        segment_corpora: Sequence[str] = (),
        model_fs: Optional[int] = None,
    ):
        super().__init__()
        self.module = module
        self.model_fs = model_fs
        self.corpora = sorted(corpora)
        self.segment_samples = segment_samples
        self.segment_corpora = frozenset(segment_corpora) if segment_samples else frozenset()
        # corpus -> [sum of the finite item losses, number of those items]
        self.totals: Dict[str, List[float]] = {c: [0.0, 0] for c in self.corpora}

    def _call(self, batch: Dict, corpus: str, fs: Optional[int] = None):
        net = getattr(self.module, "module", self.module)  # DDP / DataParallel
        kwargs = {}
        if corpus in self.segment_corpora:
            kwargs["segment_samples"] = self.segment_samples
        if fs is not None and fs != self.model_fs:
            if self.model_fs is None:
                raise ValueError("validation items at their own rate (utt2fs) need the model's rate: set --fs")
            kwargs.update(native_fs=fs, model_fs=self.model_fs)
        retval = net(**batch, **kwargs)
        if isinstance(retval, dict):
            return retval["loss"], retval["stats"]
        return retval[0], retval[1]

    def forward(self, **batch):
        corpora = batch.pop(CORPUS_KEY, None)
        rates = batch.pop(FS_KEY, None) or [None] * len(corpora or [])
        if corpora is None:
            raise ValueError("a validation batch without its corpora (batch['corpus'])")
        groups: Dict[tuple, List[int]] = {}
        for i, key in enumerate(zip(corpora, rates)):
            groups.setdefault(key, []).append(i)
        n_items = len(corpora)
        losses, sums, counts = [], {}, {}
        for (corpus, fs), index in groups.items():
            part = batch if len(groups) == 1 else _select(batch, index)
            loss, stats = self._call(part, corpus, fs)
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
