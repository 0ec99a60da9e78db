# SPDX-License-Identifier: Apache-2.0
"""Start-up: ``import tuss_plugin`` imports neither torch nor ESPnet, yet the
TUSS classes are registered wherever ESPnet's enhancement task is imported
(before or after the plugin); ``tuss-separate --help`` / ``--list-prompts``
run without torch, and loading a TUSS model does not import ESPnet's task.

Each case runs in a fresh interpreter and checks ``sys.modules`` (what was
imported), not a time."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

REGISTERED = """
import espnet2.tasks.abs_task as abs_task
import espnet2.tasks.enh as enh
out = {
    "separator": enh.separator_choices.get_class("tuss").__name__,
    "bslocoformer": "bslocoformer" in enh.separator_choices.choices(),
    "encoder": enh.encoder_choices.get_class("tuss_stft").__name__,
    "decoder": enh.decoder_choices.get_class("tuss_stft").__name__,
    "loss_wrapper": "category_pit" in enh.loss_wrapper_choices.choices(),
    "criterion": "snr_zeroref" in enh.criterion_choices.choices(),
    "scheduler": "tusswarmupplateau" in abs_task.scheduler_classes,
    "parses": enh.EnhancementTask.get_parser().parse_args(["--separator", "tuss"]).separator,
}
"""


def _python(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter (this checkout first on the path); it
    prints one JSON object as its last line."""
    r = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_importing_the_plugin_imports_neither_torch_nor_espnet():
    out = _python(
        "import sys, json, tuss_plugin, tuss_plugin.prompts, tuss_plugin.utils.cli, tuss_plugin.bin.separate\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'espnet2', 'espnet')}))"
    )
    assert out == {"torch": False, "espnet2": False, "espnet": False}


@pytest.mark.parametrize(
    "first",
    [
        "import tuss_plugin",
        "import espnet2.tasks.enh; import tuss_plugin",
        # a plugin module whose ESPnet imports run espnet2/__init__ (which imports espnet on 202511)
        "from tuss_plugin.separator.tuss_separator import TUSSSeparator",
        "import tuss_plugin.model_builder",
        "import tuss_plugin.tasks.tuss",
    ],
)
def test_registered_when_espnet_imports_its_task(first):
    first += "\n"
    out = _python(first + REGISTERED + "import json; print(json.dumps(out))")
    assert out == {
        "separator": "TUSSSeparator",
        "bslocoformer": True,
        "encoder": "TUSSSTFTEncoder",
        "decoder": "TUSSSTFTDecoder",
        "loss_wrapper": True,
        "criterion": True,
        "scheduler": True,
        "parses": "tuss",
    }


def test_espnet_load_knows_the_task():
    """``espnet.load(..., task="tuss")`` (ESPnet versions with ``espnet.TASKS``)."""
    out = _python(
        "import json, tuss_plugin, espnet\n"
        "tasks = getattr(espnet, 'TASKS', None)\n"
        "print(json.dumps(tasks.get('tuss') if isinstance(tasks, dict) else 'no TASKS'))"
    )
    if out == "no TASKS":
        pytest.skip("this ESPnet has no espnet.TASKS")
    assert out == ["tuss_plugin.inference", "SeparateAudio"]


def test_package_names_still_import():
    from tuss_plugin import DEFAULT_PROMPTS, PromptVocabulary, TUSSSeparator
    from tuss_plugin.prompts import PromptVocabulary as PV
    from tuss_plugin.separator.tuss_separator import TUSSSeparator as TS

    assert (PromptVocabulary, TUSSSeparator) == (PV, TS) and DEFAULT_PROMPTS[0] == "speech"
    with pytest.raises(AttributeError):
        import tuss_plugin

        tuss_plugin.NotAName  # noqa: B018


@pytest.mark.parametrize("argv", [["--help"], ["--list-prompts"]])
def test_separate_help_and_list_prompts_do_not_import_torch(model_dir, argv):
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['tuss-separate', '--model', sys.argv[1]] + sys.argv[2:]\n"
        "try:\n"
        "    runpy.run_module('tuss_plugin.bin.separate', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'espnet2')}))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(model_dir), *argv], capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"torch": False, "espnet2": False}
    if argv == ["--list-prompts"]:
        assert lines[0] == "speech sfx sfxbg drums bass vocals other musicbg"


def test_loading_a_tuss_model_does_not_import_espnets_task(model_dir):
    out = _python(
        "import json, sys\n"
        "from tuss_plugin.inference import SeparateAudio\n"
        "sep = SeparateAudio.from_pretrained(sys.argv[1])\n"
        "print(json.dumps({'task': 'espnet2.tasks.enh' in sys.modules, 'prompts': list(sep.prompts)}))",
        str(model_dir),
    )
    assert out == {"task": False, "prompts": ["speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg"]}


def test_one_builder_for_training_and_inference(model_dir):
    """``TUSSTask.build_model`` and the inference loader build the same model
    (class, parameter names and shapes); a name that is not this package's is
    looked up in ESPnet's choices."""
    import argparse

    import torch
    import yaml

    from tuss_plugin.inference import load_model
    from tuss_plugin.model_builder import choice
    from tuss_plugin.tasks.tuss import TUSSTask

    loaded, config = load_model(model_dir / "config.yaml", model_dir / "model.pth")
    torch.manual_seed(0)
    built = TUSSTask.build_model(argparse.Namespace(**yaml.safe_load((model_dir / "config.yaml").read_text())))
    assert type(built) is type(loaded)
    assert {k: v.shape for k, v in built.state_dict().items()} == {k: v.shape for k, v in loaded.state_dict().items()}
    from espnet2.enh.loss.criterions.time_domain import SISNRLoss

    assert choice("criterion", "si_snr") is SISNRLoss
    assert choice("separator", "TUSS").__name__ == "TUSSSeparator"
    with pytest.raises(ValueError, match="must be one of"):
        choice("encoder", "no_such_encoder")


# the packages whose modules are models, training or export: they use torch
TORCH_PACKAGES = ("layers", "separator", "loss", "tasks", "train", "convert", "benchmark", "onnx.export", "onnx.graph")
TORCH_MODULES = ("espnet_model", "model_builder", "registry", "onthefly.iterator")
# thin adapters whose --help is ESPnet's own parser (ESPnet's task builds it)
ESPNET_PARSERS = ("tuss_train", "enh_inference")


def _modules(prefix: str = "tuss_plugin."):
    import pkgutil

    import tuss_plugin

    return sorted(m.name for m in pkgutil.walk_packages(tuss_plugin.__path__, prefix))


def _uses_torch(name: str) -> bool:
    rel = name[len("tuss_plugin.") :]
    return rel.startswith(TORCH_PACKAGES) or rel in TORCH_MODULES or rel.startswith("bin.")


IMPORT_EACH = """
import importlib, json, sys
out = {}
for name in sys.argv[1:]:
    before = set(sys.modules)
    importlib.import_module(name)
    heavy = [m for m in ("torch", "espnet2", "espnet") if m in sys.modules and m not in before]
    if heavy:
        out[name] = heavy
        break  # what follows would be charged for it
print(json.dumps(out))
"""


def test_modules_cost_only_what_they_use():
    """Every module outside the model, training and export packages imports
    neither torch nor ESPnet (``tuss_plugin.onthefly.conf`` among them: its
    package no longer imports the iterator eagerly), in one fresh interpreter."""
    light = [m for m in _modules() if not _uses_torch(m)]
    assert "tuss_plugin.onthefly.conf" in light and "tuss_plugin.fileio.kaldi_io" in light
    assert _python(IMPORT_EACH, *light) == {}


HELP_EACH = """
import contextlib, io, json, runpy, sys
out = {}
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_module(name, run_name="__main__")
    except SystemExit as e:
        assert not e.code, (name, e.code)
    heavy = [m for m in ("torch", "espnet2", "espnet") if m in sys.modules]
    if heavy:
        out[name] = heavy
        break
print(json.dumps(out))
"""


def test_every_command_help_imports_neither_torch_nor_espnet():
    commands = [m for m in _modules() if m.startswith("tuss_plugin.bin.") and not m.endswith(ESPNET_PARSERS)]
    assert len(commands) >= 10
    assert _python(HELP_EACH, *commands) == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["tuss_plugin.bin.recipe_model", "--help"],
        ["tuss_plugin.bin.watch_train", "--help"],
        # what tuss.sh asks of a model besides whether it loads reads files and configs only
        ["tuss_plugin.bin.recipe_model", "model_file", "{model}"],
        ["tuss_plugin.bin.recipe_model", "kind", "{model}"],
    ],
)
def test_recipe_helpers_do_not_import_torch_or_espnet(model_dir, argv):
    code = (
        "import json, runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'espnet2', 'espnet')}))"
    )
    argv = [a.format(model=model_dir) for a in argv]
    r = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"torch": False, "espnet2": False, "espnet": False}
