# SPDX-License-Identifier: Apache-2.0
"""Evaluation sets of the paper's Table III as Kaldi-style TUSS data dirs
(WHAM!, VCTK-DEMAND, FUSS, MUSDB18-HQ, DnR)."""
