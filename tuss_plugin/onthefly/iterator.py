# SPDX-License-Identifier: Apache-2.0
"""ESPnet iterator factory that simulates every training batch on the fly.

The TUSS training recipe (Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025, Sec. II-C) mixes new sources at every step instead
of reading a fixed list of mixtures. :class:`OnTheFlyIterFactory` plugs this
into ESPnet's trainer: ``build_iter(epoch)`` returns a ``DataLoader`` of
``steps_per_epoch`` mini-batches in exactly the format of the list-based path
(``TUSSPreprocessor`` + ESPnet's collate function): ``speech_mix`` (B, L),
``speech_ref1..N`` (B, L), ``prompts`` (B, N) ids and their ``*_lengths``.

Randomness: batch ``step`` of ``epoch`` on DDP rank ``rank`` uses a generator
seeded with ``(seed, epoch, rank, step)`` (the number of prompts N with
``(seed, epoch, step)``, so that all ranks agree on it); every DataLoader worker builds
different steps, so the workers' streams differ, and a batch does not depend
on the number of workers (resuming at an epoch reproduces it).

Prompt dropout (paper Sec. II-C, fine-tuning): with probability
``prompt_dropout_prob`` per batch, M prompts (M uniform in 1..N-1) are removed
from each item's prompt and reference lists while the mixture keeps their
sources. A prompt whose category appears more than once in its mixture is
never removed (which of the two speakers would be meant?), so M is at most the
smallest number of single-occurrence prompts in the batch; all items drop the
same number, so the batch stays rectangular.

The ``--onthefly_conf`` options are :mod:`tuss_plugin.onthefly.conf`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from espnet2.iterators.abs_iter_factory import AbsIterFactory
from torch.utils.data import DataLoader, Dataset

from tuss_plugin.onthefly.mixer import Mixer, SourcePools
from tuss_plugin.onthefly.prompt_sampler import PromptSampler


def prompt_dropout(
    prompts: List[List[str]],
    refs: List[np.ndarray],
    prob: float,
    rng: np.random.Generator,
) -> Tuple[List[List[str]], List[np.ndarray]]:
    """Drop the same number of single-occurrence prompts from every item.

    Args:
        prompts: B prompt lists, all of length N.
        refs: B arrays (N, L).
        prob: probability that this batch drops anything.
        rng: random generator.

    Returns:
        the new prompt lists and references (mixtures are not touched).
    """
    if prob <= 0 or not prompts or rng.random() >= prob:
        return prompts, refs
    n = len(prompts[0])
    unique = [[i for i, p in enumerate(pr) if pr.count(p) == 1] for pr in prompts]
    max_drop = min(n - 1, min(len(u) for u in unique))
    if max_drop < 1:
        return prompts, refs
    m = int(rng.integers(1, max_drop + 1))
    new_prompts, new_refs = [], []
    for pr, r, u in zip(prompts, refs, unique):
        drop = set(int(i) for i in rng.choice(u, size=m, replace=False))
        keep = [i for i in range(n) if i not in drop]
        new_prompts.append([pr[i] for i in keep])
        new_refs.append(r[keep])  # (N - M, L)
    return new_prompts, new_refs


class OnTheFlyBatches(Dataset):
    """Map-style dataset whose item ``step`` is one complete, collated mini-batch.

    Args:
        sampler: prompt sampler.
        mixer: mixture simulator.
        batch_size: mixtures per batch (on this rank).
        steps: batches per epoch.
        seed, epoch, rank: seed of the stream (see the module docstring).
        preprocess_fn: ``(uid, data) -> data`` (the task's preprocessor, eval mode).
        collate_fn: ESPnet collate function ``[(uid, data)] -> (uids, batch)``.
        prompt_dropout_prob: see :func:`prompt_dropout`.
        sort_prompts: order each item's prompts and references by ``prompt_order``
            (conventional separators have fixed output slots).
        prompt_order: prompt names in the order wanted (default: the sampler's).
        emit_prompts: include the ``prompts`` field.
    """

    def __init__(
        self,
        sampler: PromptSampler,
        mixer: Mixer,
        batch_size: int,
        steps: int,
        seed: int,
        epoch: int,
        rank: int = 0,
        preprocess_fn: Optional[Callable] = None,
        collate_fn: Optional[Callable] = None,
        prompt_dropout_prob: float = 0.0,
        sort_prompts: bool = False,
        prompt_order: Optional[Sequence[str]] = None,
        emit_prompts: bool = True,
    ):
        self.sampler = sampler
        self.mixer = mixer
        self.batch_size = int(batch_size)
        self.steps = int(steps)
        self.seed, self.epoch, self.rank = int(seed), int(epoch), int(rank)
        self.preprocess_fn = preprocess_fn
        self.collate_fn = collate_fn
        self.prompt_dropout_prob = float(prompt_dropout_prob)
        self.sort_prompts = sort_prompts
        self.order = {p: i for i, p in enumerate(prompt_order or sampler.names)}
        self.emit_prompts = emit_prompts

    def __len__(self) -> int:
        return self.steps

    def rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, self.rank, int(step)])

    def simulate(self, step: int) -> Tuple[List[List[str]], List[np.ndarray], List[np.ndarray]]:
        """Prompt lists, mixtures (L,) and references (N', L) of batch ``step``."""
        # N is shared by all DDP ranks of a step; everything else is per rank
        n = self.sampler.sample_num_prompts(np.random.default_rng([self.seed, self.epoch, int(step)]))
        rng = self.rng(step)
        prompts, mixes, refs = [], [], []
        for _ in range(self.batch_size):
            pr = self.sampler.sample(n, rng)
            mix, ref = self.mixer.make(pr, rng)
            prompts.append(pr)
            mixes.append(mix)
            refs.append(ref)
        prompts, refs = prompt_dropout(prompts, refs, self.prompt_dropout_prob, rng)
        if self.sort_prompts:
            for b, pr in enumerate(prompts):
                idx = sorted(range(len(pr)), key=lambda i: self.order.get(pr[i], len(self.order)))
                prompts[b] = [pr[i] for i in idx]
                refs[b] = refs[b][idx]
        return prompts, mixes, refs

    def __getitem__(self, step: int):
        prompts, mixes, refs = self.simulate(step)
        items = []
        for b, (pr, mix, ref) in enumerate(zip(prompts, mixes, refs)):
            uid = f"onthefly_e{self.epoch}_r{self.rank}_s{step}_{b}"
            data: Dict[str, Any] = {"speech_mix": mix}
            for k, r in enumerate(ref, 1):
                data[f"speech_ref{k}"] = r
            if self.emit_prompts:
                data["prompts"] = " ".join(pr)
            if self.preprocess_fn is not None:
                data = self.preprocess_fn(uid, data)
            items.append((uid, data))
        if self.collate_fn is None:
            return items
        return self.collate_fn(items)


def _identity(x):
    return x


def _worker_init(worker_id: int) -> None:
    # batches are seeded explicitly; keep torch's per-worker threads at 1
    torch.set_num_threads(1)


class OnTheFlyIterFactory(AbsIterFactory):
    """ESPnet iterator factory of on-the-fly batches (see the module docstring).

    Args:
        conf: a resolved ``--onthefly_conf`` (:func:`resolve_onthefly_conf`).
        preprocess_fn, collate_fn: the task's (as for the list-based path).
        prompt_order: vocabulary order of prompt names (for ``sort_prompts: true``).
        exclusive: the model vocabulary's exclusion rules (prompt -> prompts never
            drawn with it; ``None``: the paper's); a table entry's ``exclusive``
            adds to them.
        rank, world_size: DDP position; each rank builds ``batch_size // world_size``
            mixtures per step with its own stream.
    """

    def __init__(
        self,
        conf: Mapping[str, Any],
        preprocess_fn: Optional[Callable] = None,
        collate_fn: Optional[Callable] = None,
        prompt_order: Optional[Sequence[str]] = None,
        exclusive: Optional[Mapping[str, Sequence[str]]] = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.conf = dict(conf)
        if int(conf["batch_size"]) % world_size:
            raise ValueError(
                f"--onthefly_conf: batch_size {conf['batch_size']} is not a multiple of "
                f"the {world_size} distributed ranks"
            )
        self.sampler = PromptSampler(conf["prompts"], conf["num_prompts_weights"], exclusive)
        self.pools = SourcePools(conf["pools"])
        unused = sorted(set(self.pools.entries) - set(self.sampler.names))
        if unused:
            logging.warning(f"on-the-fly: pool categories {unused} are not in the prompt table (never drawn)")
        self.mixer = Mixer(
            self.pools,
            conf["prompts"],
            fs=int(conf["fs"]),
            chunk_seconds=float(conf["chunk_seconds"]),
            downsample_to_min_fs=bool(conf["downsample_to_min_fs"]),
            dynamic_mixing_sources=conf["dynamic_mixing_sources"],
            on_bad_file=conf["on_bad_file"],
            max_draws=int(conf["max_draws"]),
        )
        drawable = [
            p
            for i, p in enumerate(self.sampler.names)
            if self.sampler.init_prob[i] > 0 or self.sampler.next[:, i].any()
        ]
        self.mixer.check_prompts(drawable)
        self.preprocess_fn = preprocess_fn
        self.collate_fn = collate_fn
        self.prompt_order = prompt_order
        self.rank = int(rank)
        self.world_size = int(world_size)
        logging.info(
            f"on-the-fly training mixtures: {conf['steps_per_epoch']} steps/epoch x "
            f"{conf['batch_size']} mixtures of {conf['chunk_seconds']} s at {conf['fs']} Hz; "
            f"prompts {drawable}; pools {self.pools.summary()}"
        )

    def dataset(self, epoch: int) -> OnTheFlyBatches:
        c = self.conf
        return OnTheFlyBatches(
            self.sampler,
            self.mixer,
            batch_size=int(c["batch_size"]) // self.world_size,
            steps=int(c["steps_per_epoch"]),
            seed=int(c["seed"]),
            epoch=epoch,
            rank=self.rank,
            preprocess_fn=self.preprocess_fn,
            collate_fn=self.collate_fn,
            prompt_dropout_prob=float(c["prompt_dropout_prob"]),
            sort_prompts=bool(c["sort_prompts"]),
            prompt_order=(
                list(c["sort_prompts"]) if isinstance(c["sort_prompts"], (list, tuple)) else self.prompt_order
            ),
            emit_prompts=bool(c["emit_prompts"]),
        )

    def build_iter(self, epoch: int, shuffle: Optional[bool] = None) -> DataLoader:
        workers = int(self.conf["num_workers"])
        return DataLoader(
            self.dataset(epoch),
            batch_size=None,  # every item already is a collated batch
            shuffle=False,
            num_workers=workers,
            collate_fn=_identity,
            worker_init_fn=_worker_init if workers > 0 else None,
        )


__all__ = ["OnTheFlyBatches", "OnTheFlyIterFactory", "prompt_dropout"]
