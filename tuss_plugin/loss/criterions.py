# SPDX-License-Identifier: Apache-2.0
"""Thresholded SNR loss that also trains sources absent from a mixture.

Used to train TUSS and its conventional baseline (Saijo et al., "Task-aware
Unified Source Separation", ICASSP 2025), following the released configs
(``snr_max`` 30 dB, zero-reference weight 0.1, eps 1e-7). For an active
reference s and estimate y the loss is the soft-thresholded negative SNR

    10 log10(||y - s||^2 + tau ||s||^2 + eps) - 10 log10(||s||^2 + eps),

with ``tau = 10^(-snr_max / 10)``. For an all-zero reference the mixture power
takes the place of ``||s||^2`` in the threshold and the term is
``w * 10 log10(||y||^2 + tau ||x||^2 + eps)`` (w = ``zero_ref_loss_weight``),
which pushes the output towards silence without dominating training.
"""

from __future__ import annotations

from typing import Optional

import torch
from espnet2.enh.loss.criterions.time_domain import TimeDomainLoss


class SNRWithZeroRefLoss(TimeDomainLoss):
    """Soft-thresholded negative SNR, defined for all-zero references too.

    Args:
        snr_max: SNR (dB) above which the loss saturates softly.
        zero_ref_loss_weight: weight of the loss of all-zero references.
        eps: added inside the logarithms.
        name: stats name (default ``snr_zeroref_loss``).
        only_for_test, is_noise_loss, is_dereverb_loss: see ESPnet's TimeDomainLoss.
    """

    # wrappers pass the mixture (sum of references) when this is True
    uses_mixture = True

    def __init__(
        self,
        snr_max: float = 30.0,
        zero_ref_loss_weight: float = 0.1,
        eps: float = 1e-7,
        name: Optional[str] = None,
        only_for_test: bool = False,
        is_noise_loss: bool = False,
        is_dereverb_loss: bool = False,
    ):
        super().__init__(
            "snr_zeroref_loss" if name is None else name,
            only_for_test=only_for_test,
            is_noise_loss=is_noise_loss,
            is_dereverb_loss=is_dereverb_loss,
        )
        self.tau = 10 ** (-snr_max / 10)
        self.zero_ref_loss_weight = zero_ref_loss_weight
        self.eps = eps

    def forward(self, ref: torch.Tensor, inf: torch.Tensor, mix: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Loss per item.

        Args:
            ref: (B, L) reference.
            inf: (B, L) estimate.
            mix: (B, L) mixture, used for all-zero references (if None, such
                references get no threshold).

        Returns:
            (B,) losses.
        """
        ref, inf = ref.float(), inf.float()
        ref_pow = ref.pow(2).sum(dim=-1)  # (B,)
        noise_pow = (inf - ref).pow(2).sum(dim=-1)  # (B,)
        active = ref_pow > 0
        mix_pow = mix.float().pow(2).sum(dim=-1) if mix is not None else torch.zeros_like(ref_pow)
        reg = torch.where(active, ref_pow, mix_pow)
        loss = 10 * torch.log10(noise_pow + self.tau * reg + self.eps)
        loss = torch.where(active, loss - 10 * torch.log10(reg + self.eps), loss)
        return torch.where(active, loss, self.zero_ref_loss_weight * loss)
