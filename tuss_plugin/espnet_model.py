# SPDX-License-Identifier: Apache-2.0
"""ESPnet model glue for TUSS: the prompt data field reaches the separator.

ESPnet's ``ESPnetEnhancementModel.forward`` drops unknown batch keys, so this
subclass passes ``prompts`` (B, N) ids to the separator through
``additional["prompts"]`` (and on to the loss wrappers through ``others``).
It also applies the released models' variance normalisation
``mix / (std(mix) + eps)`` (ESPnet's own has no eps, which turns a silent
mixture into NaN), and can separate long inputs segment-wise before the loss
(``segment_samples``: the TUSS authors' validation of long tracks).
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from espnet2.enh.decoder.abs_decoder import AbsDecoder
from espnet2.enh.encoder.abs_encoder import AbsEncoder
from espnet2.enh.espnet_model import ESPnetEnhancementModel
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper
from espnet2.enh.separator.abs_separator import AbsSeparator

from tuss_plugin.train.valid_loss import VALID_LOSSES, real_reference_loss

MAX_REFS = 100


def espnet_model_conf(model_conf: Mapping[str, Any]) -> Dict[str, Any]:
    """``model_conf`` without the keys of :class:`TUSSEnhancementModel` that
    ESPnet's ``ESPnetEnhancementModel`` does not take, where they hold their
    default (``normalize_variance_eps: 1e-8``). A config written with it builds
    with ESPnet's own loaders too (``EnhancementTask.build_model``,
    ``SeparateSpeech``); a non-default value is kept (only this package builds it).
    """
    ours = inspect.signature(TUSSEnhancementModel.__init__).parameters
    espnet = inspect.signature(ESPnetEnhancementModel.__init__).parameters
    return {
        k: v
        for k, v in model_conf.items()
        if k in espnet or k not in ours or v != ours[k].default  # (unknown keys: left to the model to refuse)
    }


class TUSSEnhancementModel(ESPnetEnhancementModel):
    """Enhancement model that forwards per-utterance prompts.

    Args:
        encoder, separator, decoder, mask_module, loss_wrappers: as in ESPnet.
        normalize_variance: divide the mixture by ``std + normalize_variance_eps``
            before separation and multiply the outputs back (released models: on).
        normalize_variance_eps: the eps above.
        conventional_valid_loss: validation loss of a separator with interchangeable
            outputs: ``real_refs`` (default, the authors': the real references' terms
            only, averaged per prompt; :mod:`tuss_plugin.train.valid_loss`) or
            ``all_outputs`` (the training loss, zero-reference terms included).
        extract_feats_in_collect_stats: as in ESPnet.
    """

    def __init__(
        self,
        encoder: AbsEncoder,
        separator: AbsSeparator,
        decoder: AbsDecoder,
        mask_module: Optional[torch.nn.Module],
        loss_wrappers: Optional[List[AbsLossWrapper]],
        normalize_variance: bool = True,
        normalize_variance_eps: float = 1e-8,
        conventional_valid_loss: str = "real_refs",
        extract_feats_in_collect_stats: bool = False,
    ):
        super().__init__(
            encoder=encoder,
            separator=separator,
            decoder=decoder,
            mask_module=mask_module,
            loss_wrappers=loss_wrappers,
            flexible_numspk=True,
            extract_feats_in_collect_stats=extract_feats_in_collect_stats,
        )
        # one flag: ESPnet's own (its SeparateSpeech reads it too), with the
        # released models' eps and unbiased std applied in :meth:`separate`
        self.normalize_variance = normalize_variance
        self.normalize_variance_eps = normalize_variance_eps
        if conventional_valid_loss not in VALID_LOSSES:
            raise ValueError(f"conventional_valid_loss: one of {VALID_LOSSES}, got {conventional_valid_loss!r}")
        self.conventional_valid_loss = conventional_valid_loss

    def separate(
        self,
        speech_mix: torch.Tensor,
        speech_lengths: torch.Tensor,
        prompts=None,
    ) -> Tuple[List[torch.Tensor], torch.Tensor, List[torch.Tensor], Dict]:
        """Waveform-to-waveform separation.

        Args:
            speech_mix: (B, L) mixtures.
            speech_lengths: (B,) lengths.
            prompts: (B, N) ids or names (see ``TUSSSeparator.forward``); None for
                separators without prompts.

        Returns:
            estimates (list of (B, L)), the mixture STFT, the estimated STFTs and
            the separator's ``others``.
        """
        if self.normalize_variance:
            # unbiased std as in the released models; a 1-sample input has none
            std = torch.nan_to_num(speech_mix.std(dim=-1, keepdim=True))  # (B, 1)
            std = std + self.normalize_variance_eps
            speech_mix = speech_mix / std
        additional = {} if prompts is None else {"prompts": prompts}
        speech_pre, feature_mix, feature_pre, others = self.forward_enhance(speech_mix, speech_lengths, additional)
        if self.normalize_variance:
            speech_pre = [s * std for s in speech_pre]
        if prompts is not None and isinstance(prompts, torch.Tensor) and isinstance(others, dict):
            # stock separators ignore prompts; the loss still needs the categories
            others.setdefault("prompts", prompts)
        return speech_pre, feature_mix, feature_pre, others

    def forward(
        self,
        speech_mix: torch.Tensor,
        speech_mix_lengths: Optional[torch.Tensor] = None,
        prompts: Optional[torch.Tensor] = None,
        prompts_lengths: Optional[torch.Tensor] = None,
        segment_samples: Optional[int] = None,
        native_fs: Optional[int] = None,
        model_fs: Optional[int] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """Separate and compute the loss.

        Args:
            speech_mix: (B, L) mixtures.
            speech_mix_lengths: (B,).
            prompts: (B, N) prompt ids (1-based; 0 = padding), or None.
            prompts_lengths: (B,) number of prompts per item.
            segment_samples: None (default): separate the whole input. A length:
                inputs longer than it are separated in consecutive segments of
                this many samples, the last one zero-padded, a segment whose
                mixture is all zero gives zero outputs; the outputs are joined,
                cut to the input length and the loss is computed on the whole
                signal (the TUSS authors' validation of long tracks, 6-s
                segments). Needs losses on waveforms (or spectra of them).
            native_fs, model_fs: the rate of the batch and of the model. When both
                are given and differ (validation at each corpus's own rate, as the
                TUSS authors validate): the mixture is resampled to ``model_fs``,
                separated (``segment_samples`` counts samples at ``model_fs``), the
                estimates are resampled back to ``native_fs`` and the loss is
                computed against the references as given
                (:func:`tuss_plugin.train.native_rate.resample_batch`; no gradient flows
                through the resampler: evaluation only).
            kwargs: ``speech_ref1..speech_refN`` (B, L); ``utt_id`` is ignored.
        """
        refs = []
        for n in range(1, MAX_REFS + 1):
            if f"speech_ref{n}" not in kwargs:
                break
            refs.append(kwargs[f"speech_ref{n}"])
        if not refs:
            raise ValueError("no reference (speech_ref1) in the batch")
        B = speech_mix.shape[0]
        lengths = (
            speech_mix_lengths
            if speech_mix_lengths is not None
            else torch.full((B,), speech_mix.shape[1], dtype=torch.long, device=speech_mix.device)
        )
        if prompts is not None:
            if prompts_lengths is not None and (prompts_lengths != prompts.shape[1]).any():
                raise ValueError(
                    "a batch mixes different numbers of prompts "
                    f"({sorted(set(prompts_lengths.tolist()))}); group batches by "
                    "number of prompts (utt2category + --batch_type folded)"
                )
            if prompts.shape[1] != len(refs):
                raise ValueError(f"{prompts.shape[1]} prompts but {len(refs)} references in the batch")
        max_len = int(lengths.max())
        speech_mix = speech_mix[:, :max_len]
        refs = [r[:, :max_len] for r in refs]

        rates = (int(native_fs), int(model_fs)) if native_fs and model_fs and int(native_fs) != int(model_fs) else None
        speech_pre, feature_mix, feature_pre, others = self._separate_for_loss(
            speech_mix, lengths, prompts, segment_samples, rates
        )
        return self._loss(speech_pre, lengths, feature_mix, feature_pre, others, refs, prompts)

    def _loss(self, speech_pre, lengths, feature_mix, feature_pre, others, refs, prompts):
        """``(loss, stats, weight)`` of :meth:`forward` for separated ``speech_pre``; in
        evaluation, a separator with interchangeable outputs reports the loss of
        ``conventional_valid_loss``."""
        prompt_free = getattr(self.separator, "vocab", None) is None
        interchangeable = prompt_free and getattr(self.separator, "output_prompts", None) is None
        n_real = len(refs)
        if interchangeable:
            # conventional separators without output slots (the unified baseline,
            # stock ESPnet separators): absent sources are all-zero references and
            # the permutation is solved over all outputs, also when the data lists
            # carry prompts (validation) and also when a mixture fills every output
            # (the rule stage 6 scores by: tuss_plugin.scoring.metrics.match_fixed_outputs)
            if len(refs) < len(speech_pre):
                refs = refs + [torch.zeros_like(refs[0])] * (len(speech_pre) - len(refs))
            if isinstance(others, dict):
                others.pop("prompts", None)
        if len(refs) != len(speech_pre):
            raise ValueError(f"{len(speech_pre)} outputs for {len(refs)} references")
        loss, stats, weight, perm = self.forward_loss(
            speech_pre,
            lengths,
            feature_mix,
            feature_pre,
            others,
            refs,
            num_spk=len(refs),
        )
        wrappers = [w for w in self.loss_wrappers if w.weight != 0]
        if interchangeable and not self.training and self.conventional_valid_loss == "real_refs" and perm is not None:
            if len(wrappers) == 1:  # one criterion: its real-reference terms, averaged per prompt
                loss = real_reference_loss(wrappers[0].criterion, refs, speech_pre, perm, n_real, prompts)
                stats["loss"] = loss.detach()
        return loss, stats, weight

    def _separate_for_loss(self, speech_mix, lengths, prompts, segment_samples, rates):
        """(estimates, mixture spectra, estimated spectra, others) of :meth:`forward`: at another
        rate, segment-wise, or whole (the spectra are None unless whole, at the batch's rate)."""
        if rates is not None:
            speech_pre, others = self._separate_at_rate(speech_mix, lengths, prompts, rates, segment_samples)
            return speech_pre, None, None, others  # spectra at another rate
        if segment_samples is not None and speech_mix.shape[1] > int(segment_samples):
            speech_pre, others = self.separate_segments(speech_mix, prompts, int(segment_samples))
            return speech_pre, None, None, others  # no spectra of the whole input
        return self.separate(speech_mix, lengths, prompts)

    def _separate_at_rate(
        self, speech_mix, lengths, prompts, rates, segment_samples
    ) -> Tuple[List[torch.Tensor], Dict]:
        """Separation of a (B, L) batch at ``rates[0]`` by the model at ``rates[1]``: estimates
        at ``rates[0]``, (B, L) each (see :meth:`forward`)."""
        from tuss_plugin.train.native_rate import resample_batch

        if self.training and torch.is_grad_enabled():
            raise ValueError("native_fs: resampling has no gradient; use it in evaluation only")
        self._check_waveform_losses()
        fs_in, fs_model = rates
        n = speech_mix.shape[1]
        mix = resample_batch(speech_mix, fs_in, fs_model)  # (B, L') at the model rate
        lengths = torch.clamp((lengths * fs_model + fs_in - 1) // fs_in, max=mix.shape[1])
        if segment_samples is not None and mix.shape[1] > int(segment_samples):
            est, others = self.separate_segments(mix, prompts, int(segment_samples))
        else:
            est, _, _, others = self.separate(mix, lengths, prompts)
        return [resample_batch(e, fs_model, fs_in, length=n) for e in est], others

    def separate_segments(self, speech_mix: torch.Tensor, prompts, segment: int) -> Tuple[List[torch.Tensor], Dict]:
        """Separation in consecutive, non-overlapping segments.

        Args:
            speech_mix: (B, L) mixtures.
            prompts: as in :meth:`separate`.
            segment: segment length in samples; the last segment is zero-padded
                to it and its outputs are cut back.

        Returns:
            estimates (list of N (B, L)) and ``others`` for the loss (the
            prompts only: the separator's per-segment outputs do not describe
            the whole input).
        """
        self._check_waveform_losses()
        B, L = speech_mix.shape
        n_seg = -(-L // segment)
        padded = torch.nn.functional.pad(speech_mix, (0, n_seg * segment - L))  # (B, n_seg * segment)
        lengths = torch.full((B,), segment, dtype=torch.long, device=speech_mix.device)
        pieces = []
        for s in range(n_seg):
            chunk = padded[:, s * segment : (s + 1) * segment]  # (B, segment)
            est = self.separate(chunk, lengths, prompts)[0]  # N x (B, segment)
            est = torch.stack([e[:, :segment] for e in est])  # (N, B, segment)
            silent = (chunk == 0).all(dim=1)  # (B,): an all-zero segment gives zeros
            pieces.append(est.masked_fill(silent[None, :, None], 0.0))
        est = torch.cat(pieces, dim=-1)[..., :L]  # (N, B, L)
        others = {"prompts": prompts} if isinstance(prompts, torch.Tensor) else {}
        return list(est), others

    def _check_waveform_losses(self) -> None:
        """Segment-wise separation has no masks of the whole input."""
        for w in self.loss_wrappers:
            c = w.criterion
            if not isinstance(c, TimeDomainLoss) and getattr(c, "compute_on_mask", False):
                raise ValueError(
                    f"loss {c.name} is computed on masks; segment-wise separation "
                    "(segment_samples, --valid_segment_seconds) needs losses on waveforms"
                )

    def collect_feats(
        self, speech_mix: torch.Tensor, speech_mix_lengths: torch.Tensor, **kwargs
    ) -> Dict[str, torch.Tensor]:
        return {"feats": speech_mix, "feats_lengths": speech_mix_lengths}
