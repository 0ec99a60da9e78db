# SPDX-License-Identifier: Apache-2.0
"""Register the TUSS classes with ESPnet's enhancement task.

ESPnet has no plugin discovery: its ``ClassChoices`` are module-level objects
read when a parser or model is built. Importing :mod:`tuss_plugin` arranges
for :func:`register_enh_choices` to add our classes to them when
``espnet2.tasks.enh`` is imported (nothing in ESPnet's files is changed), so
``--separator tuss`` works with ESPnet's own ``EnhancementTask`` loaders too. The paper's
learning-rate schedule (and a cosine one for short budgets) is added to ESPnet's scheduler table the same way.
"""

from __future__ import annotations

from tuss_plugin.layers.stft import TUSSSTFTDecoder, TUSSSTFTEncoder
from tuss_plugin.loss.category_pit import CategoryPITSolver
from tuss_plugin.loss.criterions import SNRWithZeroRefLoss
from tuss_plugin.separator.bslocoformer_separator import BSLocoformerSeparator
from tuss_plugin.separator.tuss_separator import TUSSSeparator
from tuss_plugin.train.scheduler import TUSSWarmupCosineLR, TUSSWarmupPlateauLR

SEPARATORS = {"tuss": TUSSSeparator, "bslocoformer": BSLocoformerSeparator}
ENCODERS = {"tuss_stft": TUSSSTFTEncoder}
DECODERS = {"tuss_stft": TUSSSTFTDecoder}
LOSS_WRAPPERS = {"category_pit": CategoryPITSolver}
CRITERIONS = {"snr_zeroref": SNRWithZeroRefLoss}
SCHEDULERS = {"tusswarmupplateau": TUSSWarmupPlateauLR, "tusswarmupcosine": TUSSWarmupCosineLR}


def register() -> None:
    """:func:`register_enh_choices` (idempotent; imports ESPnet's enhancement task).
    ``espnet.load``'s task ``tuss`` is set by ``import tuss_plugin`` when
    ``espnet`` is imported (see the package's ``__init__``)."""
    register_enh_choices()


def register_enh_choices() -> None:
    """Add the plugin's classes to ESPnet's enhancement-task choices (idempotent)."""
    import espnet2.tasks.abs_task as abs_task
    import espnet2.tasks.enh as enh

    for choices, classes in (
        (enh.separator_choices, SEPARATORS),
        (enh.encoder_choices, ENCODERS),
        (enh.decoder_choices, DECODERS),
        (enh.loss_wrapper_choices, LOSS_WRAPPERS),
        (enh.criterion_choices, CRITERIONS),
    ):
        for name, cls in classes.items():
            choices.classes[name.lower()] = cls
    # ESPnet's table of --scheduler values (read when a parser is built)
    for name, cls in SCHEDULERS.items():
        abs_task.scheduler_classes[name] = cls
