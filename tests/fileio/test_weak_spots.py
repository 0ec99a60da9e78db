# SPDX-License-Identifier: Apache-2.0
"""Weak spots of the third reliability probe: each is one line naming the file
and the problem, with a non-zero exit status, and nothing is lost."""

import shutil

import numpy as np
import pytest
import soundfile as sf
import yaml

from tuss_plugin.bin import format_data, score, separate, show_results, tuss_inference
from tuss_plugin.fileio.kaldi_io import read_scp, utt_id_problem

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line(capsys, *needles):
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line]
    assert len(lines) == 1, lines
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def _data(tmp_path):
    from datagen import make_data_dir

    return make_data_dir(tmp_path / "data", [["speech"], ["speech", "sfxbg"]], seconds=0.25)


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"u0 a.wav\nu1 b\xffc.wav\n", ":2: byte 13 (line 2, column 5): invalid UTF-8"),
        (b"u0 a.wav\nu1 b\x00.wav\n", ":2: byte 13 (line 2, column 5): NUL byte"),
    ],
)
def test_undecodable_lists_name_file_line_and_byte(tmp_path, content, needle):
    (tmp_path / "wav.scp").write_bytes(content)
    with pytest.raises(ValueError) as e:
        read_scp(tmp_path / "wav.scp")
    assert str(e.value).startswith(f"{tmp_path / 'wav.scp'}:2:") and needle in str(e.value)


def test_undecodable_list_in_a_cli_is_one_line(model_dir, tmp_path, capsys):
    data = _data(tmp_path)
    (data / "utt2prompts").write_bytes(b"utt000 speech\nutt001 speech \xfe\n")
    rc = tuss_inference.main(
        ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(tmp_path / "out")]
    )
    assert rc == 1
    _one_line(capsys, "utt2prompts:2:", "invalid UTF-8")


def test_a_bom_is_not_part_of_the_first_id(tmp_path, capsys):
    data = _data(tmp_path)
    scp = data / "wav.scp"
    scp.write_bytes(b"\xef\xbb\xbf" + scp.read_bytes())
    assert list(read_scp(scp)) == ["utt000", "utt001"]
    assert format_data.main([str(data), str(tmp_path / "dump")]) == 0
    assert (tmp_path / "dump" / "data" / "mix" / "utt000.wav").is_file()


@pytest.mark.parametrize("key", ["u\u202e0", "u\u200b0", "\ufeffu0", "u\u2066x"])
def test_invisible_characters_in_ids_are_refused(key):
    assert "invisible" in utt_id_problem(key)


def test_yaml_tag_in_release_hparams_is_one_line(fixture_dir, tmp_path, capsys):
    from tuss_plugin.bin import import_release

    hp = tmp_path / "hparams.yaml"
    hp.write_text("a: !!python/object/apply:os.system ['true']\n")
    args = ["--hparams", str(hp), "--checkpoint", str(fixture_dir / "model.pth"), "--outdir", str(tmp_path / "o")]
    assert import_release.main(args) == 1
    _one_line(capsys, "hparams.yaml", "YAML")


@pytest.mark.parametrize("output", ["", "DIR"])
def test_score_output_that_is_a_directory_or_empty_is_refused_before_scoring(tmp_path, capsys, output):
    data = _data(tmp_path)
    out = str(tmp_path) if output == "DIR" else output
    assert score.main(["--ref_dir", str(data), "--score_obs", "--output", out]) == 1
    err = capsys.readouterr()
    assert "utterances" not in err.out  # refused before any work
    assert len(err.err.strip().splitlines()) == 1 and "--output" in err.err


def _scores(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "utt\toutput\tprompt\ttask\tsi_snr\tsi_snri\tsnr\tsdr\tsi_sdr"
    path.write_text("\n".join([head] + rows) + "\n")
    return path


def test_score_merge_refuses_duplicate_rows(tmp_path, capsys):
    row = "u0\t1\tspeech\tSE\t1\t1\t1\t1\t1"
    a = _scores(tmp_path / "a.tsv", [row])
    b = _scores(tmp_path / "b.tsv", [row.replace("u0", "u1"), row])
    assert score.main(["--merge", str(a), str(b), "--output", str(tmp_path / "s.tsv")]) == 1
    _one_line(capsys, "b.tsv:3", "u0")
    assert not (tmp_path / "s.tsv").exists()


@pytest.mark.parametrize("kind", ["binary", "text"])
def test_show_results_on_a_broken_scores_table_is_one_line(tmp_path, capsys, kind):
    f = _scores(tmp_path / "exp" / "enhanced_test" / "scoring" / "scores.tsv", ["u0\t1\tspeech\tSE\t1\t1\tx\t1\t1"])
    if kind == "binary":
        f.write_bytes(b"\x00\xff\xfe" * 20)
    assert show_results.main([str(tmp_path / "exp")]) == 1
    _one_line(capsys, "scores.tsv")
    assert not (tmp_path / "exp" / "RESULTS.md").exists()


def test_show_results_refuses_a_missing_directory(tmp_path, capsys):
    _scores(tmp_path / "exp" / "enhanced_test" / "scoring" / "scores.tsv", ["u0\t1\tspeech\tSE\t1\t1\t1\t1\t1"])
    assert show_results.main([str(tmp_path / "exp"), str(tmp_path / "nope")]) == 1
    _one_line(capsys, "nope")


def test_meta_yaml_of_a_model_dir_may_not_point_outside(model_dir, tmp_path):
    from tuss_plugin.inference.model_files import resolve_model_files

    d = tmp_path / "card"
    d.mkdir()
    shutil.copy(model_dir / "model.pth", tmp_path / "model.pth")
    shutil.copy(model_dir / "config.yaml", tmp_path / "config.yaml")
    for cfg, mdl in (("../config.yaml", "../model.pth"), (str(tmp_path / "config.yaml"), str(tmp_path / "model.pth"))):
        meta = {"yaml_files": {"train_config": cfg}, "files": {"model_file": mdl}}
        (d / "meta.yaml").write_text(yaml.safe_dump(meta))
        with pytest.raises((ValueError, FileNotFoundError)):
            resolve_model_files(d)


def test_format_data_refuses_to_clip_pcm(tmp_path, capsys):
    data = _data(tmp_path)
    mix = (data / "wav.scp").read_text().split()[1]
    x, fs = sf.read(mix)
    sf.write(mix, (x / np.abs(x).max() * 40).astype(np.float32), fs, subtype="FLOAT")
    rc = format_data.main([str(data), str(tmp_path / "dump"), "--subtype", "PCM_16", "--on_error", "stop"])
    assert rc == 1
    assert "clip" in capsys.readouterr().err
    assert not (tmp_path / "dump" / "data" / "mix" / "utt000.wav").exists()


def test_unwritable_output_dir_is_found_before_separating(model_dir, tmp_path, capsys):
    data = _data(tmp_path)
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "out"
    rc = tuss_inference.main(["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out)])
    assert rc == 1
    _one_line(capsys, "--output_dir")


@pytest.mark.parametrize("device", ["bogus", "cuda:99"])
def test_a_bad_device_is_named_not_the_checkpoint(model_dir, tmp_path, capsys, device):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(800, np.float32), 16000)
    rc = separate.main(["-m", str(model_dir), "-p", "speech", "-o", str(tmp_path / "o"), "-d", device, str(wav)])
    assert rc == 1
    line = _one_line(capsys, "--device", device)
    assert "checkpoint" not in line


def test_huge_vocabulary_errors_give_a_short_line(model_dir, tmp_path, capsys):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    config = yaml.safe_load((d / "config.yaml").read_text())
    config["separator_conf"]["prompts"] = [f"p{i}" for i in range(50_000)] + ["p0"]
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    assert separate.main(["-m", str(d), "--list-prompts"]) == 1
    line = _one_line(capsys, "duplicate")
    assert len(line) < 2000
