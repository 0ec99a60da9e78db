# SPDX-License-Identifier: Apache-2.0
"""Utterance ids become file names: one rule (kaldi_io.check_utt_id) applied
wherever lists are read; pipe entries, which only stage 2 (format_data) runs."""

import importlib.util

import pytest

from tuss_plugin.bin import format_data, tuss_inference
from tuss_plugin.fileio.kaldi_io import read_dict, read_list, read_scp

from conftest import ROOT
from datagen import make_data_dir

BAD_IDS = [
    ("/tmp/x/ABS", "'/'"),
    ("../../TRAV", "'/'"),
    ("..", "'.'"),
    ("a..b", "'..'"),
    (".hidden", "'.'"),
    ("-rf", "'-'"),
    ("a\x07b", "control character"),
]


def _validate_module():
    spec = importlib.util.spec_from_file_location("_validate_data_dir", ROOT / "utils" / "validate_data_dir.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _with_id(d, old: str, new: str) -> None:
    """Rename utterance ``old`` to ``new`` in every list of data dir ``d``."""
    for f in d.iterdir():
        if f.is_file():
            f.write_text(
                "".join(
                    f"{new}{line[len(old) :]}" if line.split(maxsplit=1)[:1] == [old] else line
                    for line in f.read_text().splitlines(keepends=True)
                )
            )


@pytest.mark.parametrize("bad,reason", BAD_IDS)
def test_readers_refuse_bad_ids(tmp_path, bad, reason):
    lst = tmp_path / "wav.scp"
    lst.write_text(f"good /a.wav\n{bad} /b.wav\n")
    for reader in (read_scp, read_dict, read_list):
        with pytest.raises(ValueError) as e:
            reader(lst)
        msg = str(e.value)
        assert msg.startswith(f"{lst}:2: invalid id {bad!r}") and reason in msg and "\n" not in msg


def test_readers_accept_corpus_ids(tmp_path):
    ids = ["utt000", "musdb18hq_Johnny_Lokke_-_Promises_Lies_CH2", "vctk_demand_p232_001", "a.b-c_d"]
    (tmp_path / "l").write_text("".join(f"{u} x\n" for u in ids))
    assert list(read_scp(tmp_path / "l")) == ids


@pytest.mark.parametrize("bad", ["ABS", "../../TRAV"])
def test_format_data_writes_nothing_outside(tmp_path, capsys, bad):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], seconds=0.05)
    outside = tmp_path / "outside"
    outside.mkdir()
    bad = str(outside / bad) if bad == "ABS" else bad
    _with_id(data, "utt000", bad)
    dst = tmp_path / "a" / "b" / "dump"
    assert format_data.main(["--fs", "8k", str(data), str(dst)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"invalid id {bad!r}" in err[0] and "wav.scp:1" in err[0], err
    written = [p for p in tmp_path.rglob("*.wav") if not p.is_relative_to(data)]
    assert written == []


def test_tuss_inference_refuses_bad_id(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], seconds=0.05)
    _with_id(data, "utt000", "../TRAV")
    rc = tuss_inference.main(
        ["--model", str(tmp_path / "no_model"), "--data_dir", str(data), "--output_dir", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "invalid id '../TRAV'" in err[0], err


def test_validator_refuses_bad_id(tmp_path):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["speech", "sfxbg"]], seconds=0.05)
    _with_id(data, "utt001", "utt001/../../x")
    problems = _validate_module().validate(data)
    assert any(p.startswith(f"{data / 'wav.scp'}:2: invalid id 'utt001/../../x'") for p in problems), problems


def test_pipe_entries_run_in_stage2_only(tmp_path, capsys):
    """Stage 2 (format_data) runs a pipe entry and dumps a file; validate_data_dir
    accepts it in a data dir (counted, not run) and names it in a dump dir."""
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["speech", "sfxbg"]], seconds=0.05)
    lines = (data / "wav.scp").read_text().splitlines()
    marker = tmp_path / "ran"
    pipe = f"touch {marker}; cat {lines[1].split(maxsplit=1)[1]} |"
    (data / "wav.scp").write_text(f"{lines[0]}\nutt001 {pipe}\n")
    validator = _validate_module()
    notes = []
    assert validator.validate(data, check_audio=True, notes=notes) == [] and not marker.exists()
    assert notes == [
        f"{data}: 1 pipe command(s) and 0 archive offset(s) in wav.scp: accepted; "
        "only recipe stage 2 (format_data) runs or reads them"
    ]
    assert validator.validate(data, formatted=True) == [
        f"{data / 'wav.scp'}: utt001: {pipe!r} is a pipe command; only recipe stage 2 "
        "(python -m tuss_plugin.bin.format_data) runs pipe commands and reads archive offsets: "
        "run it on this data dir first and give its dump dir (plain audio files)"
    ]
    assert format_data.main(["--fs", "8k", "--on_error", "stop", str(data), str(tmp_path / "dump")]) == 0
    assert capsys.readouterr().err == "" and marker.exists()
    assert all(p.endswith(".wav") for p in read_scp(tmp_path / "dump" / "wav.scp").values())
    assert validator.validate(tmp_path / "dump", check_audio=True, formatted=True) == []
