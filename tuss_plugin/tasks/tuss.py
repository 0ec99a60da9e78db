# SPDX-License-Identifier: Apache-2.0
"""``TUSSTask``: ESPnet's enhancement task with prompts.

Differences to ``EnhancementTask`` (everything else, including ``--resume``,
DDP and the optimisers, is ESPnet's own):

* builds :class:`~tuss_plugin.espnet_model.TUSSEnhancementModel`, which passes
  the ``prompts`` data field to the separator and the loss wrappers;
* the preprocessor ``tuss`` turns prompt words into ids and splits
  multi-column reference lists (see :mod:`tuss_plugin.train.preprocessor`);
* defaults: ``tuss_stft`` encoder/decoder, ``tuss`` separator, thresholded SNR
  with category-wise PIT;
* refuses batches that mix different numbers of prompts;
* validation per corpus: a ``utt2corpus`` list next to the first validation
  data file tags every validation batch with its items' corpora, so that
  the trainer weighs every corpus equally (:func:`tag_valid_corpora`);
* a conventional model's ``separator_conf.output_prompts`` (its output-slot
  order) orders every on-the-fly training mixture, and data lists in another
  order are refused (:func:`output_slots`);
* ``--train_data_source onthefly`` simulates every training batch from source
  pools (``--onthefly_conf``, see :mod:`tuss_plugin.onthefly`) instead of
  reading mixture lists; validation stays list-based, and ``--collect_stats``
  then takes its training statistics from the validation lists;
* ``--finetune_prompts`` / ``--finetune_modules`` train only these prompt
  vectors (e.g. prompts added to a trained model) and modules, everything else
  frozen and out of the optimizer (:mod:`tuss_plugin.train.finetune`);
* ``--use_amp`` (mixed precision, the paper configs) is turned off with
  ``--ngpu 0``: CPU training stays float32;
* ``--unused_parameters`` defaults to true, so that DDP (``--ngpu N
  --multiprocessing_distributed true``, or one process per rank started with
  ``--dist_world_size``/``--dist_rank``) tolerates parameters without a
  gradient in a step, which DDP without detection refuses at the next step.
  The TUSS separator itself looks its prompt table up as a whole, so prompts
  absent from a batch get zero gradients; the detection guards other
  separators and costs one graph traversal per step (a config may say
  false). On the fly, each rank simulates its own share of the batch
  (:class:`~tuss_plugin.onthefly.iterator.OnTheFlyIterFactory`);
* the trainer is :class:`~tuss_plugin.train.trainer.TUSSTrainer`, ESPnet's trainer
  that also counts skipped non-finite losses per epoch and resumes from the
  last complete checkpoint after an interruption.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from espnet2.tasks.abs_task import optim_classes
from espnet2.tasks.enh import EnhancementTask
from espnet2.train.class_choices import ClassChoices
from espnet2.utils.get_default_kwargs import get_default_kwargs
from espnet2.utils.nested_dict_action import NestedDictAction

import tuss_plugin  # noqa: F401  (registers the plugin's classes)
from tuss_plugin import model_builder
from tuss_plugin.espnet_model import TUSSEnhancementModel, espnet_model_conf
from tuss_plugin.fileio.textfiles import open_text
from tuss_plugin.onthefly.conf import resolve_onthefly_conf
from tuss_plugin.onthefly.iterator import OnTheFlyIterFactory
from tuss_plugin.precision import check_bf16_request
from tuss_plugin.prompts import PromptVocabulary
from tuss_plugin.scoring.paper_table3 import row_label
from tuss_plugin.tasks.chunking import prepare_chunk_iterator, read_num_prompts
from tuss_plugin.train import finetune
from tuss_plugin.train.corpus_validation import UTT2CORPUS, UTT2FS, CorpusTagger, read_utt2corpus, read_utt2fs
from tuss_plugin.train.preprocessor import TUSSPreprocessor
from tuss_plugin.train.trainer import TUSSTrainer
from tuss_plugin.utils import cpu_memory

preprocessor_choices = ClassChoices(
    name="preprocessor",
    classes=dict(tuss=TUSSPreprocessor),
    type_check=None,
    default="tuss",
    optional=True,
)

# vocabulary keys shared by the separator and the preprocessor
_VOCAB_KEYS = ("prompts", "prompt_aliases", "exclusive_prompts")

DEFAULT_CRITERIONS = [{"name": "snr_zeroref", "conf": {}, "wrapper": "category_pit", "wrapper_conf": {}}]


class TUSSTask(EnhancementTask):
    """Enhancement task for prompt-conditioned separators (TUSS)."""

    # ESPnet's trainer + skipped non-finite steps counted, crash-safe resume
    trainer = TUSSTrainer

    class_choices_list = [
        preprocessor_choices if c.name == "preprocessor" else c for c in EnhancementTask.class_choices_list
    ]

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        super().add_task_arguments(parser)
        parser.add_argument(
            "--fs",
            type=lambda x: None if str(x).lower() in ("none", "null", "") else int(x),
            default=None,
            help="Sampling rate of the training audio; saved in config.yaml so that "
            "inference resamples inputs to it (default: the separator's fs)",
        )
        parser.add_argument(
            "--train_data_source",
            choices=["lists", "onthefly"],
            default="lists",
            help="lists: --train_data_path_and_name_and_type; onthefly: simulate every "
            "training batch from the source pools of --onthefly_conf",
        )
        parser.add_argument(
            "--onthefly_conf",
            action=NestedDictAction,
            default=dict(),
            help="on-the-fly mixing options (pools, prompts, num_prompts_weights, fs, "
            "chunk_seconds, steps_per_epoch, prompt_dropout_prob, ...; see "
            "tuss_plugin.onthefly.iterator.ONTHEFLY_CONF_DEFAULTS)",
        )
        parser.add_argument(
            "--paper_row",
            type=row_label,
            default=None,
            help="the row of the TUSS paper's Table III this model reproduces (M0-M5, L3-L6s); "
            "saved in config.yaml, where show_results finds it and adds the difference row",
        )
        finetune.add_arguments(parser)
        parser.set_defaults(
            # only keys ESPnet's own model class takes, so ESPnet's loaders build our configs
            model_conf=espnet_model_conf(get_default_kwargs(TUSSEnhancementModel)),
            criterions=DEFAULT_CRITERIONS,
            encoder="tuss_stft",
            decoder="tuss_stft",
            separator="tuss",
            preprocessor="tuss",
            # DDP: parameters without a gradient in a step are detected instead
            # of failing the run (a config may still say false)
            unused_parameters=True,
        )

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech_mix",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return tuple(super().optional_data_names(train, inference)) + (
            "speech_ref1",
            "speech_refs",
            "prompts",
        )

    @classmethod
    def build_preprocess_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Optional[Callable[[str, Dict[str, np.ndarray]], Dict[str, np.ndarray]]]:
        conf = dict(getattr(args, "preprocessor_conf", None) or {})
        sep_conf = getattr(args, "separator_conf", None) or {}
        for key in _VOCAB_KEYS:
            if conf.get(key) is None and sep_conf.get(key) is not None:
                conf[key] = sep_conf[key]
        return TUSSPreprocessor(train=train, **conf)

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> TUSSEnhancementModel:
        """:func:`tuss_plugin.model_builder.build_model` (shared with inference)."""
        return model_builder.build_model(args)

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: torch.nn.Module) -> List[torch.optim.Optimizer]:
        """ESPnet's optimizer; when fine-tuning (``--finetune_prompts`` /
        ``--finetune_modules``), over the trainable parameters only."""
        if not (getattr(args, "finetune_prompts", None) or getattr(args, "finetune_modules", None)):
            return super().build_optimizers(args, model)
        if getattr(args, "sharded_ddp", False) or getattr(args, "exclude_weight_decay", False):
            raise ValueError(
                "--finetune_prompts/--finetune_modules: not supported with --sharded_ddp or --exclude_weight_decay"
            )
        optim_class = optim_classes.get(args.optim)
        if optim_class is None:
            raise ValueError(f"must be one of {list(optim_classes)}: {args.optim}")
        return [optim_class(finetune.trainable_parameters(model), **args.optim_conf)]

    @classmethod
    def build_iter_factory(cls, args, distributed_option, mode: str, kwargs=None):
        prepare_chunk_iterator(args, mode)  # --iterator_type chunk: prompts are not cut
        if mode != "train" or getattr(args, "train_data_source", "lists") != "onthefly":
            return super().build_iter_factory(args, distributed_option, mode, kwargs)
        conf = resolve_onthefly_conf(args.onthefly_conf, args)
        preprocess_fn = cls.build_preprocess_fn(args, train=False)  # no random crop
        slots = output_slots(args, preprocess_fn.vocab)
        if slots is not None:
            conf = apply_output_slots(conf, slots, preprocess_fn.vocab)
        distributed = getattr(distributed_option, "distributed", False)
        return OnTheFlyIterFactory(
            conf,
            preprocess_fn=preprocess_fn,
            collate_fn=cls.build_collate_fn(args, train=True),
            prompt_order=preprocess_fn.vocab.names,
            exclusive=preprocess_fn.vocab.exclusive_rules(),
            rank=distributed_option.dist_rank if distributed else 0,
            world_size=distributed_option.dist_world_size if distributed else 1,
        )

    @classmethod
    def main_worker(cls, args: argparse.Namespace):
        """ESPnet's worker (every training process, spawned ones too); its
        malloc settings are those ``tuss-train`` asked for
        (:func:`tuss_plugin.utils.cpu_memory.apply_in_worker`); on the fly, the
        statistics stage reads the validation lists; a CPU run trains in fp32
        (:func:`cpu_stays_fp32`)."""
        cpu_memory.apply_in_worker()  # as the entry point: no page faults from re-allocated activations
        if (
            getattr(args, "collect_stats", False)
            and getattr(args, "train_data_source", "lists") == "onthefly"
            and not args.train_data_path_and_name_and_type
        ):
            # no training lists: the statistics of the validation lists stand in
            args.train_data_path_and_name_and_type = list(args.valid_data_path_and_name_and_type)
            args.train_shape_file = list(args.valid_shape_file)
        cpu_stays_fp32(args)
        super().main_worker(args)

    @classmethod
    def build_sequence_iter_factory(cls, args, iter_options, mode: str):
        factory = super().build_sequence_iter_factory(args, iter_options, mode)
        prompt_files = [p for p, name, _ in iter_options.data_path_and_name_and_type if name == "prompts"]
        batches = getattr(getattr(factory, "sampler", None), "batches", None)
        if prompt_files and batches is not None:
            check_homogeneous_batches(batches, prompt_files[0])
        if mode == "valid":
            tag_valid_corpora(factory, iter_options)
        if prompt_files:
            vocab = cls.build_preprocess_fn(args, train=False).vocab
            slots = output_slots(args, vocab)
            if slots is not None:
                check_slot_order(prompt_files[0], slots, vocab)
        return factory


def cpu_stays_fp32(args: argparse.Namespace) -> None:
    """Turn ``--use_amp`` off for a CPU run (``--ngpu 0``).

    The paper configs train with ESPnet's mixed precision (``use_amp: true``:
    CUDA autocast in bf16 on GPUs that support it, as the authors trained,
    else fp16, with ESPnet's gradient scaler); on the CPU the same config
    trains in plain float32, without a gradient scaler, unless ``--cpu_bf16
    true`` asks for CPU bf16 autocast (:class:`tuss_plugin.train.trainer.TUSSTrainer`).
    ``config.yaml`` of the run records what was used. ``--cpu_bf16 true`` on a
    CPU without native bf16 units raises
    :class:`tuss_plugin.precision.EmulatedBF16Error`.
    """
    if getattr(args, "cpu_bf16", False) and int(getattr(args, "ngpu", 0) or 0) == 0:
        check_bf16_request("cpu", "--cpu_bf16 true")  # emulated bf16 would train about 100x slower
    if getattr(args, "use_amp", False) and int(getattr(args, "ngpu", 0) or 0) == 0:
        if getattr(args, "cpu_bf16", False):
            logging.info("--use_amp true ignored with --ngpu 0: --cpu_bf16 trains under CPU bf16 autocast")
        else:
            logging.info("--use_amp true ignored with --ngpu 0: training in float32 (--cpu_bf16 true: bf16)")
        args.use_amp = False


def tag_valid_corpora(factory, iter_options) -> None:
    """Tag the batches of a validation iterator with their items' corpora.

    The corpora come from ``utt2corpus`` (``<utt> <corpus>``) in the directory
    of the first validation data file (where ESPnet looks for
    ``utt2category``); without it nothing changes (one corpus, ESPnet's item
    mean). Every validation utterance must be listed. The corpora of the
    whole set (the keys of the first shape file, before any distributed
    sharding) are the same on every rank.
    """
    folder = Path(iter_options.data_path_and_name_and_type[0][0]).parent
    path, fs_path = folder / UTT2CORPUS, folder / UTT2FS
    rate_of = read_utt2fs(fs_path) if fs_path.exists() else None
    if not path.exists() and rate_of is None:
        return
    # a set at each corpus's own rate without utt2corpus: one corpus, validated at its rates
    corpus_of = read_utt2corpus(path) if path.exists() else {u: "all" for u in rate_of}
    keys = None
    if iter_options.shape_files:
        with open_text(iter_options.shape_files[0]) as f:
            keys = [line.split(maxsplit=1)[0] for line in f if line.strip()]
    batches = getattr(getattr(factory, "sampler", None), "batches", None) or []
    for utt in list(keys or []) + [u for b in batches for u in b]:
        if utt not in corpus_of:
            raise ValueError(
                f"{path}: no corpus for validation utterance {utt} (list every utterance of the validation set)"
            )
    corpora = {corpus_of[u] for u in keys} if keys else set(corpus_of.values())
    if rate_of is not None:
        missing = [u for u in list(keys or corpus_of) if u not in rate_of]
        if missing:
            raise ValueError(f"{fs_path}: no rate for validation utterance {missing[0]}")
    factory.collate_fn = CorpusTagger(factory.collate_fn, corpus_of, sorted(corpora), rate_of)


def check_homogeneous_batches(batches, prompts_file: str) -> None:
    """Raise if a mini-batch mixes different numbers of prompts."""
    n_of = read_num_prompts(prompts_file)
    for batch in batches:
        counts = {n_of.get(u) for u in batch}
        if len(counts) > 1:
            raise ValueError(
                f"a mini-batch mixes {sorted(c for c in counts if c is not None)} prompts "
                f"({', '.join(batch[:4])}...). Write utt2category (the number of "
                f"prompts per utterance) next to the first data file "
                f"({Path(prompts_file).parent}) and use --batch_type folded, or use "
                "--batch_size 1"
            )


def output_slots(args: argparse.Namespace, vocab: PromptVocabulary) -> Optional[List[str]]:
    """The output-slot order of a conventional model, or None.

    The one rule for separators without prompts: output k belongs to the k-th
    reference of the data, in training, validation and scoring alike. A model
    trained on mixtures of fixed categories declares that order as
    ``separator_conf.output_prompts`` (canonical names returned, aliases
    resolved with ``vocab``); on-the-fly training mixtures are then sorted into
    it (:func:`apply_output_slots`) and data lists must follow it
    (:func:`check_slot_order`).
    """
    names = (getattr(args, "separator_conf", None) or {}).get("output_prompts")
    if names is None:
        return None
    try:
        return [vocab.canonical(p) for p in names]
    except ValueError as e:
        raise ValueError(f"separator_conf.output_prompts: {e}") from None


def _unique(names: Sequence[str]) -> List[str]:
    """Names in order of first appearance."""
    return list(dict.fromkeys(names))


def apply_output_slots(conf: Dict, slots: List[str], vocab: PromptVocabulary) -> Dict:
    """A resolved ``--onthefly_conf`` whose mixtures are sorted into ``slots``.

    Raises ``ValueError`` if the mixing options contradict the slots: another
    ``sort_prompts`` order, no prompts in the batch (``emit_prompts: false``),
    prompt dropout, a number of prompts other than ``len(slots)``, or a
    drawable prompt that has no slot.
    """
    where = f"--onthefly_conf contradicts separator_conf.output_prompts {slots}"
    sort = conf.get("sort_prompts")
    if isinstance(sort, (list, tuple)):
        order = [p for p in (vocab.canonical(q) for q in sort) if p in slots]
        if _unique(order) != _unique(slots):
            raise ValueError(f"{where}: sort_prompts {list(sort)} is another order (drop it)")
    if not conf.get("emit_prompts", True):
        raise ValueError(f"{where}: emit_prompts false (the loss needs the prompts of the slots)")
    if float(conf.get("prompt_dropout_prob", 0) or 0) > 0:
        raise ValueError(f"{where}: prompt_dropout_prob > 0 (dropped prompts leave slots without a reference)")
    counts = sorted(int(n) for n, w in conf["num_prompts_weights"].items() if float(w) > 0)
    if counts != [len(slots)]:
        raise ValueError(f"{where}: num_prompts_weights draws {counts} prompts, the model has {len(slots)} slots")
    table = conf["prompts"]
    drawable = {p for p, v in table.items() if float(v.get("init_prob", 0) or 0) > 0}
    drawable |= {q for v in table.values() for q, w in (v.get("next") or {}).items() if float(w or 0) > 0}
    extra = sorted(drawable - set(slots))
    if extra:
        raise ValueError(f"{where}: prompts {extra} can be drawn but have no output slot")
    return dict(conf, sort_prompts=list(slots))


def check_slot_order(prompts_file: str, slots: List[str], vocab: PromptVocabulary) -> None:
    """Raise unless every utterance of ``prompts_file`` lists exactly ``slots``."""
    with open_text(prompts_file) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            names = [vocab.canonical(p) for p in parts[1:]]
            if names != slots:
                raise ValueError(
                    f"{prompts_file}:{lineno}: utterance {parts[0]} lists prompts {names}, but "
                    f"the model's output slots (separator_conf.output_prompts) are {slots}; "
                    "a model without prompts compares output k with reference k"
                )
