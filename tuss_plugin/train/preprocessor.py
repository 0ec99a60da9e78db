# SPDX-License-Identifier: Apache-2.0
"""ESPnet preprocessor for TUSS data: prompt words -> ids, references split.

Kaldi-style data for TUSS (Saijo et al., ICASSP 2025): ``wav.scp`` holds the
mixture, ``utt2prompts`` the prompt list of each mixture, and the references
come either as ``spk1.scp .. spkN.scp`` (type ``sound``, names
``speech_ref1..N``; every list holds every utterance) or, when the number of
prompts varies within a set, as one multi-column ``spk.scp``
(``uttid ref1.wav ref2.wav ...``, type ``variable_columns_sound``, name
``speech_refs``), split here into ``speech_ref1..N``.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np
from espnet2.train.preprocessor import AbsPreprocessor

from tuss_plugin.prompts import DEFAULT_PROMPTS, PromptVocabulary


class TUSSPreprocessor(AbsPreprocessor):
    """Map prompts to ids and check that every prompt has its reference.

    Args:
        train: training mode (ESPnet passes it).
        prompts, prompt_aliases, exclusive_prompts: the prompt vocabulary; ``None``
            takes the separator's (``separator_conf``), falling back to the
            default vocabulary.
        prompts_name: data name of the prompt text.
        refs_name: data name of the multi-column reference list.
        ref_prefix: prefix of the per-source reference names.
        speech_segment: in training, cut a random segment of this many samples
            from mixture and references (the paper trains on 6-s chunks); shorter
            utterances are kept whole. ``None`` keeps whole utterances.
        avoid_allzero_segment: redraw (up to 10 times) segments in which a
            reference is silent.
    """

    def __init__(
        self,
        train: bool,
        prompts: Optional[Sequence[str]] = None,
        prompt_aliases: Optional[Mapping[str, str]] = None,
        exclusive_prompts: Optional[Mapping[str, Sequence[str]]] = None,
        prompts_name: str = "prompts",
        refs_name: str = "speech_refs",
        ref_prefix: str = "speech_ref",
        speech_segment: Optional[int] = None,
        avoid_allzero_segment: bool = True,
    ):
        super().__init__(train)
        self.vocab = PromptVocabulary(
            DEFAULT_PROMPTS if prompts is None else prompts, prompt_aliases, exclusive_prompts
        )
        self.prompts_name = prompts_name
        self.refs_name = refs_name
        self.ref_prefix = ref_prefix
        self.speech_segment = speech_segment
        self.avoid_allzero_segment = avoid_allzero_segment

    def __call__(self, uid: str, data: Dict[str, Union[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        n_prompts = None
        if self.prompts_name in data:
            text = data[self.prompts_name]
            try:
                ids = self.vocab.encode(str(text).split())
            except ValueError as e:
                raise ValueError(f"utterance {uid}: {e}") from None
            data[self.prompts_name] = np.asarray(ids, dtype=np.int64)
            n_prompts = len(ids)

        if self.refs_name in data:
            refs = np.asarray(data.pop(self.refs_name))
            if refs.ndim == 1:
                refs = refs[None]  # (1, L)
            if np.isnan(refs).any():
                raise ValueError(f"utterance {uid}: references of different lengths")
            for k, r in enumerate(refs, start=1):  # refs: (K, L)
                data[f"{self.ref_prefix}{k}"] = r
        n_refs = 0
        while f"{self.ref_prefix}{n_refs + 1}" in data:
            n_refs += 1
        if n_prompts is not None and n_refs and n_refs != n_prompts:
            raise ValueError(f"utterance {uid}: {n_prompts} prompts but {n_refs} references")
        mix = data.get("speech_mix")
        if isinstance(mix, np.ndarray) and mix.ndim > 1:
            raise ValueError(
                f"utterance {uid}: the mixture has {mix.shape[1]} channels; TUSS "
                "recipes process channels as separate mono mixtures"
            )
        for k in range(1, n_refs + 1):
            r = data[f"{self.ref_prefix}{k}"]
            if isinstance(mix, np.ndarray) and r.shape[0] != mix.shape[0]:
                raise ValueError(f"utterance {uid}: reference {k} has {r.shape[0]} samples, the mixture {mix.shape[0]}")
        if self.train and self.speech_segment and isinstance(mix, np.ndarray):
            self._crop(data, mix.shape[0], n_refs)
        return data

    def _crop(self, data: Dict, length: int, n_refs: int) -> None:
        seg = int(self.speech_segment)
        if length <= seg:
            return
        keys = ["speech_mix"] + [f"{self.ref_prefix}{k}" for k in range(1, n_refs + 1)]
        for _ in range(10):
            start = np.random.randint(0, length - seg + 1)
            if not self.avoid_allzero_segment or all(np.any(data[k][start : start + seg]) for k in keys[1:]):
                break
        for k in keys:
            data[k] = data[k][start : start + seg]
