# SPDX-License-Identifier: Apache-2.0
"""Conversion of trained models: the authors' release format, new prompts."""
