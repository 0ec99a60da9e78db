# SPDX-License-Identifier: Apache-2.0
"""Corpus preparation for the TUSS recipes (``egs/<corpus>/tuss1/local/``).

Evaluation corpora become Kaldi-style data dirs (``wav.scp``, ``spk<k>.scp``,
``utt2prompts``); training corpora become source pools for on-the-fly mixing
(``wav.scp``, ``utt2prompt``, ``utt2fs``, ``utt2num_samples``). Each module
reads one corpus in its real on-disk layout; see ``common`` for the shared
checks and writers.
"""
