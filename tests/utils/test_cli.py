# SPDX-License-Identifier: Apache-2.0
"""The shared command-line plumbing (tuss_plugin.utils.cli): one-line errors, exit
statuses 1 / 130 (Ctrl-C) / 143 (SIGTERM), one spelling of the segment options
(old tuss-separate spellings kept), and the data preparation runners."""

import argparse

import pytest

from tuss_plugin.bin import separate, tuss_inference
from tuss_plugin.dataprep import common
from tuss_plugin.dataprep.pools import pool
from tuss_plugin.fileio.atomic import Terminated
from tuss_plugin.utils import cli

from datagen import make_data_dir

pytestmark = pytest.mark.usefixtures("one_thread")


def _raise(exc):
    def f():
        raise exc

    return f


def test_error_line_is_one_line():
    assert cli.error_line("prog", ValueError("a\n  b\tc ")) == "prog: error: a b c"
    assert cli.error_line(None, "x  y") == "error: x y"
    assert cli.error_line("prog", ValueError()) == "prog: error: ValueError"


@pytest.mark.parametrize(
    "exc,status,line",
    [
        (cli.CLIError("bad\ninput"), 1, "prog: error: bad input"),
        (KeyboardInterrupt(), 130, "prog: interrupted"),
        (Terminated("terminated by signal 15"), 143, "prog: terminated"),
    ],
)
def test_run_main_statuses(capsys, exc, status, line):
    assert cli.run_main("prog", _raise(exc)) == status
    out, err = capsys.readouterr()
    assert out == "" and err == line + "\n"


def test_run_main_passes_results_and_unexpected_errors(capsys):
    assert cli.run_main("prog", lambda: 3) == 3
    assert cli.run_main("prog", lambda: None) == 0
    assert cli.run_main("prog", _raise(OSError("gone")), errors=(OSError,)) == 1
    assert capsys.readouterr().err == "prog: error: gone\n"
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli.run_main("prog", lambda: 1 / 0)


def test_run_main_messages_for_interruptions(capsys):
    assert cli.run_main("p", _raise(KeyboardInterrupt()), interrupted="interrupted (x)") == 130
    assert cli.run_main("p", _raise(Terminated()), terminated="terminated (y)") == 143
    assert capsys.readouterr().err == "p: interrupted (x)\np: terminated (y)\n"


def test_segment_options_one_spelling_and_aliases():
    p = argparse.ArgumentParser()
    cli.add_segment_options(p)
    a = p.parse_args(["--segment_size", "6", "--hop_size", "3"])
    assert (a.segment_size, a.hop_size) == (6.0, 3.0)
    sp = separate.get_parser()
    spellings = {a.dest: a.option_strings for a in sp._actions}
    assert spellings["segment_size"] == ["--segment_size", "--segment"]
    assert spellings["hop_size"] == ["--hop_size", "--hop"]
    old = sp.parse_args(["-m", "m", "--segment", "6", "--hop", "3", "x.wav"])
    new = sp.parse_args(["-m", "m", "--segment_size", "6", "--hop_size", "3", "x.wav"])
    assert vars(old) == vars(new) and (new.segment_size, new.hop_size) == (6.0, 3.0)
    ip = tuss_inference.get_parser()
    a = ip.parse_args(
        ["--model", "m", "--data_dir", "d", "--output_dir", "o", "--segment_size", "6", "--hop_size", "3"]
    )
    assert (a.segment_size, a.hop_size) == (6.0, 3.0)


def test_separate_old_and_new_spellings_give_the_same_errors(model_dir, tmp_path, capsys):
    for seg, hop in (("--segment", "--hop"), ("--segment_size", "--hop_size")):
        args = ["-m", str(model_dir), "-p", "speech", "-o", str(tmp_path / "o"), seg, "1", hop, "2", "x.wav"]
        assert separate.main(args) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["tuss-separate: error: --hop must be in (0, --segment] seconds, got 2.0"] * 2


def test_tuss_inference_ctrl_c_is_one_line(model_dir, tmp_path, capsys, monkeypatch):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], fs=16000, seconds=0.1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuss_inference, "separate_utterance", interrupted)
    try:
        rc = tuss_inference.main(
            ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(tmp_path / "enh")]
        )
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C ended tuss_inference with a traceback")
    assert rc == 130
    err = capsys.readouterr().err
    assert err == "tuss_inference: interrupted; finished utterances are kept, re-run to complete\n"


def test_library_errors_are_not_cli_errors_yet_read_as_one_line(capsys):
    """Data preparation and the pool format raise the library's own errors,
    which know nothing of command lines; the one runner of the data-preparation
    commands turns them into one line, with the hint appended."""
    from tuss_plugin.utils.errors import DataPrepError, MissingPackageError

    assert not issubclass(DataPrepError, cli.CLIError) and not issubclass(MissingPackageError, cli.CLIError)
    from tuss_plugin.fileio.pools import PoolError

    assert issubclass(PoolError, DataPrepError)

    def prepare():
        raise DataPrepError("X_ROOT=/nowhere: no such directory")

    assert common.run_cli(prepare, hint="download it") == 1
    assert capsys.readouterr().err == "error: X_ROOT=/nowhere: no such directory; download it\n"
    assert common.run_cli(prepare) == 1
    assert capsys.readouterr().err == "error: X_ROOT=/nowhere: no such directory\n"
    assert common.run_cli(_raise(PoolError("pool_x: empty"))) == 1
    assert capsys.readouterr().err == "error: pool_x: empty\n"
    assert common.run_cli(lambda: ["anything"]) == 0  # what main returns is not a status
    assert cli.run_main("score", _raise(MissingPackageError("no pesq"))) == 1
    assert capsys.readouterr().err == "score: error: no pesq\n"


def test_one_runner_and_one_id_rule_for_data_preparation():
    """The data preparation has one runner and one id rule: no second
    ``run_cli`` or ``safe_uid`` in the pool helpers, and the sanitiser makes
    only ids that the Kaldi-list rule accepts (it made ``a..b`` and ``.x``)."""
    from tuss_plugin.fileio.kaldi_io import make_id, utt_id_problem

    assert not hasattr(pool, "run_cli") and not hasattr(pool, "safe_uid")
    for parts in [("a..b",), (".hidden",), ("-rf",), ("x", "..", "y"), ("...a",), ("track. . .01",), ("a", "-b")]:
        made = make_id(*parts)
        assert utt_id_problem(made) is None, (parts, made)
    assert make_id("a..b") == "a.b" and make_id(".hidden") == "hidden" and make_id("-rf") == "rf"
    assert make_id("Johnny Lokke - Promises & Lies", "bass") == "Johnny_Lokke_-_Promises_Lies_bass"
    with pytest.raises(ValueError):
        make_id("..", "--")
    assert common.check_utt_id("a.b") == "a.b"
    for bad in ("a..b", ".x", "a/b", "a b"):
        with pytest.raises(common.DataPrepError, match="invalid utterance id"):
            common.check_utt_id(bad)
