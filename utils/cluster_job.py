#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Run one recipe job through a cluster (used by utils/cluster_jobs.sh).

    cluster_job.py --backend slurm|sge|ssh [--config conf/slurm.conf] [--gpu N]
                   [--mem 4G] [--num_threads N] [--time T] --job J --log LOG CMD

Blocks until the job ends and exits with its status, its output on stdout (the
runner's log), as utils/run_jobs.sh expects of every job.

The config is the format of ESPnet's and Kaldi's ``conf/slurm.conf`` and
``conf/queue.conf``:

    command sbatch --export=PATH            # the submit command and its fixed options
    option mem=* --mem-per-cpu $0           # --mem X adds these words ($0 = X)
    option mem=0                            # --mem 0 adds nothing
    default gpu=0                           # the value when the option is not given
    option gpu=0 -p cpu
    option gpu=* -p gpu --gres=gpu:$0 -c $0

An exact ``name=value`` rule wins over ``name=*``; a value no rule matches is
refused, naming the config. Options come from --gpu, --mem, --num_threads,
--time. Backends:

* slurm: the job runs under ``srun`` (it blocks and streams the output back);
  the config's ``command`` options are given to srun (``sbatch`` and ``srun``
  share them). Without a config: ``srun --ntasks=1``.
* sge (Sun/Son of Grid Engine, ``queue.pl``'s config): ``qsub -sync y`` of a
  job script written beside LOG, its output file then copied to stdout.
  Without a config: ``qsub -v PATH -cwd -S /bin/bash -j y``.
* ssh: the config lists hosts, one per line; job J runs on host
  ``(J - 1) mod n`` through ``ssh -o BatchMode=yes``, in this directory with
  this PATH and PYTHONPATH (a shared file system is assumed, as for ESPnet's
  ssh.pl).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

DEFAULT_COMMANDS = {
    "slurm": ["srun", "--ntasks=1"],
    "sge": ["qsub", "-v", "PATH", "-cwd", "-S", "/bin/bash", "-j", "y"],
}
# the rules without a config (name, value, words)
DEFAULT_RULES = {
    "slurm": [("gpu", "0", []), ("gpu", "*", ["--gres=gpu:$0"]), ("mem", "*", ["--mem=$0"]),
              ("num_threads", "*", ["--cpus-per-task=$0"]), ("time", "*", ["--time=$0"])],
    "sge": [("gpu", "0", []), ("gpu", "*", ["-l", "gpu=$0"]), ("mem", "*", ["-l", "mem_free=$0,ram_free=$0"]),
            ("num_threads", "1", []), ("num_threads", "*", ["-pe", "smp", "$0"]), ("time", "*", ["-l", "h_rt=$0"])],
}  # fmt: skip


class ConfError(ValueError):
    """A config line or an option value the config has no rule for."""


def parse_conf(path: Path) -> Tuple[Optional[List[str]], Dict[str, str], List[Tuple[str, str, List[str]]]]:
    """(command words or None, defaults {name: value}, rules [(name, value or '*', words)])."""
    command, defaults, rules = None, {}, []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        kind = words[0]
        if kind == "command" and len(words) > 1:
            command = words[1:]
        elif kind in ("option", "default") and len(words) > 1 and re.fullmatch(r"\w+=\S+", words[1]):
            name, value = words[1].split("=", 1)
            if kind == "default":
                defaults[name] = value
            else:
                rules.append((name, value, words[2:]))
        else:
            raise ConfError(f"{path}:{lineno}: expected 'command ...', 'option name=value ...' or 'default name=value'")
    return command, defaults, rules


def option_words(path: Path, rules, defaults: Dict[str, str], given: Dict[str, str]) -> List[str]:
    """The words the options add: exact rules first, then ``name=*`` with $0 replaced."""
    values = {**defaults, **given}
    words: List[str] = []
    for name, value in values.items():
        exact = [w for n, v, w in rules if n == name and v == value]
        wild = [w for n, v, w in rules if n == name and v == "*"]
        if exact:
            words += exact[0]
        elif wild:
            words += [w.replace("$0", value) for w in wild[0]]
        elif any(n == name for n, _, _ in rules):
            raise ConfError(f"{path}: no rule 'option {name}={value}' or 'option {name}=*'")
    return words


def submit_words(backend: str, conf: Optional[Path], given: Dict[str, str]) -> List[str]:
    """The submit command with its options (slurm's ``sbatch`` run as ``srun``)."""
    command, defaults, rules = list(DEFAULT_COMMANDS[backend]), {}, DEFAULT_RULES[backend]
    if conf is not None:
        conf_command, defaults, rules = parse_conf(conf)
        command = conf_command or command
    words = option_words(conf or Path("(built-in rules)"), rules, defaults, given)
    if backend == "slurm" and Path(command[0]).name == "sbatch":
        command = ["srun"] + command[1:]
    return command + words


def run_sge(words: List[str], log: Path, cmd: str) -> int:
    script, out = log.with_name(log.name + ".qsub.sh"), log.with_name(log.name + ".qsub.out")
    script.write_text(f"#!/bin/bash\ncd {shlex.quote(os.getcwd())}\n{cmd}\n", encoding="utf-8")
    rc = subprocess.call(words + ["-sync", "y", "-o", str(out), str(script)], stdout=sys.stderr)
    if out.exists():
        sys.stdout.write(out.read_text(encoding="utf-8", errors="replace"))
        out.unlink()
    script.unlink(missing_ok=True)
    return rc


def run_ssh(conf: Optional[Path], job: int, cmd: str) -> int:
    if conf is None:
        raise ConfError("the ssh backend needs --config <file listing the hosts>")
    hosts = [w for line in conf.read_text(encoding="utf-8").splitlines() for w in line.split("#", 1)[0].split()[:1]]
    if not hosts:
        raise ConfError(f"{conf}: no hosts")
    env = " ".join(f"{k}={shlex.quote(os.environ.get(k, ''))}" for k in ("PATH", "PYTHONPATH"))
    remote = f"cd {shlex.quote(os.getcwd())} && export {env} && bash -c {shlex.quote(cmd)}"
    return subprocess.call(["ssh", "-o", "BatchMode=yes", hosts[(job - 1) % len(hosts)], remote])


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["slurm", "sge", "ssh"], required=True)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--job", type=int, default=1)
    p.add_argument("--log", type=Path, required=True)
    for name in ("gpu", "mem", "num_threads", "time"):
        p.add_argument(f"--{name}", default=None)
    p.add_argument("cmd", help="the job's shell command line")
    a = p.parse_args(argv)
    given = {k: v for k in ("gpu", "mem", "num_threads", "time") if (v := getattr(a, k)) is not None}
    try:
        if a.config is not None and not a.config.is_file():
            raise ConfError(f"{a.config}: no such config")
        if a.backend == "ssh":
            return run_ssh(a.config, a.job, a.cmd)
        words = submit_words(a.backend, a.config, given)
        if a.backend == "sge":
            return run_sge(words, a.log, a.cmd)
        return subprocess.call(words + ["bash", "-c", a.cmd])
    except (ConfError, OSError) as e:
        print(f"cluster_job.py: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
