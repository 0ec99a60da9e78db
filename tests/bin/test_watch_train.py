# SPDX-License-Identifier: Apache-2.0
"""tuss_plugin.bin.watch_train: runs recipe stage 4's launch, prints each epoch's losses
from ESPnet's train.log once, ignores an earlier log the launcher moves aside, and exits
with the command's status."""

import os
import sys

from tuss_plugin.bin import watch_train

LINE = "(trainer:1) INFO: {n}epoch results: [train] iter_time=0.1, loss_time=0.2, loss={t}, [valid] time=1, loss={v}"


def test_epoch_results_are_read_from_espnets_summary_lines():
    text = "\n".join(
        [
            "something else",
            LINE.format(n=1, t="-1.5", v="-2.5e-01"),
            "x 2epoch results: [train] time=1, [valid] time=1",  # no losses: not a result line
            LINE.format(n=3, t="4", v="-3"),
        ]
    )
    assert watch_train.epoch_results(text) == [("1", "-1.5", "-2.5e-01"), ("3", "4", "-3")]


def _script(tmp_path, body: str):
    """A command (python) that runs ``body`` with ``log`` the log path."""
    path = tmp_path / "job.py"
    path.write_text(f"import sys, time\nlog = sys.argv[1]\n{body}\n")
    return [sys.executable, str(path), str(tmp_path / "train.log")]


def test_each_epoch_is_printed_once_and_the_status_is_the_commands(tmp_path, capsys):
    body = (
        f"open(log, 'w').write({LINE.format(n=1, t=1, v=2)!r} + '\\n')\n"
        "time.sleep(0.5)\n"
        f"open(log, 'a').write({LINE.format(n=2, t=3, v=4)!r} + '\\n')\n"
        "print('from the job'); sys.exit(3)"
    )
    cmd = _script(tmp_path, body)
    status = watch_train.main(["--log", str(tmp_path / "train.log"), "--interval", "0.2", "--", *cmd])
    out = capsys.readouterr().out.splitlines()
    assert status == 3
    assert [o for o in out if o.startswith("  epoch")] == [
        "  epoch 1: train loss 1, valid loss 2",
        "  epoch 2: train loss 3, valid loss 4",
    ]


def test_output_file_and_a_rotated_earlier_log(tmp_path, capsys):
    log = tmp_path / "train.log"
    log.write_text(LINE.format(n=7, t=9, v=9) + "\n")  # the previous run's
    body = (
        "import os\ntime.sleep(0.5)\n"
        "os.replace(log, log.replace('train.log', 'train.1.log'))\n"
        f"open(log, 'w').write({LINE.format(n=1, t=1, v=2)!r} + '\\n')\n"
        "print('launcher notes')"
    )
    cmd = _script(tmp_path, body)
    argv = ["--log", str(log), "--output", str(tmp_path / "launch.log"), "--rotated", "--interval", "0.1"]
    assert watch_train.main([*argv, "--", *cmd]) == 0
    assert capsys.readouterr().out.splitlines() == ["  epoch 1: train loss 1, valid loss 2"]
    assert (tmp_path / "launch.log").read_text() == "launcher notes\n"


def test_a_missing_command_is_one_error_line(tmp_path, capsys):
    status = watch_train.main(["--log", str(tmp_path / "train.log"), "--", str(tmp_path / "no-runner")])
    err = capsys.readouterr().err.splitlines()
    assert status == 1 and len(err) == 1 and err[0].startswith("watch_train: error: ") and "no-runner" in err[0]


def test_a_command_killed_by_a_signal(tmp_path):
    cmd = _script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert watch_train.main(["--log", str(tmp_path / "train.log"), "--", *cmd]) == 128 + 9
    assert not os.path.exists(tmp_path / "train.log")
