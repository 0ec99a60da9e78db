# SPDX-License-Identifier: Apache-2.0
"""Training: ESPnet's trainer with per-corpus validation, checkpoints, the
learning-rate schedule, fine-tuning and the preprocessor of the TUSS task."""
