# SPDX-License-Identifier: Apache-2.0
"""Build the TUSS model a training config describes (Saijo et al., ICASSP 2025).

One builder for training (``TUSSTask.build_model``) and inference
(:func:`tuss_plugin.inference.load_model`): encoder, separator and decoder,
the loss wrappers of ``criterions`` and :class:`TUSSEnhancementModel` with
``model_conf``. Classes of this package (``tuss_stft``, ``tuss``,
``bslocoformer``, ``category_pit``, ``snr_zeroref``) are taken from
:mod:`tuss_plugin.registry`'s tables, so building a TUSS model does not
import ESPnet's enhancement task (every ESPnet separator, about 4 s); any
other name is looked up in ESPnet's choices, which imports it.
"""

from __future__ import annotations

import argparse

from tuss_plugin.espnet_model import TUSSEnhancementModel
from tuss_plugin.train import finetune

# kind -> (this package's table in tuss_plugin.registry, ESPnet's ClassChoices in espnet2.tasks.enh)
_KINDS = {
    "encoder": ("ENCODERS", "encoder_choices"),
    "decoder": ("DECODERS", "decoder_choices"),
    "separator": ("SEPARATORS", "separator_choices"),
    "criterion": ("CRITERIONS", "criterion_choices"),
    "loss_wrapper": ("LOSS_WRAPPERS", "loss_wrapper_choices"),
}


def choice(kind: str, name: str) -> type:
    """The class of ``--<kind> <name>``: this package's, else ESPnet's (as
    ``ClassChoices.get_class``: case-insensitive, ``ValueError`` naming the
    choices if unknown)."""
    from tuss_plugin import registry

    table, choices = _KINDS[kind]
    cls = getattr(registry, table).get(str(name).lower())
    if cls is not None:
        return cls
    import espnet2.tasks.enh as enh

    return getattr(enh, choices).get_class(name)


def build_model(args: argparse.Namespace) -> TUSSEnhancementModel:
    """The model of ``args`` (a parsed training config): modules, loss
    wrappers, ``init`` and the fine-tuning freeze (``finetune_prompts`` /
    ``finetune_modules``)."""
    if str(args.separator).endswith("nomask"):
        raise ValueError("mask-module separators (*nomask) are not supported by TUSSTask")
    encoder = choice("encoder", args.encoder)(**args.encoder_conf)
    separator = choice("separator", args.separator)(encoder.output_dim, **args.separator_conf)
    decoder = choice("decoder", args.decoder)(**args.decoder_conf)
    loss_wrappers = []
    for ctr in getattr(args, "criterions", None) or []:
        criterion = choice("criterion", ctr["name"])(**ctr.get("conf", {}))
        wrapper = choice("loss_wrapper", ctr["wrapper"])
        loss_wrappers.append(wrapper(criterion=criterion, **ctr.get("wrapper_conf", {})))
    model = TUSSEnhancementModel(
        encoder=encoder,
        separator=separator,
        decoder=decoder,
        mask_module=None,
        loss_wrappers=loss_wrappers,
        **args.model_conf,
    )
    if getattr(args, "init", None) is not None:
        from espnet2.torch_utils.initialize import initialize

        initialize(model, args.init)
    finetune.freeze_all_but(
        model, getattr(args, "finetune_prompts", None) or [], getattr(args, "finetune_modules", None) or []
    )
    return model
