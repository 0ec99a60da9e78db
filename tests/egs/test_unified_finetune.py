# SPDX-License-Identifier: Apache-2.0
"""The unified recipe's prompt-dropout fine-tuning (the paper's L6) starts from the weights of
a named epoch of the trained model, which training keeps although ESPnet removes epochs outside
the n best, and runs the fine-tuning config's epochs. Stages 3-4 of egs/unified/tuss1/run.sh with
a tiny model on list-based data, epochs scaled down by options."""

import os
import subprocess

import pytest
import torch
import yaml

from tuss_plugin.train.checkpoints import check_checkpoint

from conftest import ROOT, TESTS
from datagen import make_data_dir

RECIPE = ROOT / "egs" / "unified" / "tuss1"


def _run(work, *args):
    cmd = ["./run.sh", "--stage", "3", "--stop_stage", "4", "--train_set", "train", "--valid_set", "dev"]
    cmd += ["--fs", "16k", "--ngpu", "0", "--nj", "1", "--train_num_threads", "1", *args]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("unified")
    for name in ("run.sh", "tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils", "conf", "local"):
        os.symlink((RECIPE / name).resolve(), work / name)
    for name in ("train", "dev"):
        make_data_dir(work / "dump" / "raw" / name, [["speech", "sfxbg"]] * 2, seconds=0.25)
    conf = yaml.safe_load((TESTS / "conf" / "tuss_tiny.yaml").read_text())
    (work / "tiny.yaml").write_text(yaml.safe_dump(conf))
    # the fine-tuning config: the tiny model with a zero learning rate, so that its weights
    # after training are exactly those it started from
    ft = dict(conf, optim_conf=dict(conf["optim_conf"], lr=0.0), max_epoch=1)
    (work / "ft_tiny.yaml").write_text(yaml.safe_dump(ft))
    keep = "--max_epoch 3 --keep_epochs 2 --keep_nbest_models 1"
    r = _run(work, "--train_config", "tiny.yaml", "--tag", "tiny", "--train_args", keep)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return work


def _finetune(work, epoch: int):
    options = ["--finetune_from", "exp/enh_tiny", "--finetune_init_epoch", str(epoch)]
    return _run(work, *options, "--finetune_config", "ft_tiny.yaml")


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _equal(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_training_keeps_the_named_epoch(trained):
    exp = trained / "exp" / "enh_tiny"
    kept = _weights(exp / "2epoch.kept.pth")
    # checkpoint.prev.pth: the complete state after epoch 2 (copied when epoch 3 started); its
    # reporter state holds numpy scalars, which the safe loader of the trainer allows
    state, problem = check_checkpoint(exp / "checkpoint.prev.pth")
    assert problem is None and _equal(kept, state["model"])
    assert not _equal(kept, _weights(exp / "3epoch.pth"))
    assert not (exp / "1epoch.kept.pth").exists() and not (exp / "3epoch.kept.pth").exists()


def test_finetuning_starts_from_the_named_epoch(trained):
    r = _run(
        trained, "--finetune_from", "exp/enh_tiny", "--finetune_init_epoch", "2", "--finetune_config", "ft_tiny.yaml"
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = trained / "exp" / "enh_ft_tiny"
    assert "--init_param exp/enh_tiny/2epoch.kept.pth" in (exp / "run.sh").read_text()
    # epochs: the config's (tiny: 1); lr 0: the weights after it are the initial ones
    assert (exp / "1epoch.pth").is_file() and not (exp / "2epoch.pth").exists()
    assert _equal(_weights(exp / "1epoch.pth"), _weights(trained / "exp" / "enh_tiny" / "2epoch.kept.pth"))


def test_finetuning_without_the_kept_epoch_is_refused(trained):
    r = _run(
        trained, "--finetune_from", "exp/enh_tiny", "--finetune_init_epoch", "1", "--finetune_config", "ft_tiny.yaml"
    )
    assert r.returncode != 0
    assert "1epoch.kept.pth" in r.stderr and "keep_epochs" in r.stderr
