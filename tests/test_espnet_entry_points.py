# SPDX-License-Identifier: Apache-2.0
"""ESPnet's own entry points find TUSS in any interpreter of an environment the
package is installed in, with no ``import tuss_plugin``: the install puts
``tuss_plugin_autoregister.pth`` into site-packages (setup.py, editable
installs included), which arms the registration at start-up.

The environment here is a fresh venv with this checkout installed by pip
(``pip install -e .``, as tools/install.sh does) on top of the test stack's
packages; each command runs in a fresh interpreter of it. The recipe test runs
enh.sh's stages by ESPnet's own modules (statistics, 1 epoch of training,
inference, scoring) with ``separator: tuss`` in a plain ESPnet config."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, TESTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with this checkout installed editable (no dependencies: those come
    from the test stack's site-packages, read as a path entry)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    stack = sysconfig.get_paths()["purelib"]
    # first in name order, so that the stack's distutils shim (next) is importable
    Path(purelib, "000_test_stack.pth").write_text(stack + "\n")
    if Path(stack, "distutils-precedence.pth").exists():
        shutil.copy(Path(stack, "distutils-precedence.pth"), purelib)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "-e", str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert Path(purelib, "tuss_plugin_autoregister.pth").exists()
    return python


def _run(python: Path, *args: str, cwd: Path, **env: str) -> str:
    """Run ``python args`` in a fresh interpreter with a clean environment (no PYTHONPATH)."""
    r = subprocess.run(
        [str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "OMP_NUM_THREADS": "1", **env},
    )  # fmt: skip
    assert r.returncode == 0, f"{args[:2]}: {r.stderr[-3000:]}"
    return r.stdout


def test_espnet_finds_tuss_with_no_import(venv, tmp_path):
    code = (
        "import sys\n"
        "from espnet2.tasks.enh import EnhancementTask\n"
        "print(EnhancementTask.get_parser().parse_args(['--separator', 'tuss']).separator)\n"
        "print('torch' in sys.modules)\n"
    )
    # (the last lines: ESPnet may print a note on flash attention first)
    assert _run(venv, "-c", code, cwd=tmp_path).strip().splitlines()[-2:] == ["tuss", "True"]
    # a plain interpreter imports only the plugin's start-up module, not torch or ESPnet
    roots = "('torch', 'espnet2', 'tuss_plugin')"
    plain = f"import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {roots}))"
    assert _run(venv, "-c", plain, cwd=tmp_path).strip() == "['tuss_plugin', 'tuss_plugin.import_hooks']"
    # switched off on request
    off = "import sys; print('tuss_plugin' in sys.modules)"
    assert _run(venv, "-c", off, cwd=tmp_path, TUSS_NO_AUTOREGISTER="1").strip() == "False"


def _espnet_data(root: Path, n: int = 3, fs: int = 8000) -> Path:
    """An ESPnet enh data dir (wav.scp, spk1.scp, spk2.scp, utt2spk) of n 0.5 s mixtures."""
    rng = np.random.default_rng(0)
    data = root / "data"
    (root / "wav").mkdir(parents=True)
    data.mkdir()
    lines = {"wav.scp": [], "spk1.scp": [], "spk2.scp": [], "utt2spk": []}
    for i in range(n):
        utt = f"utt{i}"
        t = np.arange(fs // 2) / fs
        s1 = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)
        s2 = 0.1 * rng.standard_normal(t.size)
        for name, x in (("mix", s1 + s2), ("s1", s1), ("s2", s2)):
            sf.write(root / "wav" / f"{utt}_{name}.wav", x.astype(np.float32), fs)
        lines["wav.scp"].append(f"{utt} {root / 'wav' / f'{utt}_mix.wav'}")
        lines["spk1.scp"].append(f"{utt} {root / 'wav' / f'{utt}_s1.wav'}")
        lines["spk2.scp"].append(f"{utt} {root / 'wav' / f'{utt}_s2.wav'}")
        lines["utt2spk"].append(f"{utt} {utt}")
    for name, rows in lines.items():
        (data / name).write_text("\n".join(rows) + "\n")
    return data


def test_espnet_recipe_stages_with_tuss_separator(venv, tmp_path):
    """enh.sh's statistics, training, inference and scoring stages by ESPnet's own
    modules, ``separator: tuss`` in a plain ESPnet config, no import of the plugin."""
    data = _espnet_data(tmp_path)
    conf = TESTS / "conf" / "espnet_enh_tuss.yaml"
    train_data = []
    for split in ("train", "valid"):
        for f, name in (("wav.scp", "speech_mix"), ("spk1.scp", "speech_ref1"), ("spk2.scp", "speech_ref2")):
            train_data += [f"--{split}_data_path_and_name_and_type", f"{data / f},{name},sound"]
    stats = tmp_path / "stats"
    common = ["--config", str(conf), "--ngpu", "0", *train_data]
    shapes = ["--train_shape_file", str(data / "wav.scp"), "--valid_shape_file", str(data / "wav.scp")]
    _run(venv, "-m", "espnet2.bin.enh_train", *common, "--collect_stats", "true", *shapes,
         "--output_dir", str(stats), cwd=tmp_path)  # fmt: skip
    exp = tmp_path / "exp"
    _run(venv, "-m", "espnet2.bin.enh_train", *common, "--output_dir", str(exp),
         "--train_shape_file", str(stats / "train" / "speech_mix_shape"),
         "--valid_shape_file", str(stats / "valid" / "speech_mix_shape"), cwd=tmp_path)  # fmt: skip
    assert (exp / "valid.loss.best.pth").exists()
    enh = tmp_path / "enhanced"
    _run(venv, "-m", "espnet2.bin.enh_inference", "--ngpu", "0", "--fs", "8000",
         "--train_config", str(exp / "config.yaml"), "--model_file", str(exp / "valid.loss.best.pth"),
         "--data_path_and_name_and_type", f"{data / 'wav.scp'},speech_mix,sound",
         "--output_dir", str(enh), "--normalize_output_wav", "true", cwd=tmp_path)  # fmt: skip
    assert len((enh / "spk1.scp").read_text().splitlines()) == 3
    scoring = tmp_path / "scoring"
    _run(venv, "-m", "espnet2.bin.enh_scoring", "--key_file", str(data / "wav.scp"),
         "--ref_scp", str(data / "spk1.scp"), "--ref_scp", str(data / "spk2.scp"),
         "--inf_scp", str(enh / "spk1.scp"), "--inf_scp", str(enh / "spk2.scp"),
         "--output_dir", str(scoring), "--ref_channel", "0", cwd=tmp_path)  # fmt: skip
    # enh.sh's result_<metric>.txt: the mean over mixtures of the mean over speakers
    scores = {}
    for metric in ("STOI", "SDR", "SAR", "SIR", "SI_SNR"):
        files = [scoring / f"{metric}_spk{k}" for k in (1, 2)]
        per_spk = [dict(line.split() for line in f.read_text().splitlines()) for f in files]
        assert set(per_spk[0]) == set(per_spk[1]) == {"utt0", "utt1", "utt2"}
        scores[metric] = float(np.mean([np.mean([float(s[u]) for s in per_spk]) for u in per_spk[0]]))
    print("ESPnet enh_scoring of the TUSS model:", ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    assert all(np.isfinite(v) for v in scores.values())
