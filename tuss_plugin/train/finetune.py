# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning a part of a trained TUSS model, everything else frozen.

The workflow of :mod:`tuss_plugin.convert.new_prompts`: a prompt added to a trained
model (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025) is
trained alone (``finetune_prompts: [bell]``), or with a named set of modules
for users with more data (``finetune_modules: [separator.cond_tse]``). Every
other parameter is frozen: it has no gradient, no optimizer state and no
weight decay, and it is bit-identical before and after training, also in the
averaged model files ESPnet writes at the end (:func:`restore_frozen`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Sequence, Union

import torch

from tuss_plugin.fileio.atomic import atomic_write

logger = logging.getLogger(__name__)

#: parameter name of a prompt vector in ``TUSSEnhancementModel``
PROMPT_PARAM = "separator.prompt_encoder.prompts.{}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--finetune_prompts`` and ``--finetune_modules`` (TUSSTask options)."""
    group = parser.add_argument_group("Fine-tuning (everything not named is frozen)")
    group.add_argument(
        "--finetune_prompts",
        type=str,
        nargs="*",
        default=[],
        help="train only these prompt vectors (e.g. a prompt added with "
        "tuss_plugin.bin.add_prompts) and the parameters of --finetune_modules; every "
        "other parameter is frozen (no gradient, no optimizer state). Empty: train all",
    )
    group.add_argument(
        "--finetune_modules",
        type=str,
        nargs="*",
        default=[],
        help="parameter-name prefixes trained along with --finetune_prompts, e.g. "
        "separator.cond_tse (the conditional TSE module); see ESPnet's --freeze_param "
        "for the opposite",
    )


def trainable_names(model: torch.nn.Module, prompts: Sequence[str], modules: Sequence[str]) -> List[str]:
    """Names of the parameters to train; ``ValueError`` for a prompt the model
    does not have or a prefix that matches no parameter."""
    names = [n for n, _ in model.named_parameters()]
    keep = []
    vocab = getattr(getattr(model, "separator", None), "vocab", None)
    for p in prompts:
        if vocab is None:
            raise ValueError(f"--finetune_prompts {p}: the separator has no prompt vocabulary")
        try:
            canonical = vocab.canonical(p)
        except ValueError as e:
            raise ValueError(f"--finetune_prompts: {e}") from None
        keep.append(PROMPT_PARAM.format(canonical))
    for m in modules:
        m = m.rstrip(".")
        hits = [n for n in names if n == m or n.startswith(m + ".")]
        if not hits:
            tops = sorted({".".join(n.split(".")[:2]) for n in names})
            raise ValueError(
                f"--finetune_modules {m}: no parameter of the model starts with it (e.g. {', '.join(tops[:8])})"
            )
        keep.extend(hits)
    return [n for n in names if n in set(keep)]


def freeze_all_but(model: torch.nn.Module, prompts: Sequence[str], modules: Sequence[str]) -> List[str]:
    """Freeze every parameter except ``prompts``' vectors and ``modules``;
    nothing happens when both are empty. Returns the trainable names."""
    if not prompts and not modules:
        return [n for n, p in model.named_parameters() if p.requires_grad]
    keep = set(trainable_names(model, prompts, modules))
    for n, p in model.named_parameters():
        p.requires_grad_(n in keep)
    n_train = sum(p.numel() for n, p in model.named_parameters() if n in keep)
    n_all = sum(p.numel() for p in model.parameters())
    logger.info("fine-tuning %d of %d parameters (%s); the rest is frozen", n_train, n_all, ", ".join(sorted(keep)))
    return sorted(keep)


def trainable_parameters(model: torch.nn.Module) -> List[torch.nn.Parameter]:
    """The parameters an optimizer gets (frozen ones have no state in it)."""
    return [p for p in model.parameters() if p.requires_grad]


def restore_frozen(output_dir: Union[str, Path], model: torch.nn.Module) -> List[Path]:
    """Put the frozen tensors of ``model`` back into ESPnet's averaged model files.

    ESPnet averages the n best epochs as ``(x_1 + ... + x_n) / n``, which for a
    frozen tensor (the same x in every epoch) can differ from x in the last bit
    when n > 2. Rewrites (atomically) each ``*.ave_<n>best.pth`` whose frozen
    tensors differ; returns the files rewritten.
    """
    frozen = {n: p.detach().cpu() for n, p in model.named_parameters() if not p.requires_grad}
    if not frozen:
        return []
    fixed = []
    for path in sorted(Path(output_dir).glob("*.ave_*best.pth")):
        if path.is_symlink():
            continue
        state = torch.load(path, map_location="cpu", weights_only=True)
        changed = [n for n, v in frozen.items() if n in state and not torch.equal(state[n], v.to(state[n].dtype))]
        if not changed:
            continue
        for n in changed:
            state[n] = frozen[n].to(state[n].dtype).clone()
        atomic_write(path, lambda tmp, s=state: torch.save(s, tmp))
        logger.info("%s: %d frozen tensor(s) restored after averaging", path, len(changed))
        fixed.append(path)
    return fixed


__all__ = ["add_arguments", "freeze_all_but", "restore_frozen", "trainable_names", "trainable_parameters"]
