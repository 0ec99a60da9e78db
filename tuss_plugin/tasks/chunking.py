# SPDX-License-Identifier: Apache-2.0
"""ESPnet's chunk iterator (``--iterator_type chunk``) for data with prompts.

The chunk iterator cuts every item of an utterance into chunks of
``--chunk_length`` samples and checks that all items have the mixture's
length, except keys listed in ``--chunk_excluded_key_prefixes``. A TUSS
utterance (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025)
also holds its prompt ids, one per source: they are excluded here (every
chunk keeps the utterance's prompts). Its mini-batches are drawn across
utterances, so all mixtures of a set must have the same number of prompts;
a set that mixes counts is refused in one line.
"""

from __future__ import annotations

import argparse
from typing import Dict, List

CHUNK_ITERATORS = ("chunk", "category_chunk")
PROMPTS_KEY = "prompts"


def read_num_prompts(path: str) -> Dict[str, int]:
    """``utt2prompts`` -> {utt: number of prompts}."""
    from tuss_plugin.fileio.textfiles import open_text

    out = {}
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise ValueError(f"{path}:{lineno}: utterance {parts[0]} has no prompts")
            out[parts[0]] = len(parts) - 1
    return out


def _prompt_files(args: argparse.Namespace, mode: str) -> List[str]:
    triples = getattr(args, f"{mode}_data_path_and_name_and_type", None) or []
    return [path for path, name, _ in triples if name == PROMPTS_KEY]


def prepare_chunk_iterator(args: argparse.Namespace, mode: str) -> None:
    """For a chunk iterator: exclude the prompt ids from chunking (``args`` is
    changed in place) and refuse a ``mode`` set with mixed prompt counts."""
    if getattr(args, "iterator_type", None) not in CHUNK_ITERATORS or mode not in ("train", "valid"):
        return
    excluded = list(getattr(args, "chunk_excluded_key_prefixes", None) or [])
    if PROMPTS_KEY not in excluded:
        args.chunk_excluded_key_prefixes = excluded + [PROMPTS_KEY]
    for path in _prompt_files(args, mode):
        counts = sorted(set(read_num_prompts(path).values()))
        if len(counts) > 1:
            raise ValueError(
                f"{path}: mixtures with {counts} prompts, but --iterator_type {args.iterator_type} draws "
                "mini-batches across utterances: all need the same number of prompts "
                "(use --iterator_type sequence with --batch_type folded and utt2category)"
            )
