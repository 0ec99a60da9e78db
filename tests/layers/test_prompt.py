# SPDX-License-Identifier: Apache-2.0
import pytest
import torch

from tuss_plugin.layers.prompt import PromptEncoder
from tuss_plugin.prompts import DEFAULT_PROMPTS, PromptVocabulary


def test_default_vocabulary_ids():
    v = PromptVocabulary()
    assert v.names == list(DEFAULT_PROMPTS)
    assert v.encode(["speech", "musicbg"]) == [1, 8]
    assert v.decode([1, 8]) == ["speech", "musicbg"]


@pytest.mark.parametrize(
    "alias,name",
    [
        ("sfx-mix", "sfxbg"),
        ("music-mix", "musicbg"),
        ("other inst.", "other"),
        (" Speech ", "speech"),
        ("DRUMS", "drums"),
    ],
)
def test_aliases_and_case(alias, name):
    assert PromptVocabulary().validate([alias]) == [name]


@pytest.mark.parametrize(
    "prompts,match",
    [
        (["speach"], "unknown prompt 'speach'.*speech, sfx, sfxbg"),
        ([], "empty prompt list"),
        (["sfx", "sfxbg"], "'sfxbg' cannot be combined with 'sfx'|'sfx' cannot be combined with 'sfxbg'"),
        (["musicbg", "bass"], "cannot be combined"),
        (["drums", "music-mix"], "cannot be combined"),
        (["vocals", "musicbg", "speech"], "cannot be combined"),
    ],
)
def test_invalid_lists(prompts, match):
    with pytest.raises(ValueError, match=match):
        PromptVocabulary().validate(prompts)


@pytest.mark.parametrize(
    "prompts",
    [
        ["speech"] * 4,
        ["sfx", "sfx", "sfx"],
        ["speech", "sfxbg", "musicbg"],
        ["drums", "bass", "vocals", "other"],
        ["sfx", "drums"],
        ["musicbg", "sfx"],
    ],
)
def test_valid_lists(prompts):
    assert PromptVocabulary().validate(prompts) == prompts


def test_extended_vocabulary():
    v = PromptVocabulary(
        list(DEFAULT_PROMPTS) + ["birds"], aliases={"bird": "birds"}, exclusive={"sfxbg": ["sfx", "birds"]}
    )
    assert v.encode(["bird", "speech"]) == [9, 1]
    with pytest.raises(ValueError, match="cannot be combined"):
        v.validate(["birds", "sfxbg"])


def test_vocabulary_rejects_bad_names():
    with pytest.raises(ValueError):
        PromptVocabulary(["speech", "speech"])
    with pytest.raises(ValueError):
        PromptVocabulary(["a.b"])
    with pytest.raises(ValueError):
        PromptVocabulary(["speech"], aliases={"talk": "talking"})


def test_encoder_ids_and_vectors():
    enc = PromptEncoder(4)
    ids = enc.to_ids(["speech", "sfx"], batch_size=3)
    assert ids.shape == (3, 2) and ids.tolist()[0] == [1, 2]
    vecs = enc(ids)
    assert vecs.shape == (3, 2, 4)
    assert torch.equal(vecs[0, 0], enc.prompts["speech"])
    per_item = enc.to_ids([["speech", "sfx"], ["drums", "bass"]], batch_size=2)
    assert per_item.tolist() == [[1, 2], [4, 5]]
    with pytest.raises(ValueError, match="same number of prompts"):
        enc.to_ids([["speech"], ["drums", "bass"]], batch_size=2)
    with pytest.raises(ValueError):
        enc.to_ids(torch.tensor([[0, 1]]), batch_size=1)
    with pytest.raises(ValueError, match="cannot be combined"):
        enc.to_ids(torch.tensor([[2, 3]]), batch_size=1)
