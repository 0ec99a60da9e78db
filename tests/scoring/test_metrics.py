# SPDX-License-Identifier: Apache-2.0
"""Scoring metrics of tuss_plugin.scoring.metrics."""

import numpy as np

from tuss_plugin.scoring.metrics import sdr, si_snr, snr, summarize


def test_sdr_of_a_silent_output_or_reference_is_nan_not_a_crash():
    ref = np.random.default_rng(0).standard_normal(16000)
    assert np.isnan(sdr(np.zeros(16000), ref))
    assert np.isnan(sdr(ref, np.zeros(16000)))
    assert np.isfinite(si_snr(np.zeros(16000), ref)) and snr(np.zeros(16000), ref) == 0.0
    assert sdr(ref + 0.1 * np.random.default_rng(1).standard_normal(16000), ref) > 15.0
    rows = [{"utt": "a", "si_snr": 1.0, "si_snri": 1.0, "snr": 1.0, "sdr": float("nan")}, {"utt": "b",
            "si_snr": 3.0, "si_snri": 3.0, "snr": 3.0, "sdr": 4.0}]  # fmt: skip
    assert summarize(rows)["sdr"] == 4.0 and summarize(rows)["si_snr"] == 2.0
