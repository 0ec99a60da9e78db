# SPDX-License-Identifier: Apache-2.0
"""On-the-fly training mixtures for TUSS (Saijo et al., ICASSP 2025, Sec. II-C).

* :mod:`~tuss_plugin.onthefly.prompt_sampler`: number of prompts per batch and
  prompt lists per mixture (the authors' Markov tables);
* :mod:`~tuss_plugin.onthefly.mixer`: source pools and mixture simulation;
* :mod:`~tuss_plugin.onthefly.conf`: the ``--onthefly_conf`` options used by
  ``TUSSTask`` (defaults, prompt table, new categories);
* :mod:`~tuss_plugin.onthefly.iterator`: ESPnet iterator factory and prompt dropout.
"""
