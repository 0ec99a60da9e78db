# SPDX-License-Identifier: Apache-2.0
"""Small helpers shared by the commands: one-line CLI errors, value checks,
the CPU memory setting."""
