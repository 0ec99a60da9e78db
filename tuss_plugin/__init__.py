# SPDX-License-Identifier: Apache-2.0
"""TUSS: Task-aware Unified Source Separation as an ESPnet plugin."""

__version__ = "0.1.0"
