# SPDX-License-Identifier: Apache-2.0
"""Packaging for the TUSS ESPnet plugin.

The torch / torchaudio / espnet versions are pinned per Python version by
``tools/install.sh``; the ranges below accept both supported stacks
(Python 3.11: espnet 202511 + torch 2.9.1; Python >= 3.12: espnet 202611 +
torch 2.11.0).
"""

import os
import sysconfig

from setuptools import find_packages, setup
from setuptools.command.editable_wheel import editable_wheel

# One line that every interpreter of an environment the package is installed in
# runs at start-up (site-packages/*.pth): it imports tuss_plugin (standard library
# only, a few ms), which registers the TUSS classes when ESPnet's enhancement task
# is imported, so that ESPnet's own entry points (python -m espnet2.bin.enh_train
# --separator tuss, enh_inference, enh_scoring, SeparateSpeech, pack) find them
# with no import. Installed as a data file into site-packages (its path relative
# to the environment's prefix), which both `pip install .` and `pip install -e .`
# install (an editable install writes no build output to site-packages).
# TUSS_NO_AUTOREGISTER=1 switches it off.
AUTOREGISTER_PTH = "tuss_plugin_autoregister.pth"
_paths = sysconfig.get_paths()
SITE_PACKAGES = os.path.relpath(_paths["purelib"], _paths["data"])


class EditableWheelWithData(editable_wheel):
    """setuptools' editable wheel asks the distribution for ``has_data``, which it
    does not have (``has_data_files``), so an editable install skips data files;
    this installs them as a regular install does."""

    def _run_install(self, category):
        super()._run_install(category)
        if category == "data" and not hasattr(self.distribution, "has_data") and self.distribution.has_data_files():
            self.run_command("install_data")


install_requires = [
    "torch>=2.9.1",
    "torchaudio>=2.9.1",
    "espnet>=202511",
    "numpy",
    "scipy",  # exact assignment solver (tuss_plugin.loss.permutation, scoring)
    "kaldiio",
    "soundfile",
    "soxr",
    "pyyaml",
    "tqdm",
    "matplotlib",
    # scoring: fast_bss_eval for SDR/SI-SNR losses and metrics; mir_eval,
    # pystoi and librosa are imported by espnet2.bin.enh_scoring at module level
    "fast-bss-eval",
    "mir_eval",
    "pystoi",
    "librosa",
    "espnet_model_zoo",
    "huggingface_hub",  # model downloads and recipe stage 9 (upload)
    # speech metrics of scoring (outputs of prompt speech): PESQ wide-band and
    # narrow-band (ITU-T P.862.2 / P.862; a source distribution built with a C compiler)
    "pesq",
    # MUSDB18-HQ scoring option: museval's BSS Eval v4 SDR (SiSEC 2018 protocol)
    "museval",
    # ESPnet's trainer writes tensorboard logs by default (--use_tensorboard true)
    "tensorboard",
    # training-pool preparation: voice activity detection of the LibriVox
    # (DNS5 / URGENT) read speech, as in the URGENT challenge pipeline
    "webrtcvad-wheels",
]

setup(
    name="tuss_plugin",
    version="0.1.0",
    description=(
        "Task-aware Unified Source Separation (TUSS, Saijo et al., ICASSP 2025) "
        "as an ESPnet enhancement-task plugin with ESPnet-style recipes"
    ),
    license="Apache-2.0",
    packages=find_packages(include=["tuss_plugin", "tuss_plugin.*"]),
    python_requires=">=3.11",
    install_requires=install_requires,
    # ruff pinned: its format check is part of CI, and formatting differs between versions
    extras_require={
        # pytest-xdist: one stack's suite on both cores (tools/Makefile)
        "test": ["pytest", "pytest-timeout", "pytest-xdist", "ruff==0.17.6"],
        # the embedded mini corpus (egs/mini_tuss): the General MIDI SoundFont shipped
        # with pretty_midi and eSpeak NG's library and voices. Its renderer,
        # tinysoundfont, is installed by tools/install.sh with --no-deps: its one
        # dependency, pyaudio, is for live playback only and needs PortAudio's headers.
        "mini": ["pretty_midi==0.2.11.post0", "espeakng-loader==0.2.4"],
        # ONNX export (torch.onnx's exporter needs onnxscript) and the onnxruntime
        # backend; the same versions on both stacks (cp311 and cp313 wheels), graphs
        # at the opset of tuss_plugin.onnx.metadata.OPSET (docs/onnx.md)
        "onnx": ["onnx==1.23.2", "onnxscript==0.7.2", "onnxruntime>=1.32.0,<1.33"],
        # benchmark --modes authors_fp32: the authors' SeparationModel (a checkout of their
        # release, never part of this package) imports this, at the version of their environment.yaml
        "bench": ["rotary-embedding-torch==0.6.1"],
    },
    data_files=[(SITE_PACKAGES, [AUTOREGISTER_PTH])],
    cmdclass={"editable_wheel": EditableWheelWithData},
    entry_points={
        "console_scripts": [
            "tuss-train=tuss_plugin.bin.tuss_train:main",
            "tuss-import-release=tuss_plugin.bin.import_release:main",
            "tuss-add-prompts=tuss_plugin.bin.add_prompts:main",
            "tuss-separate=tuss_plugin.bin.separate:main",
            "tuss-export-onnx=tuss_plugin.bin.export_onnx:main",
        ]
    },
)
