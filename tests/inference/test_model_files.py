# SPDX-License-Identifier: Apache-2.0
"""Model files: packed models unpack only what meta.yaml names, within a size limit,
leave nothing behind when they fail, the cache is pruned, and a config is checked
against the weights' shapes before the model is built."""

import struct
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from tuss_plugin.inference import SeparateAudio, load_model
from tuss_plugin.inference.model_files import resolve_model_files

META = "files: {model_file: exp/m/model.pth}\nyaml_files: {train_config: exp/m/config.yaml}\n"


def _pack(path: Path, model_dir: Path, extra=(), config: bytes = None, meta: str = META) -> Path:
    """An ESPnet-style pack of the fixture model (+ ``extra`` (name, bytes) members)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.yaml", meta)
        zf.writestr("exp/m/config.yaml", config if config is not None else (model_dir / "config.yaml").read_bytes())
        zf.write(model_dir / "model.pth", "exp/m/model.pth")
        for name, data in extra:
            zf.writestr(name, data)
    return path


def _entries(cache: Path):
    """Everything directly in the cache directory (unpacked models, temporaries)."""
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def _files(d: Path):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))


def _one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------ unpacking
def test_only_the_files_meta_yaml_names_are_unpacked(model_dir, tmp_path):
    z = _pack(
        tmp_path / "m.zip",
        model_dir,
        extra=[("exp/m/RESULTS.md", b"# scores"), ("exp/m/images/zeros.bin", bytes(4 << 20))],
    )
    cache = tmp_path / "cache"
    config, model = resolve_model_files(z, cache_dir=str(cache))
    (entry,) = _entries(cache)
    assert _files(cache / entry) == ["exp/m/config.yaml", "exp/m/model.pth", "meta.yaml"]
    assert config == cache / entry / "exp/m/config.yaml" and model == cache / entry / "exp/m/model.pth"


def test_unused_members_do_not_count_against_the_limit(model_dir, tmp_path):
    z = _pack(tmp_path / "m.zip", model_dir, extra=[("exp/m/images/zeros.bin", bytes(64 << 20))])
    needed = (model_dir / "model.pth").stat().st_size + (model_dir / "config.yaml").stat().st_size + len(META)
    sep = SeparateAudio.from_pretrained(z, cache_dir=str(tmp_path / "cache"), max_unpack_bytes=needed + 100)
    assert sep.fs == 48000


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_unpack_limit_refuses_before_writing(model_dir, tmp_path, monkeypatch, how):
    z = _pack(tmp_path / "m.zip", model_dir)
    cache = tmp_path / "cache"
    kwargs = {}
    if how == "argument":
        kwargs["max_unpack_bytes"] = 1000
    else:
        monkeypatch.setenv("TUSS_MAX_UNPACK_BYTES", "1000")
    with pytest.raises(ValueError) as e:
        SeparateAudio.from_pretrained(z, cache_dir=str(cache), **kwargs)
    msg = _one_line(e)
    assert msg.startswith(f"{z}: ") and "more than the limit of 1,000 bytes" in msg and "TUSS_MAX_UNPACK_BYTES" in msg
    assert _entries(cache) == []


def test_bad_limit_setting_is_named(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUSS_MAX_UNPACK_BYTES", "lots")
    with pytest.raises(ValueError, match=r"TUSS_MAX_UNPACK_BYTES: expected a positive number of bytes, got 'lots'"):
        resolve_model_files(_pack(tmp_path / "m.zip", model_dir), cache_dir=str(tmp_path / "cache"))


def _understate_size(z: Path, name: str, size: int) -> None:
    """Rewrite the central directory so that ``name`` declares ``size`` uncompressed bytes."""
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo(name)
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        n = struct.unpack("<H", data[pos + 28 : pos + 30])[0]
        if data[pos + 46 : pos + 46 + n].decode() == name:
            assert struct.unpack("<I", data[pos + 24 : pos + 28])[0] == info.file_size
            data[pos + 24 : pos + 28] = struct.pack("<I", size)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    else:
        raise AssertionError(name)
    z.write_bytes(bytes(data))


def test_zip_lying_about_sizes_leaves_nothing(model_dir, tmp_path):
    z = _pack(tmp_path / "m.zip", model_dir)
    _understate_size(z, "exp/m/model.pth", 100)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError) as e:
        SeparateAudio.from_pretrained(z, cache_dir=str(cache))
    assert _one_line(e).startswith(f"{z}: ")
    assert _entries(cache) == []


@pytest.mark.parametrize(
    "case,msg",
    [
        ("missing_model", "the package has no exp/m/model.pth"),
        ("no_meta_keys", "meta.yaml lacks train_config / model_file"),
        ("no_meta", "packed model without meta.yaml"),
    ],
)
def test_bad_package_leaves_no_directory(model_dir, tmp_path, case, msg):
    z = tmp_path / "m.zip"
    with zipfile.ZipFile(z, "w") as zf:
        if case != "no_meta":
            zf.writestr("meta.yaml", META if case == "missing_model" else "files: {}\n")
        zf.write(model_dir / "config.yaml", "exp/m/config.yaml")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError) as e:
        SeparateAudio.from_pretrained(z, cache_dir=str(cache))
    assert _one_line(e) == f"{z}: {msg}"
    assert _entries(cache) == []


def test_failed_load_removes_its_unpacked_copy(model_dir, tmp_path):
    conf = yaml.safe_load((model_dir / "config.yaml").read_text())
    conf["separator_conf"]["emb_dim"] = 8
    z = _pack(tmp_path / "m.zip", model_dir, config=yaml.safe_dump(conf).encode())
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="does not match"):
        SeparateAudio.from_pretrained(z, cache_dir=str(cache))
    assert _entries(cache) == []


# ------------------------------------------------------------------ the cache
def test_cache_keeps_the_most_recently_used_and_drops_deleted_packs(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUSS_CACHE_KEEP", "2")
    cache = tmp_path / "cache"
    zips = {k: _pack(tmp_path / f"{k}.zip", model_dir) for k in "abcd"}

    def load(k):  # -> the cache entry of pack k
        config, _ = resolve_model_files(zips[k], cache_dir=str(cache))
        return config.relative_to(cache).parts[0]

    entry = {k: load(k) for k in "ab"}
    assert _entries(cache) == sorted(entry.values())
    zips["b"].unlink()
    entry["c"] = load("c")  # b's zip is gone: its copy goes
    assert _entries(cache) == sorted([entry["a"], entry["c"]])
    assert load("a") == entry["a"]  # a is now the most recently used
    entry["d"] = load("d")  # over the limit: the least recently used (c) goes
    assert _entries(cache) == sorted([entry["a"], entry["d"]])


def test_cache_leaves_other_files_alone(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUSS_CACHE_KEEP", "1")
    cache = tmp_path / "cache"
    (cache / "notes").mkdir(parents=True)
    (cache / "notes" / "keep.txt").write_text("mine")
    (cache / "0123456789abcdef").mkdir()  # a name like ours, but no unpacked model
    for k in "ab":
        resolve_model_files(_pack(tmp_path / f"{k}.zip", model_dir), cache_dir=str(cache))
    assert (cache / "notes" / "keep.txt").read_text() == "mine" and (cache / "0123456789abcdef").is_dir()
    assert len(_entries(cache)) == 3


# ------------------------------------------------------------------ config against weights
def _model_copy(model_dir: Path, d: Path, **separator_conf) -> Path:
    d.mkdir()
    conf = yaml.safe_load((model_dir / "config.yaml").read_text())
    conf["separator_conf"].update(separator_conf)
    (d / "config.yaml").write_text(yaml.safe_dump(conf))
    (d / "model.pth").write_bytes((model_dir / "model.pth").read_bytes())
    return d


def test_absurd_config_is_refused_without_building_it(model_dir, tmp_path):
    """emb_dim 200000 would make a model of about 10^13 parameters (tens of terabytes)."""
    d = _model_copy(model_dir, tmp_path / "m", emb_dim=200_000)
    with pytest.raises(ValueError) as e:
        load_model(d / "config.yaml", d / "model.pth")
    msg = _one_line(e)
    assert msg.startswith(f"{d / 'model.pth'} does not match {d / 'config.yaml'}: ")
    n_weights = sum(v.numel() for v in torch.load(d / "model.pth", weights_only=True).values())
    assert f"the weights hold {n_weights:,} values" in msg
    built = int(msg.split("the config builds ")[1].split(" values")[0].replace(",", ""))
    assert built > 10**12
    assert "shape" in msg and "separator." in msg


def test_mismatch_names_the_first_keys(model_dir, tmp_path):
    d = _model_copy(model_dir, tmp_path / "m")
    state = torch.load(d / "model.pth", weights_only=True)
    first, second = list(state)[:2]
    state.pop(first)
    state["extra.weight"] = torch.zeros(3)
    state[second] = torch.zeros(7, 7)
    torch.save(state, d / "model.pth")
    with pytest.raises(ValueError) as e:
        load_model(d / "config.yaml", d / "model.pth")
    msg = _one_line(e)
    assert f"missing from the weights: {first}" in msg
    assert "not in the model: extra.weight" in msg
    assert (
        f"{second} (config {list(torch.load(model_dir / 'model.pth', weights_only=True)[second].shape)}, "
        "weights [7, 7])" in msg
    )


# ------------------------------------------------------------------ Hugging Face tags


def _hf_snapshot(cache: Path, repo_id: str, model_dir: Path) -> Path:
    """``repo_id`` as huggingface_hub caches a download of it: blobs and a
    snapshot of links to them, ``refs/main`` naming the snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    rev = "1" * 40
    files = {"meta.yaml": META.encode(), "exp/m/config.yaml": (model_dir / "config.yaml").read_bytes(),
             "exp/m/model.pth": (model_dir / "model.pth").read_bytes()}  # fmt: skip
    for i, (name, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"blob{i}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / rev / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    return repo / "snapshots" / rev


def test_hub_tag_loads_from_the_hugging_face_cache_offline(model_dir, tmp_path, monkeypatch):
    """``org/repo`` is a Hugging Face repository, read from huggingface_hub's
    own cache without a network, on both stacks (espnet_model_zoo 202511,
    asked for the tag, looks in its own cache directory instead)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # as HF_HUB_CACHE=... does
    monkeypatch.setenv("TUSS_CACHE", str(tmp_path / "tuss_cache"))
    snapshot = _hf_snapshot(tmp_path / "hf", "someone/tuss-model", model_dir)
    config, model = resolve_model_files("someone/tuss-model")
    assert (config, model) == (snapshot / "exp/m/config.yaml", snapshot / "exp/m/model.pth")
    assert resolve_model_files("someone/tuss-model@" + "1" * 40)[1] == model
    # an explicit cache_dir is where huggingface_hub looks
    other = _hf_snapshot(tmp_path / "other", "someone/tuss-model", model_dir)
    assert resolve_model_files("someone/tuss-model", cache_dir=str(tmp_path / "other"))[1] == other / "exp/m/model.pth"
    with pytest.raises(FileNotFoundError) as e:
        resolve_model_files("someone/not-there")
    assert _one_line(e).startswith("someone/not-there: not a local path and could not be downloaded (")
