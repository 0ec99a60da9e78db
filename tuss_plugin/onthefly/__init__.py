# SPDX-License-Identifier: Apache-2.0
"""On-the-fly training mixtures for TUSS (Saijo et al., ICASSP 2025, Sec. II-C).

* :mod:`~tuss_plugin.onthefly.prompt_sampler`: number of prompts per batch and
  prompt lists per mixture (the authors' Markov tables);
* :mod:`~tuss_plugin.onthefly.mixer`: source pools and mixture simulation;
* :mod:`~tuss_plugin.onthefly.conf`: the ``--onthefly_conf`` options used by
  ``TUSSTask`` (defaults, prompt table, new categories);
* :mod:`~tuss_plugin.onthefly.iterator`: ESPnet iterator factory and prompt dropout.
"""

from tuss_plugin.onthefly.iterator import (  # noqa: F401
    ONTHEFLY_CONF_DEFAULTS,
    OnTheFlyBatches,
    OnTheFlyIterFactory,
    OnTheFlyOptions,
    prompt_dropout,
    resolve_onthefly_conf,
)
from tuss_plugin.onthefly.mixer import Mixer, PoolEntry, SourcePools, read_pool_dir  # noqa: F401
from tuss_plugin.onthefly.prompt_sampler import (  # noqa: F401
    DEFAULT_NUM_PROMPTS_WEIGHTS,
    DEFAULT_PROMPT_TABLE,
    PromptSampler,
    default_prompt_table,
)
