# SPDX-License-Identifier: Apache-2.0
"""Validation as the TUSS authors do it: every corpus of the validation set
weighs the same in ``valid/loss`` (per-corpus losses logged as
``loss_<corpus>``), long tracks are separated in fixed segments, one MUSDB
channel. The trainer tests run ESPnet's real trainer (``tuss_train``) and
read the reporter's statistics from the checkpoint."""

import contextlib
import logging
from typing import Dict, List, Optional

import numpy as np
import pytest
import soundfile as sf
import torch

from tuss_plugin.bin import tuss_train
from tuss_plugin.fileio.kaldi_io import read_dict, read_scp
from tuss_plugin.tasks.tuss import TUSSTask
from tuss_plugin.train.checkpoints import check_checkpoint

from conftest import TESTS
from datagen import make_data_dir, train_args

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = str(TESTS / "conf" / "tuss_tiny.yaml")
# corpus "aa": 3 items, corpus "bb": 1 item; equal prompt counts so that a
# validation batch of 2 holds (utt002 of aa, utt003 of bb)
PROMPTS = [["speech", "sfxbg"]] * 4
CORPUS = {"utt000": "aa", "utt001": "aa", "utt002": "aa", "utt003": "bb"}


def _write_utt2corpus(data, corpus: Dict[str, str]) -> None:
    (data / "utt2corpus").write_text("".join(f"{u} {c}\n" for u, c in sorted(corpus.items())))


@contextlib.contextmanager
def _log_messages():
    """The INFO messages logged meanwhile (ESPnet's epoch summaries among them)."""
    messages: List[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    root = logging.getLogger()
    handler, level = Collect(logging.INFO), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _valid_stats(exp, epoch: int = 1) -> Dict[str, float]:
    state, why = check_checkpoint(exp / "checkpoint.pth")
    assert state, why
    return {
        k: float(v)
        for k, v in state["reporter"]["stats"][epoch]["valid"].items()
        if isinstance(v, (int, float, np.floating))
    }


def _item_inputs(data, utt: str, pre) -> Dict[str, torch.Tensor]:
    """One utterance of a make_data_dir dir as a batch of 1, preprocessed as in validation."""
    mix = sf.read(read_scp(data / "wav.scp")[utt], dtype="float32")[0]
    refs = np.stack([sf.read(p, dtype="float32")[0] for p in read_dict(data / "spk.scp")[utt]])
    item = pre(utt, {"speech_mix": mix, "speech_refs": refs, "prompts": " ".join(read_dict(data / "utt2prompts")[utt])})
    batch = {k: torch.from_numpy(np.asarray(v))[None] for k, v in item.items()}
    batch["speech_mix_lengths"] = torch.tensor([mix.shape[0]])
    batch["prompts_lengths"] = torch.tensor([batch["prompts"].shape[1]])
    return batch


def _segmentwise_loss(model, batch: Dict[str, torch.Tensor], segment: int) -> float:
    """The authors' validation of a long track, written out: consecutive
    segments of ``segment`` samples (the last zero-padded) separated one by
    one, outputs joined and cut to the track, the loss on the whole track."""
    mix, prompts = batch["speech_mix"], batch["prompts"]
    n = mix.shape[1]
    n_seg = -(-n // segment)
    padded = torch.nn.functional.pad(mix, (0, n_seg * segment - n))
    pieces = []
    for s in range(n_seg):
        chunk = padded[:, s * segment : (s + 1) * segment]
        est = model.separate(chunk, torch.tensor([segment]), prompts)[0]
        pieces.append(torch.stack(est))  # (N, 1, segment)
    est = list(torch.cat(pieces, dim=-1)[..., :n])
    refs = [batch[f"speech_ref{k}"] for k in range(1, len(est) + 1)]
    loss, _, _ = model.loss_wrappers[0](refs, est, {"prompts": prompts})
    return float(loss)


@torch.no_grad()
def _item_losses(
    exp, data, utts: List[str], segment: Optional[int] = None, segmented: frozenset = frozenset()
) -> Dict[str, float]:
    """Per-utterance validation losses of the model saved after epoch 1, one item at a time."""
    model, args = TUSSTask.build_model_from_file(exp / "config.yaml", exp / "1epoch.pth", "cpu")
    model.eval()
    pre = TUSSTask.build_preprocess_fn(args, train=False)
    out = {}
    for utt in utts:
        batch = _item_inputs(data, utt, pre)
        if utt in segmented:
            out[utt] = _segmentwise_loss(model, batch, segment)
        else:
            out[utt] = float(model(**batch)[0])
    return out


@pytest.fixture(scope="module")
def equal_weight_run(tmp_path_factory):
    """One epoch of tuss_train; validation batches of 2 mix the two corpora."""
    root = tmp_path_factory.mktemp("equal")
    data = make_data_dir(root / "data", PROMPTS, seconds=0.25)
    _write_utt2corpus(data, CORPUS)
    exp = root / "exp"
    with _log_messages() as log:
        tuss_train.main(train_args(data, exp, TINY, epochs=1, extra=["--valid_batch_size", "2"]))
    return data, exp, log


def test_valid_loss_weighs_each_corpus_equally(equal_weight_run):
    data, exp, _ = equal_weight_run
    item = _item_losses(exp, data, sorted(CORPUS))
    a = np.mean([item[u] for u in ("utt000", "utt001", "utt002")])
    b = item["utt003"]
    assert abs(a - b) > 1e-3  # the two rules below give different values
    stats = _valid_stats(exp)
    assert stats["loss"] == pytest.approx((a + b) / 2, rel=1e-4, abs=1e-4)
    assert stats["loss"] != pytest.approx(np.mean(list(item.values())), rel=1e-4, abs=1e-4)


def test_per_corpus_losses_are_logged(equal_weight_run):
    data, exp, log = equal_weight_run
    item = _item_losses(exp, data, sorted(CORPUS))
    stats = _valid_stats(exp)
    assert stats["loss_aa"] == pytest.approx(
        np.mean([item[u] for u in ("utt000", "utt001", "utt002")]), rel=1e-4, abs=1e-4
    )
    assert stats["loss_bb"] == pytest.approx(item["utt003"], rel=1e-4, abs=1e-4)
    valid_lines = [m for m in log if "[valid]" in m]
    assert valid_lines and "loss_aa=" in valid_lines[-1] and "loss_bb=" in valid_lines[-1]


@pytest.fixture(scope="module")
def segment_run(tmp_path_factory):
    """One epoch of tuss_train; corpus bb validated in 0.1-s segments (1600 samples
    at 16 kHz: 3 segments of a 0.25-s item, the last one zero-padded), batch 1."""
    root = tmp_path_factory.mktemp("segment")
    data = make_data_dir(root / "data", PROMPTS, seconds=0.25)
    _write_utt2corpus(data, CORPUS)
    exp = root / "exp"
    tuss_train.main(
        train_args(
            data,
            exp,
            TINY,
            epochs=1,
            extra=["--valid_batch_size", "1", "--valid_segment_seconds", "0.1", "--valid_segment_corpora", "bb"],
        )
    )
    return data, exp


def test_listed_corpora_are_validated_segment_wise(segment_run):
    data, exp = segment_run
    item = _item_losses(exp, data, sorted(CORPUS), segment=1600, segmented=frozenset({"utt003"}))
    whole = _item_losses(exp, data, ["utt003"])["utt003"]
    assert abs(item["utt003"] - whole) > 1e-3  # segment-wise and whole differ
    stats = _valid_stats(exp)
    assert stats["loss_bb"] == pytest.approx(item["utt003"], rel=1e-4, abs=1e-4)
    a = np.mean([item[u] for u in ("utt000", "utt001", "utt002")])
    assert stats["loss_aa"] == pytest.approx(a, rel=1e-4, abs=1e-4)
    assert stats["loss"] == pytest.approx((a + item["utt003"]) / 2, rel=1e-4, abs=1e-4)


# ------------------------------------------------------------------ the model


@pytest.fixture(scope="module")
def tiny():
    args = TUSSTask.get_parser().parse_args(["--config", TINY])
    return TUSSTask.build_model(args).eval(), TUSSTask.build_preprocess_fn(args, train=False)


@torch.no_grad()
def test_model_separates_long_inputs_segment_wise(tiny, tmp_path):
    model, pre = tiny
    data = make_data_dir(tmp_path / "d", [["speech", "speech", "sfxbg"]], seconds=0.25)
    batch = _item_inputs(data, "utt000", pre)  # 4000 samples
    whole = float(model(**batch)[0])
    got = float(model(**batch, segment_samples=1600)[0])
    assert got == pytest.approx(_segmentwise_loss(model, batch, 1600), abs=1e-5)
    assert abs(got - whole) > 1e-3
    # not longer than one segment: separated whole, no padding
    assert float(model(**batch, segment_samples=4000)[0]) == pytest.approx(whole, abs=1e-6)


@torch.no_grad()
def test_silent_segment_gives_silent_outputs(tiny, tmp_path):
    model, pre = tiny
    data = make_data_dir(tmp_path / "d", [["speech", "sfxbg"]], seconds=0.25)
    batch = _item_inputs(data, "utt000", pre)
    mix = batch["speech_mix"].clone()
    mix[:, 1600:3200] = 0.0  # the second of three segments is silent
    est, others = model.separate_segments(mix, batch["prompts"], 1600)
    assert len(est) == 2 and all(e.shape == mix.shape for e in est)
    assert all(bool((e[:, 1600:3200] == 0).all()) for e in est)
    assert all(float(e[:, :1600].abs().sum()) > 0 and float(e[:, 3200:].abs().sum()) > 0 for e in est)
    assert torch.equal(others["prompts"], batch["prompts"])


# ------------------------------------------------------------------ options and lists


def test_segment_corpora_need_a_segment_length():
    from tuss_plugin.train.trainer import TUSSTrainer

    args = TUSSTask.get_parser().parse_args(["--config", TINY, "--valid_segment_corpora", "musdb18hq"])
    with pytest.raises(ValueError, match="needs --valid_segment_seconds"):
        TUSSTrainer.build_options(args)
    args = TUSSTask.get_parser().parse_args(["--config", TINY, "--valid_segment_seconds", "-1"])
    with pytest.raises(ValueError, match="positive"):
        TUSSTrainer.build_options(args)


def _valid_factory(data, tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    args = TUSSTask.get_parser().parse_args(train_args(data, tmp_path / "exp", TINY))
    return TUSSTask.build_iter_factory(args, DistributedOption(distributed=False), "valid")


def test_valid_batches_name_their_corpora(tmp_path):
    data = make_data_dir(tmp_path / "d", PROMPTS, seconds=0.1)
    _write_utt2corpus(data, CORPUS)
    batches = list(_valid_factory(data, tmp_path).build_iter(1))
    assert {u: c for utts, b in batches for u, c in zip(utts, b["corpus"])} == CORPUS
    (data / "utt2corpus").unlink()  # no list: ESPnet's batches, unchanged
    assert all("corpus" not in b for _, b in _valid_factory(data, tmp_path).build_iter(1))


def test_bad_utt2corpus_is_refused_with_file_and_line(tmp_path):
    data = make_data_dir(tmp_path / "d", PROMPTS, seconds=0.1)
    _write_utt2corpus(data, {u: c for u, c in CORPUS.items() if u != "utt003"})
    with pytest.raises(ValueError, match=r"utt2corpus: no corpus for validation utterance utt003"):
        _valid_factory(data, tmp_path)
    (data / "utt2corpus").write_text("utt000 aa\nutt001 a/b\n")
    with pytest.raises(ValueError, match=r"utt2corpus: utterance utt001: invalid corpus name 'a/b'"):
        _valid_factory(data, tmp_path)


# ------------------------------------------------------------------ data preparation


def test_eval_sets_list_their_corpus_and_musdb_validates_one_channel(tmp_path):
    from tuss_plugin.dataprep.common import combine_data_dirs
    from tuss_plugin.dataprep.eval_sets import dnr, musdb18hq

    import fake_eval_corpora as fake

    roots = fake.make_all(tmp_path / "corpora", ["MUSDB18HQ", "DNR"])
    data = tmp_path / "data"
    m = musdb18hq.prepare(roots["MUSDB18HQ"], data_dir=data)
    d = dnr.prepare(roots["DNR"], data_dir=data)
    dev = read_scp(m["dev_musdb18hq"] / "wav.scp")
    assert dev and all(u.endswith("_CH1") for u in dev)  # channel 0 of each validation track
    assert read_dict(m["dev_musdb18hq"] / "utt2channel") == {u: ["0"] for u in dev}
    test = read_scp(m["test_musdb18hq"] / "wav.scp")
    assert {u[-3:] for u in test} == {"CH1", "CH2"}  # the test set keeps both channels
    for name, path in list(m.items()) + list(d.items()):
        corpus = read_dict(path / "utt2corpus")
        assert sorted(corpus) == sorted(read_scp(path / "wav.scp")), name
        assert {c[0] for c in corpus.values()} == {name.split("_", 1)[1]}, name
    both = combine_data_dirs(data / "dev", [m["dev_musdb18hq"], d["dev_dnr"]])
    corpus = {u: c[0] for u, c in read_dict(both / "utt2corpus").items()}
    assert corpus == {**{u: "musdb18hq" for u in dev}, **{u: "dnr" for u in read_scp(d["dev_dnr"] / "wav.scp")}}
    # a data dir written before utt2corpus existed is written again
    (d["dev_dnr"] / "utt2corpus").unlink()
    dnr.prepare(roots["DNR"], data_dir=data)
    assert (d["dev_dnr"] / "utt2corpus").is_file()


def test_mini_recipe_dev_names_its_task_patterns_as_corpora(tmp_path):
    import os
    import subprocess

    from conftest import ROOT

    src = ROOT / "egs" / "mini_tuss" / "tuss1"
    for name in ("path.sh", "db.sh", "utils", "local"):
        os.symlink(src / name, tmp_path / name)
    cmd = ["./local/data.sh", "--num_train", "1", "--num_dev", "2", "--num_test", "1", "--seconds", "0.1"]
    for _ in range(2):  # the second run skips the synthesis and keeps the list
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        corpus = {u: c[0] for u, c in read_dict(tmp_path / "data" / "dev" / "utt2corpus").items()}
        assert sorted(corpus) == sorted(read_scp(tmp_path / "data" / "dev" / "wav.scp"))
        assert corpus == {u: u.split("_")[0] for u in corpus}  # <task>_dev_<i>
        assert sorted(set(corpus.values())) == ["cass", "mss", "se", "ss", "uss"]
