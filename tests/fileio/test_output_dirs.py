# SPDX-License-Identifier: Apache-2.0
"""Classes 1 and 2 of the third reliability probe: output paths derived from
names never escape or collide, deletion only of what a command wrote, and a
command's output dir is never its own input."""

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import separate, tuss_inference
from tuss_plugin.fileio.output_dirs import Manifest, check_output_dir, derived_name_problem

pytestmark = pytest.mark.usefixtures("one_thread")


def _wav(path, n=4000, fs=16000):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, size=n).astype(np.float32)
    sf.write(path, x, fs, subtype="PCM_16", format="WAV")
    return path


def _sep(model_dir, out, *inputs, prompts=("speech", "sfxbg")):
    return separate.main(["-m", str(model_dir), "-p", *prompts, "-o", str(out), "--quiet", *map(str, inputs)])


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_derived_names_never_reach_the_output_dir_or_its_parent(name):
    assert derived_name_problem(name)


@pytest.mark.parametrize("name", ["..wav", "...wav"])
def test_dotted_input_names_are_refused_and_user_files_kept(model_dir, tmp_path, capsys, name):
    out = tmp_path / "sub" / "out"
    out.mkdir(parents=True)
    mine = [out / "3_drums.wav", out / "spectrogram.png", tmp_path / "sub" / "2_sfxbg.wav"]
    for f in mine:
        f.write_bytes(b"user data")
    rc = _sep(model_dir, out, _wav(tmp_path / name))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and name in err[0], err
    assert all(f.read_bytes() == b"user data" for f in mine)
    assert sorted(p.name for p in out.iterdir()) == ["3_drums.wav", "spectrogram.png"]


def test_symlinked_stem_dir_is_never_followed(model_dir, tmp_path, capsys):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "1_other.wav").write_bytes(b"user data")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(target, out / "song")
    rc = _sep(model_dir, out, _wav(tmp_path / "song.wav"))
    err = capsys.readouterr().err
    assert rc == 1 and "symbolic link" in err
    assert sorted(p.name for p in target.iterdir()) == ["1_other.wav"]


def test_rerun_removes_only_files_this_command_wrote(model_dir, tmp_path):
    inp = _wav(tmp_path / "song.wav")
    dest = tmp_path / "out" / "song"
    dest.mkdir(parents=True)
    (dest / "7_other.wav").write_bytes(b"user data")  # matches the output pattern, not ours
    assert _sep(model_dir, tmp_path / "out", inp, prompts=("speech", "sfxbg", "musicbg")) == 0
    assert _sep(model_dir, tmp_path / "out", inp, prompts=("speech",)) == 0
    names = sorted(p.name for p in dest.iterdir() if not p.name.startswith("."))
    assert names == ["1_speech.wav", "7_other.wav"]
    assert (dest / "7_other.wav").read_bytes() == b"user data"


def test_manifest_removes_only_listed_regular_files(tmp_path):
    m = Manifest(tmp_path, ".m")
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").write_text("x")
    m.replace(["a", "b"])
    os.symlink(tmp_path / "a", tmp_path / "c")
    m.write(["a", "b", "c", "../x"])
    (tmp_path.parent / "x").write_text("outside") if not (tmp_path.parent / "x").exists() else None
    removed = m.replace(["a"])
    assert [p.name for p in removed] == ["b"]
    assert (tmp_path / "c").is_symlink() and (tmp_path.parent / "x").exists()


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_output_dir_is_never_an_input(tmp_path, where):
    data = tmp_path / "data"
    data.mkdir()
    out = {"same": data, "inside": data / "out", "parent": tmp_path}[where]
    with pytest.raises(ValueError, match="--data_dir"):
        check_output_dir(out, [("--data_dir", data)])
    check_output_dir(tmp_path / "other", [("--data_dir", data)])
    if where == "inside":
        check_output_dir(out, [("--model", data)], nested_ok=["--model"])


def _data(tmp_path):
    from datagen import make_data_dir

    return make_data_dir(tmp_path / "data", [["speech", "speech"]], seconds=0.25)


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_tuss_inference_refuses_its_data_dir_as_output(model_dir, tmp_path, capsys, where):
    data = _data(tmp_path)
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    out = {"same": data, "inside": data / "enh", "parent": tmp_path}[where]
    rc = tuss_inference.main(["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out)])
    assert rc != 0
    assert "--data_dir" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()} == before
    assert not (data / "wavs" / "1").exists() and not (data / "stamps").exists()


def test_format_data_refuses_its_source_as_output(tmp_path, capsys):
    from tuss_plugin.bin import format_data

    data = _data(tmp_path)
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    for dst in (data, data / "dump", tmp_path):
        assert format_data.main([str(data), str(dst)]) == 1
        assert "output dir" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()} == before


def test_add_prompts_overwrite_never_touches_the_model_dir(model_dir, tmp_path, capsys):
    from tuss_plugin.bin import add_prompts

    model = tmp_path / "exp"
    shutil.copytree(model_dir, model)
    (model / "train.log").write_text("log")
    (model / "10epoch.pth").write_bytes(b"ckpt")
    names = sorted(p.name for p in model.iterdir())
    rc = add_prompts.main(["--model", str(model), "--add", "piano=other", "--outdir", str(model), "--overwrite"])
    assert rc == 1 and "--model" in capsys.readouterr().err
    assert sorted(p.name for p in model.iterdir()) == names


def test_add_prompts_overwrite_replaces_only_its_own_files(model_dir, tmp_path, capsys):
    from tuss_plugin.bin import add_prompts

    out = tmp_path / "ext"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["--model", str(model_dir), "--add", "piano=other", "--outdir", str(out), "--overwrite"]
    assert add_prompts.main(args) == 1  # not a dir add_prompts wrote
    assert "not written by add_prompts" in capsys.readouterr().err
    (out / "notes.txt").unlink()
    assert add_prompts.main(args) == 0
    (out / "notes.txt").write_text("mine")
    assert add_prompts.main(args[:-1] + ["--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.pth").is_file()


def test_score_refuses_outputs_onto_its_inputs(tmp_path, capsys):
    from tuss_plugin.bin import score

    data = _data(tmp_path)
    (data / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    for output in (data / "utt2prompts", data / "wav.scp", data / "notes.txt", data, data / "wavs" / "utt000_mix.wav"):
        rc = score.main(["--ref_dir", str(data), "--score_obs", "--output", str(output)])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 1 and len(err) == 1, err
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()} == before
    # beside the lists (a new file) or below them (the recipe's scoring/) is fine, and so is a re-run
    assert score.main(["--ref_dir", str(data), "--score_obs", "--output", str(data / "scoring" / "s.tsv")]) == 0
    assert score.main(["--ref_dir", str(data), "--score_obs", "--output", str(data / "scoring" / "s.tsv")]) == 0


def test_import_release_never_writes_over_the_release(fixture_dir, tmp_path, capsys):
    from tuss_plugin.bin import import_release

    rel = tmp_path / "release"
    shutil.copytree(fixture_dir, rel)
    before = {p.name: p.read_bytes() for p in rel.iterdir() if p.is_file()}
    args = ["--hparams", str(rel / "hparams.yaml"), "--checkpoint", str(rel / "model.pth")]
    assert import_release.main(args + ["--outdir", str(rel)]) == 1
    assert "--hparams" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in rel.iterdir() if p.is_file()} == before


def test_plot_examples_refuses_an_input_as_output(tmp_path, capsys):
    from tuss_plugin.bin import plot_examples

    data = _data(tmp_path)
    before = sorted(p.name for p in data.iterdir())
    args = ["--ref_dir", str(data), "--inf_dir", str(data), "--output_dir", str(data)]
    assert plot_examples.main(args) == 1
    assert "output dir" in capsys.readouterr().err
    assert sorted(p.name for p in data.iterdir()) == before
