# SPDX-License-Identifier: Apache-2.0
"""TUSS separator (ESPnet ``AbsSeparator`` adapter).

K. Saijo, J. Ebbers, F. G. Germain, G. Wichern, J. Le Roux,
"Task-aware Unified Source Separation", Proc. ICASSP 2025.

Pipeline (Fig. 1 of the paper): band-split encoder -> cross-prompt module
(prompt vectors, SOS token and frames form one sequence along time) ->
conditional TSE module applied to ``mixture feature * prompt vector`` for each
prompt with shared weights -> band-wise decoding -> complex mask.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from espnet2.enh.separator.abs_separator import AbsSeparator

from tuss_plugin.layers.band_split import BandSplitEncoder, BandwiseDecoder, band_widths
from tuss_plugin.layers.prompt import PromptEncoder
from tuss_plugin.layers.stack_settings import StackSettings
from tuss_plugin.layers.tf_locoformer import TFLocoformerStack
from tuss_plugin.prompts import DEFAULT_PROMPTS

# FFN settings of the released Medium model (also the defaults here)
CROSS_PROMPT_FREQ_FFN = ({"dim_inner": 384, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2
CROSS_PROMPT_FRAME_FFN = ({"dim_inner": 384, "conv1d_kernel": 1, "conv1d_shift": 1},) * 2
COND_TSE_FFN = ({"dim_inner": 256, "conv1d_kernel": 4, "conv1d_shift": 1},) * 2


class TUSSSeparator(AbsSeparator):
    """Task-aware unified source separator.

    The defaults are the paper's Medium model (11.1M parameters).

    Args:
        input_dim: number of STFT bins F (ESPnet passes the encoder's output_dim);
            must equal ``n_fft // 2 + 1``.
        fs: sampling rate the band layout is built for.
        n_fft: FFT size the band layout is built for.
        emb_dim: embedding size C of bands, prompts and both modules.
        num_groups: groups of every RMSGroupNorm.
        tf_order: ``ft`` (frequency path first) or ``tf``.
        prompts: prompt vocabulary (order defines ids; see ``PromptVocabulary``).
        prompt_aliases: extra alias -> prompt names.
        exclusive_prompts: prompt -> prompts it may not be combined with
            (``None``: ``sfxbg``/``sfx`` and ``musicbg``/instrument stems).
        use_sos_token: put a learnable SOS token between prompts and frames.
        num_spk: maximum number of prompts (references) of a training mixture;
            ESPnet reads up to this many ``speech_ref`` inputs.
        cross_prompt_blocks: TF-Locoformer blocks of the cross-prompt module.
        cross_prompt_attention_dim: attention width in the cross-prompt module.
        cross_prompt_n_heads: attention heads in the cross-prompt module.
        cross_prompt_freq_ffn: two FFN configs (``dim_inner``, ``conv1d_kernel``,
            ``conv1d_shift``) of the cross-prompt frequency paths.
        cross_prompt_frame_ffn: two FFN configs of the cross-prompt time paths.
        cond_tse_blocks: TF-Locoformer blocks of the conditional TSE module.
        cond_tse_attention_dim: attention width in the conditional TSE module.
        cond_tse_n_heads: attention heads in the conditional TSE module.
        cond_tse_freq_ffn: two FFN configs of the TSE frequency paths.
        cond_tse_frame_ffn: two FFN configs of the TSE time paths.
        dropout: dropout in attention and FFNs (0 in the paper).
        flash_attention: accepted for configuration compatibility (no effect).
        default_prompts: the prompt list of a call that gives none (default
            None: such a call is an error). Callers that know nothing of prompts,
            such as ESPnet's ``SeparateSpeech`` and ``enh_inference``, set it with
            ``separator_conf: {default_prompts: [speech, sfxbg]}`` in their
            inference config; it holds no parameters. Set, it is also
            ``num_spk`` (the number of outputs ESPnet's inference expects).
    """

    def __init__(
        self,
        input_dim: int,
        fs: int = 48000,
        n_fft: int = 2048,
        emb_dim: int = 64,
        num_groups: int = 8,
        tf_order: str = "ft",
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        prompt_aliases: Optional[Mapping[str, str]] = None,
        exclusive_prompts: Optional[Mapping[str, Sequence[str]]] = None,
        use_sos_token: bool = True,
        num_spk: int = 4,
        cross_prompt_blocks: int = 4,
        cross_prompt_attention_dim: int = 128,
        cross_prompt_n_heads: int = 4,
        cross_prompt_freq_ffn: Sequence[Dict] = CROSS_PROMPT_FREQ_FFN,
        cross_prompt_frame_ffn: Sequence[Dict] = CROSS_PROMPT_FRAME_FFN,
        cond_tse_blocks: int = 2,
        cond_tse_attention_dim: int = 96,
        cond_tse_n_heads: int = 4,
        cond_tse_freq_ffn: Sequence[Dict] = COND_TSE_FFN,
        cond_tse_frame_ffn: Sequence[Dict] = COND_TSE_FFN,
        dropout: float = 0.0,
        flash_attention: bool = False,
        default_prompts: Optional[Sequence[str]] = None,
    ):
        super().__init__()
        if input_dim != n_fft // 2 + 1:
            raise ValueError(
                f"input_dim={input_dim} does not match n_fft={n_fft} "
                f"(expected {n_fft // 2 + 1} bins); set separator_conf.n_fft to the "
                "encoder's FFT size"
            )
        # one checked settings object per module, named by its separator_conf keys
        cross_prompt = StackSettings(
            blocks=cross_prompt_blocks,
            attention_dim=cross_prompt_attention_dim,
            n_heads=cross_prompt_n_heads,
            freq_ffn=cross_prompt_freq_ffn,
            frame_ffn=cross_prompt_frame_ffn,
            prefix="cross_prompt",
        )
        cond_tse = StackSettings(
            blocks=cond_tse_blocks,
            attention_dim=cond_tse_attention_dim,
            n_heads=cond_tse_n_heads,
            freq_ffn=cond_tse_freq_ffn,
            frame_ffn=cond_tse_frame_ffn,
            prefix="cond_tse",
        )
        stack_kw = dict(emb_dim=emb_dim, num_groups=num_groups, tf_order=tf_order, dropout=dropout)
        self.fs = fs
        self.n_fft = n_fft
        self._num_spk = num_spk
        widths = band_widths(fs, n_fft)
        self.encoder = BandSplitEncoder(widths, emb_dim)
        self.prompt_encoder = PromptEncoder(emb_dim, prompts, prompt_aliases, exclusive_prompts, use_sos_token)
        self.default_prompts = None
        if default_prompts is not None:
            try:
                self.default_prompts = self.vocab.validate(list(default_prompts))
            except ValueError as e:
                raise ValueError(f"separator_conf.default_prompts: {e}") from None
        self.cross_prompt = TFLocoformerStack.from_settings(cross_prompt, **stack_kw)
        self.cond_tse = TFLocoformerStack.from_settings(cond_tse, **stack_kw)
        self.decoder = BandwiseDecoder(widths, emb_dim, num_outputs=1)

    @property
    def num_spk(self) -> int:
        """The most prompts of a training mixture; with ``default_prompts``, their
        number (the outputs of a call without prompts, as ESPnet's inference expects)."""
        return self._num_spk if self.default_prompts is None else len(self.default_prompts)

    @property
    def vocab(self):
        """The prompt vocabulary (names, aliases, validation)."""
        return self.prompt_encoder.vocab

    def forward(
        self,
        input: torch.Tensor,
        ilens: torch.Tensor,
        additional: Optional[Dict] = None,
    ) -> Tuple[List[torch.Tensor], torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
        """Separate one source per prompt.

        Shapes: B batch, N prompts, C emb_dim, T frames, F bins, Q bands.

        Args:
            input: complex mixture STFT, (B, T, F).
            ilens: frame counts, (B,).
            additional: ``prompts``: one list of names for the whole batch, one
                list per item, or int ids (B, N) (1-based); without it,
                ``default_prompts``.

        Returns:
            N complex spectra (B, T, F), ilens, and ``others`` with
            ``prompts`` (B, N) ids and ``mask_spk<n>`` (B, T, F).
        """
        prompts = None if additional is None else additional.get("prompts")
        if prompts is None:
            prompts = self.default_prompts
        if prompts is None:
            raise ValueError(
                "TUSSSeparator needs additional['prompts'] (or separator_conf.default_prompts for callers "
                "that give none, e.g. ESPnet's SeparateSpeech)"
            )
        if input.dim() != 3:
            raise ValueError(f"expected a (B, T, F) spectrum, got shape {tuple(input.shape)}")
        B, T, F = input.shape
        ids = self.prompt_encoder.to_ids(prompts, B, device=input.device)
        N = ids.shape[1]

        feats = self.encoder(input)  # (B, C, T, Q)
        C, Q = feats.shape[1], feats.shape[-1]
        # both modules work in the (B, T, Q, C) layout (see TFLocoformerStack.forward_tqc)
        feats = feats.permute(0, 2, 3, 1)  # (B, T, Q, C) view
        tokens = self.prompt_encoder(ids).to(feats.dtype)  # (B, N, C)
        seq = [tokens[:, :, None, :].expand(B, N, Q, C)]  # (B, N, Q, C)
        n_head = N
        if self.prompt_encoder.sos_token is not None:
            sos = self.prompt_encoder.sos_token.to(feats.dtype)  # (C,)
            seq.append(sos.view(1, 1, 1, C).expand(B, 1, Q, C))  # (B, 1, Q, C)
            n_head += 1
        seq.append(feats)
        seq = torch.cat(seq, dim=1)  # (B, n_head + T, Q, C)

        seq = self.cross_prompt.forward_tqc(seq)  # (B, n_head + T, Q, C)
        prompt_vecs = seq[:, :N]  # (B, N, Q, C)
        mix = seq[:, n_head:]  # (B, T, Q, C)

        # condition the mixture on each prompt: (B, 1, T, Q, C) * (B, N, 1, Q, C)
        cond = mix.unsqueeze(1) * prompt_vecs.unsqueeze(2)  # (B, N, T, Q, C)
        cond = cond.view(B * N, T, Q, C)  # (B*N, T, Q, C)
        cond = self.cond_tse.forward_tqc(cond)  # (B*N, T, Q, C)
        cond = cond.permute(0, 3, 1, 2)  # (B*N, C, T, Q) view

        masks = self.decoder(cond).view(B, N, T, F)  # (B, N, T, F)
        est = masks * input.unsqueeze(1)  # (B, N, T, F)

        others = OrderedDict(prompts=ids)
        for n in range(N):
            others[f"mask_spk{n + 1}"] = masks[:, n]
        return list(est.unbind(dim=1)), ilens, others
