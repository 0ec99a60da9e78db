# SPDX-License-Identifier: Apache-2.0
"""TUSS: Task-aware Unified Source Separation as an ESPnet plugin.

K. Saijo, J. Ebbers, F. G. Germain, G. Wichern, J. Le Roux,
"Task-aware Unified Source Separation", Proc. ICASSP 2025.

Importing this package registers the ``tuss`` and ``bslocoformer``
separators, the ``tuss_stft`` encoder/decoder, the ``category_pit`` loss
wrapper and the ``snr_zeroref`` criterion with ESPnet's enhancement task.
"""

__version__ = "0.1.0"

from tuss_plugin.registry import register as _register

_register()

from tuss_plugin.layers.prompt import DEFAULT_PROMPTS, PromptVocabulary  # noqa: E402
from tuss_plugin.separator.tuss_separator import TUSSSeparator  # noqa: E402

__all__ = ["DEFAULT_PROMPTS", "PromptVocabulary", "TUSSSeparator", "__version__"]
