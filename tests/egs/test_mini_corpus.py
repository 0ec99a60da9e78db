# SPDX-License-Identifier: Apache-2.0
"""The embedded mini corpus (egs/mini_tuss/tuss1/local): real sounds rendered
offline, the same bits on every machine, disjoint speakers, the paper's patterns."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.fileio.kaldi_io import read_dict, read_scp

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "mini_tuss" / "tuss1"
LOCAL = RECIPE / "local"

# md5 of the float samples of a few files of a 1-s, 1-mixture-per-task corpus
# (python local/synthesize.py --num_train 1 --num_dev 1 --num_test 1 --seconds 1.0);
# a change of the generators changes them on purpose: update them then.
CHECKSUMS = {
    "test/se_test_0000_s1.wav": "84b9348e9717470978afa638fa42bf3c",
    "test/ss_test_0000_mix.wav": "f403bc8cc13dd458e7a861c2e73b13c8",
    "test/uss_test_0000_s1.wav": "aafc8a603a9dcd5cc1e913a40c2ccf31",
    "test/mss_test_0000_s1.wav": "8fe5f7110a4f8f1fba29d336c3e4af0f",
    "test/mss_test_0000_s3.wav": "52f7f67ec114655cb1d3f813a9d021b0",
    "test/cass_test_0000_s2.wav": "6a22ef0a2bd3551be4250bd319604f2e",
    "test/cass_test_0000_s3.wav": "71f5d629b03046c57c4c77ea8d1354f3",
    "train_bell/bell_speech_train_bell_0000_s1.wav": "9952cc7b3aaa3bc1433258f8f754b6d8",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini_corpus")
    common = ["--data_dir", str(root / "data"), "--audio_dir", str(root / "audio"), "--seconds", "1.0"]
    sets = ["--num_train", "1", "--num_dev", "1", "--num_test", "1"]
    for extra in ([], ["--new_category", "bell"]):
        subprocess.run(
            [sys.executable, str(LOCAL / "synthesize.py"), *common, *sets, *extra], check=True, capture_output=True
        )
    return root


def _md5(path: Path) -> str:
    x, _ = sf.read(path, dtype="float32")
    return hashlib.md5(x.tobytes()).hexdigest()


def test_same_bits_on_every_machine(corpus):
    got = {name: _md5(corpus / "audio" / name) for name in CHECKSUMS}
    assert got == CHECKSUMS


def test_a_set_does_not_depend_on_the_size_of_another(corpus, tmp_path):
    """Every mixture has its own seed and every speech source its own eSpeak state,
    so more training mixtures leave the test set as it is."""
    args = ["--data_dir", str(tmp_path / "data"), "--audio_dir", str(tmp_path / "audio"), "--seconds", "1.0"]
    args += ["--num_train", "3", "--num_dev", "0", "--num_test", "1", "--tasks", "se", "cass"]
    subprocess.run([sys.executable, str(LOCAL / "synthesize.py"), *args], check=True, capture_output=True)
    for name in ("test/se_test_0000_s1.wav", "test/cass_test_0000_s2.wav"):
        assert _md5(tmp_path / "audio" / name) == CHECKSUMS[name]


def test_more_uss_training_mixtures_extend_the_others(corpus, tmp_path):
    """--num_train_uss sets the USS pattern's training mixtures alone: the first
    ones are those of the default corpus, the other tasks and sets keep their counts."""
    args = ["--data_dir", str(tmp_path / "data"), "--audio_dir", str(tmp_path / "audio"), "--seconds", "1.0"]
    args += ["--num_train", "1", "--num_train_uss", "3", "--num_dev", "1", "--num_test", "0"]
    subprocess.run([sys.executable, str(LOCAL / "synthesize.py"), *args], check=True, capture_output=True)
    train = sorted(read_dict(tmp_path / "data" / "train" / "utt2prompts"))
    uss = ["uss_train_0000", "uss_train_0001", "uss_train_0002"]
    assert train == sorted(["se_train_0000", "ss_train_0000", "mss_train_0000", "cass_train_0000", *uss])
    assert sorted(read_dict(tmp_path / "data" / "train_uss" / "utt2prompts")) == uss
    assert len(read_dict(tmp_path / "data" / "dev" / "utt2prompts")) == 5
    for name in ("train/uss_train_0000_s1.wav", "train/ss_train_0000_mix.wav"):
        assert _md5(tmp_path / "audio" / name) == _md5(corpus / "audio" / name)


def test_patterns_lists_and_sources_sum_to_the_mixture(corpus):
    data = corpus / "data" / "test"
    prompts = read_dict(data / "utt2prompts")
    assert {u.split("_")[0]: p for u, p in prompts.items() if not u.startswith("uss")} == {
        "se": ["speech", "sfxbg"],
        "ss": ["speech", "speech", "sfxbg"],
        "mss": ["drums", "bass", "vocals", "other"],
        "cass": ["speech", "sfxbg", "musicbg"],
    }
    assert set(prompts["uss_test_0000"]) == {"sfx"} and len(prompts["uss_test_0000"]) in (2, 3)
    mixes = read_scp(data / "wav.scp")
    for utt, ps in prompts.items():
        mix, fs = sf.read(mixes[utt])
        assert fs == 16000 and len(mix) == 16000
        refs = [sf.read(read_scp(data / f"spk{k}.scp")[utt])[0] for k in range(1, len(ps) + 1)]
        for p, r in zip(ps, refs):
            assert np.sqrt(np.mean(r**2)) > 1e-3, (utt, p)  # every source sounds
        np.testing.assert_allclose(np.sum(refs, axis=0), mix, atol=1e-6)
    # the per-task subsets of the specialists
    assert read_dict(corpus / "data" / "test_mss" / "utt2prompts") == {"mss_test_0000": prompts["mss_test_0000"]}


def test_speakers_of_the_sets_are_disjoint():
    sys.path.insert(0, str(LOCAL))
    try:
        import voices
    finally:
        sys.path.remove(str(LOCAL))
    sets = voices.speakers()
    ids = {name: {s.id for s in spk} for name, spk in sets.items()}
    assert min(len(v) for v in ids.values()) >= 20
    assert not (ids["train"] & ids["dev"]) and not (ids["train"] & ids["test"]) and not (ids["dev"] & ids["test"])
    rng = np.random.default_rng(0)
    text = voices.sentence(rng)
    assert text[0].isupper() and text.rstrip()[-1] in ".?"


def test_two_talkers_of_a_mixture_differ(tmp_path):
    sys.path.insert(0, str(LOCAL))
    try:
        import synthesize
        import voices
    finally:
        sys.path.remove(str(LOCAL))
    pool = voices.speakers()["test"]
    picked = []
    orig = synthesize.sources.speech
    synthesize.sources.speech = lambda rng, n, fs, speaker: picked.append(speaker) or np.ones(n)
    try:
        for i in range(20):
            picked.clear()
            synthesize.make_mixture("ss", np.random.default_rng(i), 800, 16000, pool)
            assert len(picked) == 2 and picked[0] != picked[1]
    finally:
        synthesize.sources.speech = orig
