# SPDX-License-Identifier: Apache-2.0
"""TUSS: Task-aware Unified Source Separation as an ESPnet plugin.

K. Saijo, J. Ebbers, F. G. Germain, G. Wichern, J. Le Roux,
"Task-aware Unified Source Separation", Proc. ICASSP 2025.

Importing this package registers the ``tuss`` and ``bslocoformer``
separators, the ``tuss_stft`` encoder/decoder, the ``category_pit`` loss
wrapper and the ``snr_zeroref`` criterion with ESPnet's enhancement task, and
the task ``tuss`` with ``espnet.load`` (ESPnet >= 202611). The import itself
is cheap: the registration runs when ``espnet2.tasks.enh`` (``espnet``) is
imported, or at once if it is already (:mod:`tuss_plugin.import_hooks`), so
commands that never build a model through ESPnet do not pay for importing it.
"""

from __future__ import annotations

__version__ = "0.1.0"

from tuss_plugin.import_hooks import when_imported


def _register_enh(_module) -> None:
    from tuss_plugin.registry import register_enh_choices

    register_enh_choices()


def _register_load_task(module) -> None:
    # espnet >= 202611: espnet.load(tag, task="tuss") returns a SeparateAudio;
    # runs while espnet2/__init__ imports espnet (ESPnet 202511) too: imports nothing
    tasks = getattr(module, "TASKS", None)
    if isinstance(tasks, dict):
        tasks.setdefault("tuss", ("tuss_plugin.inference", "SeparateAudio"))


def _adapt_separate_speech(module) -> None:
    from tuss_plugin.inference.espnet_separate_speech import adapt_separate_speech

    adapt_separate_speech(module)


when_imported("espnet2.tasks.enh", _register_enh)
when_imported("espnet2.bin.enh_inference", _adapt_separate_speech)
when_imported("espnet", _register_load_task)

# names importable from the package, loaded (with torch) when first used
_LAZY = {
    "DEFAULT_PROMPTS": "tuss_plugin.prompts",
    "PromptVocabulary": "tuss_plugin.layers.prompt",
    "TUSSSeparator": "tuss_plugin.separator.tuss_separator",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuss_plugin' has no attribute {name!r}")


__all__ = ["DEFAULT_PROMPTS", "PromptVocabulary", "TUSSSeparator", "__version__"]
