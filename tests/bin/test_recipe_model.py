# SPDX-License-Identifier: Apache-2.0
"""tuss_plugin.bin.recipe_model: what tuss.sh asks of a model (default model file, config,
prompts or fixed outputs, does it load), one line out or one error line and status 1."""

import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from tuss_plugin.bin import recipe_model
from tuss_plugin.inference.model_files import check_model_files

META = "files: {model_file: exp/m/model.pth}\nyaml_files: {train_config: exp/m/config.yaml}\n"


def _run(capsys, *argv):
    """(status, stdout lines, stderr lines) of the command."""
    status = recipe_model.main(list(argv))
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def _copy(model_dir: Path, d: Path, model_name: str = "model.pth", **separator_conf) -> Path:
    """A copy of the fixture model dir with ``separator_conf`` entries changed."""
    d.mkdir()
    conf = yaml.safe_load((model_dir / "config.yaml").read_text())
    conf["separator_conf"].update(separator_conf)
    (d / "config.yaml").write_text(yaml.safe_dump(conf))
    (d / model_name).write_bytes((model_dir / "model.pth").read_bytes())
    return d


def _pack(path: Path, model_dir: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.yaml", META)
        zf.write(model_dir / "config.yaml", "exp/m/config.yaml")
        zf.write(model_dir / "model.pth", "exp/m/model.pth")
    return path


def test_model_file_is_the_default_of_the_experiment(capsys, model_dir, tmp_path):
    d = _copy(model_dir, tmp_path / "exp", model_name="3epoch.pth")
    (d / "12epoch.pth").write_bytes(b"x")
    assert _run(capsys, "model_file", str(d)) == (0, ["12epoch.pth"], [])
    (d / "valid.loss.best.pth").write_bytes(b"x")
    assert _run(capsys, "model_file", str(d)) == (0, ["valid.loss.best.pth"], [])
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = _run(capsys, "--prog", "tuss.sh", "model_file", str(empty))
    assert (status, out) == (1, []) and len(err) == 1
    assert err[0].startswith(f"tuss.sh: error: {empty}: no model file (model.pth, valid.loss.ave.pth")


def test_config_of_a_directory_and_of_a_packed_zip(capsys, model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUSS_CACHE", str(tmp_path / "cache"))
    assert _run(capsys, "config", str(model_dir)) == (0, [str(model_dir / "config.yaml")], [])
    status, out, _ = _run(capsys, "config", str(_pack(tmp_path / "m.zip", model_dir)))
    assert status == 0 and out[0].startswith(str(tmp_path / "cache")) and out[0].endswith("exp/m/config.yaml")
    assert Path(out[0]).read_bytes() == (model_dir / "config.yaml").read_bytes()
    status, _, err = _run(capsys, "--prog", "tuss.sh: --download_model", "config", str(tmp_path / "no.zip"))
    missing = tmp_path / "no.zip"
    assert status == 1 and err == [f"tuss.sh: --download_model: error: {missing}: no such model directory or file"]


def test_kind_is_read_from_the_config(capsys, model_dir, tmp_path):
    assert _run(capsys, "kind", str(model_dir)) == (0, ["prompts"], [])
    d = tmp_path / "fixed"
    d.mkdir()
    conf = yaml.safe_load((model_dir / "config.yaml").read_text())
    (d / "config.yaml").write_text(yaml.safe_dump(dict(conf, separator="bslocoformer")))
    (d / "valid.loss.best.pth").write_bytes(b"not read: the config tells")
    assert _run(capsys, "kind", str(d)) == (0, ["fixed"], [])
    (d / "config.yaml").write_text("separator: [unclosed\n")
    status, out, err = _run(capsys, "kind", str(d))
    assert (status, out) == (1, []) and len(err) == 1 and str(d / "config.yaml") in err[0]


def test_check_accepts_the_model_without_building_its_weights(capsys, model_dir):
    assert _run(capsys, "check", str(model_dir)) == (0, ["ok"], [])
    meta_model, config = check_model_files(model_dir / "config.yaml", model_dir / "model.pth")
    assert config["separator"] == "tuss"
    assert all(p.is_meta for p in meta_model.parameters())


def test_check_names_a_config_that_does_not_fit_its_weights(capsys, model_dir, tmp_path):
    d = _copy(model_dir, tmp_path / "m", emb_dim=200_000)  # ~10^13 parameters if built
    status, out, err = _run(capsys, "check", str(d))
    assert (status, out) == (1, []) and len(err) == 1
    assert err[0].startswith(f"recipe_model: error: {d / 'model.pth'} does not match {d / 'config.yaml'}: ")


def test_check_refuses_integer_weights(capsys, model_dir, tmp_path):
    d = _copy(model_dir, tmp_path / "m")
    state = torch.load(d / "model.pth", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].to(torch.int32)
    torch.save(state, d / "model.pth")
    status, _, err = _run(capsys, "check", str(d))
    assert status == 1 and err == [
        f"recipe_model: error: {d / 'model.pth'}: weight {key} is int32, not a real floating-point tensor; "
        "refusing to cast it"
    ]


def test_a_packed_model_that_fails_leaves_no_unpacked_copy(capsys, model_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUSS_CACHE", str(cache))
    z = _pack(tmp_path / "good.zip", model_dir)
    assert _run(capsys, "check", str(z)) == (0, ["ok"], [])
    assert len(list(cache.iterdir())) == 1
    bad = _pack(tmp_path / "bad.zip", _copy(model_dir, tmp_path / "m", emb_dim=24))
    status, _, err = _run(capsys, "check", str(bad))
    assert status == 1 and "does not match" in err[0]
    assert len(list(cache.iterdir())) == 1  # the good one's only


@pytest.mark.parametrize("argv", [[], ["kind"], ["nosuch", "x"]])
def test_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as e:
        recipe_model.main(argv)
    assert e.value.code == 2


def test_kept_epoch_names_the_file_of_the_checkpoint_rule(capsys, tmp_path):
    from tuss_plugin.train.checkpoints import kept_epoch_file

    assert _run(capsys, "kept_epoch", str(tmp_path), "124") == (0, [str(kept_epoch_file(tmp_path, 124))], [])
    with pytest.raises(SystemExit):
        recipe_model.main(["kept_epoch", str(tmp_path), "two"])
