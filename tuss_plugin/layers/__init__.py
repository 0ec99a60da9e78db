# SPDX-License-Identifier: Apache-2.0
"""Building blocks of TUSS, one file per block of the paper's Fig. 1."""
