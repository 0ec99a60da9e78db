# SPDX-License-Identifier: Apache-2.0
"""Training source pools of on-the-fly TUSS training (one module per corpus),
source activity detection and what the pool builders share."""
