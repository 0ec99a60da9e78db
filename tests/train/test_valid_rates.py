# SPDX-License-Identifier: Apache-2.0
"""Validation as the TUSS authors compute it: each corpus at its own rate (the estimate
resampled back before the loss), and a conventional model's loss over its real references
only, averaged per prompt."""

from typing import Dict, List

import numpy as np
import pytest
import torch

from tuss_plugin.fileio.audio import resample
from tuss_plugin.tasks.tuss import TUSSTask
from tuss_plugin.train.corpus_validation import CorpusValidation

from conftest import TESTS
from datagen import fixed_output_model, make_data_dir, train_args

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = str(TESTS / "conf" / "tuss_tiny.yaml")
MODEL_FS = 48000


def _batch(mix: np.ndarray, refs: List[np.ndarray], prompts: List[int]) -> Dict[str, torch.Tensor]:
    batch = {"speech_mix": torch.from_numpy(mix.astype(np.float32))[None]}
    for k, r in enumerate(refs, 1):
        batch[f"speech_ref{k}"] = torch.from_numpy(r.astype(np.float32))[None]
    batch["speech_mix_lengths"] = torch.tensor([len(mix)])
    batch["prompts"] = torch.tensor([prompts])
    batch["prompts_lengths"] = torch.tensor([len(prompts)])
    return batch


def _toy_item(fs: int, seed: int):
    rng = np.random.default_rng(seed)
    n = int(0.1 * fs)
    t = np.arange(n) / fs
    refs = [0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.1 * rng.standard_normal(n)), 0.1 * rng.standard_normal(n)]
    return sum(refs), refs


@torch.no_grad()
def test_valid_loss_at_each_corpus_rate():
    """A two-corpus toy set, 16 kHz and 44.1 kHz items, validated by a model at 48 kHz: each
    corpus's loss is that of the estimate resampled back to the item's rate, against the
    item's own references."""
    args = TUSSTask.get_parser().parse_args(["--config", TINY])
    model = TUSSTask.build_model(args).eval()
    vocab = TUSSTask.build_preprocess_fn(args, train=False).vocab
    prompts = vocab.encode(["speech", "sfxbg"])
    tally = CorpusValidation(model, ["aa", "bb"], model_fs=MODEL_FS)
    want = {}
    for corpus, fs, seed in (("aa", 16000, 0), ("bb", 44100, 1)):
        mix, refs = _toy_item(fs, seed)
        batch = _batch(mix, refs, prompts)
        tally(**dict(batch, corpus=[corpus], native_fs=[fs]))
        # written out: up to 48 kHz, separate, back to the item's rate, loss against its references
        up = torch.from_numpy(resample(mix.astype(np.float32), fs, MODEL_FS))[None]
        est = model.separate(up, torch.tensor([up.shape[1]]), batch["prompts"])[0]
        back = [torch.from_numpy(resample(e[0].numpy(), MODEL_FS, fs)[: len(mix)])[None] for e in est]
        ref_t = [batch["speech_ref1"], batch["speech_ref2"]]
        want[corpus] = float(model.loss_wrappers[0](ref_t, back, {"prompts": batch["prompts"]})[0])
        # not the loss of the item taken as if it were at the model's rate
        assert abs(float(model(**batch)[0]) - want[corpus]) > 1e-3
    got = tally.corpus_means()
    assert got == pytest.approx(want, abs=1e-4)


def test_valid_batches_carry_their_rates(tmp_path):
    """utt2fs next to the validation lists (format_data --fs native): each batch names its
    items' rates; with no utt2corpus the set is one corpus."""
    from espnet2.train.distributed_utils import DistributedOption

    data = make_data_dir(tmp_path / "d", [["speech", "sfxbg"]] * 2, seconds=0.1)
    (data / "utt2fs").write_text("utt000 16000\nutt001 44100\n")
    args = TUSSTask.get_parser().parse_args(train_args(data, tmp_path / "exp", TINY))
    factory = TUSSTask.build_iter_factory(args, DistributedOption(distributed=False), "valid")
    got = {u: (c, f) for utts, b in factory.build_iter(1) for u, c, f in zip(utts, b["corpus"], b["native_fs"])}
    assert got == {"utt000": ("all", 16000), "utt001": ("all", 44100)}


@torch.no_grad()
def test_conventional_valid_loss_without_zero_reference_terms(tmp_path):
    """A conventional model (4 interchangeable outputs) validated on speech speech sfxbg: the
    training loss's permutation over the references padded with silence, then only the three
    real references' terms, the two speakers averaged first (per prompt)."""
    from tuss_plugin.espnet_model import TUSSEnhancementModel

    exp = fixed_output_model(tmp_path / "conv")
    model, args = TUSSTask.build_model_from_file(exp / "config.yaml", exp / "valid.loss.best.pth", "cpu")
    model.eval()
    assert isinstance(model, TUSSEnhancementModel) and model.conventional_valid_loss == "real_refs"
    rng = np.random.default_rng(3)
    refs = [rng.standard_normal(1600) * s for s in (0.3, 0.2, 0.05)]
    batch = _batch(sum(refs), refs, [1, 1, 3])
    got = float(model(**batch)[0])
    # written out
    est = model.separate(batch["speech_mix"], batch["speech_mix_lengths"])[0]
    padded = [batch[f"speech_ref{k}"] for k in (1, 2, 3)] + [torch.zeros(1, 1600)]
    wrapper = model.loss_wrappers[0]
    all_outputs, _, others = wrapper(padded, est, {})
    perm = others["perm"][0].tolist()
    mix = sum(padded)
    term = [float(wrapper.criterion(padded[i], est[perm[i]], mix)[0]) for i in range(3)]
    assert got == pytest.approx(((term[0] + term[1]) / 2 + term[2]) / 2, abs=1e-5)
    assert abs(got - float(all_outputs)) > 1e-3  # the zero-reference term is left out
    model.conventional_valid_loss = "all_outputs"  # the training loss, as before
    assert float(model(**batch)[0]) == pytest.approx(float(all_outputs), abs=1e-5)
