# SPDX-License-Identifier: Apache-2.0
"""Conventional band-split TF-Locoformer separator (no prompts).

The "conventional model" of TUSS (Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025): the same band-split encoder, TF-Locoformer blocks
and band-wise decoder as TUSS, but without prompts; it always outputs
``num_spk`` sources, and sources absent from a mixture are trained towards
silence (see ``SNRWithZeroRefLoss``). Its two block stacks mirror TUSS' two
modules so that both models have comparable size.

Output slots. Without prompts, output k can only mean "reference k": in
training, validation and scoring, output k is compared with the k-th reference
of the data (``spk<k>.scp``, the k-th prompt of ``utt2prompts``). A
data-specialist model, whose mixtures always hold the same prompt categories,
declares that order once as ``output_prompts`` (e.g. ``[speech, sfxbg,
musicbg]`` for Divide and Remaster, the order its data prep writes); the task
then sorts every on-the-fly training mixture into it and refuses data lists in
another order (:func:`tuss_plugin.tasks.tuss.output_slots`). Without
``output_prompts`` the outputs are interchangeable (PIT over all outputs; the
mixtures then carry no prompts).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from espnet2.enh.separator.abs_separator import AbsSeparator

from tuss_plugin.layers.band_split import BandSplitEncoder, BandwiseDecoder, band_widths
from tuss_plugin.layers.stack_settings import StackSettings
from tuss_plugin.layers.tf_locoformer import TFLocoformerStack

# FFN defaults: those of TUSS' Medium model (first stack as its cross-prompt
# module, second as its conditional TSE module), so both models compare in size
FIRST_FREQ_FFN = ({"dim_inner": 384, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2
FIRST_FRAME_FFN = ({"dim_inner": 384, "conv1d_kernel": 1, "conv1d_shift": 1},) * 2
SECOND_FFN = ({"dim_inner": 256, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2


class BSLocoformerSeparator(AbsSeparator):
    """Band-split TF-Locoformer with a fixed number of outputs.

    Args:
        input_dim: number of STFT bins (``n_fft // 2 + 1``).
        num_spk: number of outputs S.
        fs: sampling rate the band layout is built for.
        n_fft: FFT size the band layout is built for.
        emb_dim: embedding size C.
        num_groups: groups of every RMSGroupNorm.
        tf_order: ``ft`` or ``tf``.
        first_blocks: blocks of the first stack.
        first_attention_dim: attention width of the first stack.
        first_n_heads: attention heads of the first stack.
        first_freq_ffn: two FFN configs of the first stack's frequency paths.
        first_frame_ffn: two FFN configs of the first stack's time paths.
        second_blocks: blocks of the second stack (0 for none).
        second_attention_dim: attention width of the second stack.
        second_n_heads: attention heads of the second stack.
        second_freq_ffn: two FFN configs of the second stack's frequency paths.
        second_frame_ffn: two FFN configs of the second stack's time paths.
        dropout: dropout in attention and FFNs.
        flash_attention: accepted for configuration compatibility (no effect).
        output_prompts: the prompt of each output slot, ``num_spk`` names in the
            order of the data lists' references (repeats allowed, e.g.
            ``[speech, speech, sfxbg]``); None (default): interchangeable outputs.
    """

    def __init__(
        self,
        input_dim: int,
        num_spk: int = 4,
        fs: int = 48000,
        n_fft: int = 2048,
        emb_dim: int = 64,
        num_groups: int = 8,
        tf_order: str = "ft",
        first_blocks: int = 4,
        first_attention_dim: int = 128,
        first_n_heads: int = 4,
        first_freq_ffn: Sequence[Dict] = FIRST_FREQ_FFN,
        first_frame_ffn: Sequence[Dict] = FIRST_FRAME_FFN,
        second_blocks: int = 2,
        second_attention_dim: int = 96,
        second_n_heads: int = 4,
        second_freq_ffn: Sequence[Dict] = SECOND_FFN,
        second_frame_ffn: Sequence[Dict] = SECOND_FFN,
        dropout: float = 0.0,
        flash_attention: bool = False,
        output_prompts: Optional[Sequence[str]] = None,
    ):
        super().__init__()
        if input_dim != n_fft // 2 + 1:
            raise ValueError(f"input_dim={input_dim} does not match n_fft={n_fft} (expected {n_fft // 2 + 1} bins)")
        if num_spk < 1:
            raise ValueError(f"num_spk must be >= 1, got {num_spk}")
        # one checked settings object per stack, named by its separator_conf keys
        first = StackSettings(
            blocks=first_blocks,
            attention_dim=first_attention_dim,
            n_heads=first_n_heads,
            freq_ffn=first_freq_ffn,
            frame_ffn=first_frame_ffn,
            prefix="first",
        )
        second = (  # second_blocks <= 0: no second stack, its other keys unused
            StackSettings(
                blocks=second_blocks,
                attention_dim=second_attention_dim,
                n_heads=second_n_heads,
                freq_ffn=second_freq_ffn,
                frame_ffn=second_frame_ffn,
                prefix="second",
            )
            if second_blocks > 0
            else None
        )
        stack_kw = dict(emb_dim=emb_dim, num_groups=num_groups, tf_order=tf_order, dropout=dropout)
        self._num_spk = num_spk
        self._output_prompts = slot_names(output_prompts, num_spk)
        widths = band_widths(fs, n_fft)
        self.encoder = BandSplitEncoder(widths, emb_dim)
        self.first = TFLocoformerStack.from_settings(first, **stack_kw)
        self.second = None if second is None else TFLocoformerStack.from_settings(second, **stack_kw)
        self.decoder = BandwiseDecoder(widths, emb_dim, num_outputs=num_spk)

    @property
    def num_spk(self) -> int:
        return self._num_spk

    @property
    def output_prompts(self) -> Optional[List[str]]:
        """The prompt of each output slot (None: interchangeable outputs)."""
        return None if self._output_prompts is None else list(self._output_prompts)

    def forward(
        self,
        input: torch.Tensor,
        ilens: torch.Tensor,
        additional: Optional[Dict] = None,
    ) -> Tuple[List[torch.Tensor], torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
        """Separate ``num_spk`` sources.

        Shapes: B batch, S outputs, C emb_dim, T frames, F bins, Q bands.

        Args:
            input: complex mixture STFT, (B, T, F).
            ilens: frame counts, (B,).
            additional: unused (prompts are ignored by the conventional model).

        Returns:
            S complex spectra (B, T, F), ilens, ``others`` with ``mask_spk<n>``.
        """
        if input.dim() != 3:
            raise ValueError(f"expected a (B, T, F) spectrum, got shape {tuple(input.shape)}")
        feats = self.encoder(input)  # (B, C, T, Q)
        feats = self.first(feats)
        if self.second is not None:
            feats = self.second(feats)
        masks = self.decoder(feats)  # (B, S, T, F)
        est = masks * input.unsqueeze(1)  # (B, S, T, F)
        others = OrderedDict((f"mask_spk{n + 1}", masks[:, n]) for n in range(self._num_spk))
        return list(est.unbind(dim=1)), ilens, others


def slot_names(output_prompts: Optional[Sequence[str]], num_spk: int) -> Optional[Tuple[str, ...]]:
    """Checked ``output_prompts``: ``num_spk`` non-empty names, stripped and lower-cased."""
    if output_prompts is None:
        return None
    if isinstance(output_prompts, str) or not all(isinstance(p, str) and p.strip() for p in output_prompts):
        raise ValueError(f"output_prompts must be a list of prompt names, got {output_prompts!r}")
    names = tuple(p.strip().lower() for p in output_prompts)
    if len(names) != num_spk:
        raise ValueError(f"output_prompts {list(names)} name {len(names)} slots for num_spk={num_spk} outputs")
    return names
