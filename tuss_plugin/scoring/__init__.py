# SPDX-License-Identifier: Apache-2.0
"""Scoring: metrics (SI-SNR, SNR, SDR, speech quality), reference pairing,
the paper's Table III, score tables and figures."""
