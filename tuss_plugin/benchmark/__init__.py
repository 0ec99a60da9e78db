# SPDX-License-Identifier: Apache-2.0
"""Measurement of speed and memory: the benchmark's modes, its comparison with
the authors' code and the profiling helpers."""
