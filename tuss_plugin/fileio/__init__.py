# SPDX-License-Identifier: Apache-2.0
"""Files of the toolkit: atomic writes, audio files, Kaldi-style lists, data dirs,
text files, output directories and the source-pool format."""
