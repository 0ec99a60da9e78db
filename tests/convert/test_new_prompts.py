# SPDX-License-Identifier: Apache-2.0
"""New prompts for a trained model: add_prompts, frozen fine-tuning, new categories on the fly."""

import shutil

import numpy as np
import pytest
import torch
import yaml

from tuss_plugin.bin import add_prompts, tuss_inference, tuss_train
from tuss_plugin.convert.new_prompts import vocabulary_conf
from tuss_plugin.inference import SeparateAudio
from tuss_plugin.onthefly.conf import resolve_onthefly_conf
from tuss_plugin.onthefly.prompt_sampler import PromptSampler
from tuss_plugin.prompts import PromptVocabulary
from tuss_plugin.train.finetune import restore_frozen

from conftest import TESTS
from datagen import make_data_dir, train_args

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = str(TESTS / "conf" / "tuss_tiny.yaml")
KEY = "separator.prompt_encoder.prompts.{}"
FINETUNE = {
    "optim": "adam",
    "optim_conf": {"lr": 0.05},
    "batch_type": "folded",
    "batch_size": 2,
    "keep_nbest_models": 3,
    "best_model_criterion": [["valid", "loss", "min"]],
    "num_att_plot": 0,
    "use_tensorboard": False,
    "use_matplotlib": False,
}


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _mix(seconds=0.5, seed=0):
    return np.random.default_rng(seed).standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny model trained for one epoch on the eight prompts."""
    root = tmp_path_factory.mktemp("base")
    data = make_data_dir(root / "d", [["speech", "sfxbg"]] * 2 + [["sfx", "sfx"]] * 2, seconds=0.25)
    torch.set_num_threads(1)
    tuss_train.main(train_args(data, root / "exp", TINY, epochs=1))
    return root / "exp"


def test_added_prompt_keeps_old_ids_vectors_and_outputs(base, tmp_path, capsys):
    out = tmp_path / "ext"
    rc = add_prompts.main(
        [
            "--model",
            str(base),
            "--add",
            "piano=other",
            "--add",
            "bell",
            "--exclusive",
            "piano:musicbg",
            "--alias",
            "bells=bell",
            "--outdir",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    old, new = SeparateAudio.from_pretrained(base), SeparateAudio.from_pretrained(out)
    assert new.prompts == old.prompts + ["piano", "bell"]
    for p in old.prompts:  # same ids
        assert new.vocab.encode([p]) == old.vocab.encode([p])
    s_old, s_new = _state(base / "valid.loss.ave.pth"), _state(out / "model.pth")
    assert set(s_new) - set(s_old) == {KEY.format("piano"), KEY.format("bell")}
    assert all(torch.equal(s_old[k], s_new[k]) for k in s_old)
    assert torch.equal(s_new[KEY.format("piano")], s_old[KEY.format("other")])
    assert not torch.equal(s_new[KEY.format("bell")], s_old[KEY.format("sfx")])
    mix = _mix()
    for prompts in (["speech", "sfxbg"], ["sfx", "sfx", "musicbg"], ["drums", "bass", "vocals", "other"]):
        assert np.array_equal(old(mix, 16000, prompts), new(mix, 16000, prompts))
    assert new(mix, 16000, ["speech", "bells", "piano"]).shape == (3, mix.size)
    with pytest.raises(ValueError, match="'piano' cannot be combined with 'musicbg'"):
        new.validate_prompts(["piano", "musicbg"])
    record = yaml.safe_load((out / "added_prompts.yaml").read_text())
    assert record["added"] == [{"name": "piano", "init": "other"}, {"name": "bell", "init": "random"}]


def test_added_model_runs_in_tuss_inference(base, tmp_path):
    out = tmp_path / "ext"
    assert add_prompts.main(["--model", str(base), "--add", "bell=sfx", "--outdir", str(out)]) == 0
    data = make_data_dir(tmp_path / "d", [["bell", "speech"]], seconds=0.25)
    rc = tuss_inference.main(["--model", str(out), "--data_dir", str(data), "--output_dir", str(tmp_path / "inf")])
    assert rc == 0
    assert (tmp_path / "inf" / "utt2prompts").read_text().split() == ["utt000", "bell", "speech"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--add", "speech"], "the model already has prompt 'speech'"),
        (["--add", "music_mix"], "'music_mix' is an alias of prompt 'musicbg'"),
        (["--add", "bell", "--add", "bell"], "added twice"),
        (["--add", "bell=nope"], "unknown prompt 'nope' to start from"),
        (["--add", "bell", "--exclusive", "bell:nope"], r"unknown prompt\(s\) \['nope'\]"),
        (["--add", "bell", "--exclusive", "sfx:bell"], "'sfx' is not an added prompt"),
        (["--add", "bell", "--alias", "sfx-mix=bell"], "'sfx-mix' is already a prompt or an alias"),
        (["--add", "Bell.wav"], "invalid prompt name 'Bell.wav'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(base, tmp_path, capsys, args, message):
    out = tmp_path / "ext"
    assert add_prompts.main(["--model", str(base), "--outdir", str(out)] + args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("add_prompts: error:") and "\n" not in err
    assert __import__("re").search(message, err), err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_model_without_vocabulary_is_refused(base, tmp_path, capsys):
    with pytest.raises(ValueError, match="separator 'bslocoformer' has no prompt vocabulary"):
        vocabulary_conf({"separator": "bslocoformer", "separator_conf": {"num_spk": 3}})
    model = tmp_path / "fixed"
    shutil.copytree(base, model)
    config = yaml.safe_load((model / "config.yaml").read_text())
    config["separator"], config["separator_conf"] = "bslocoformer", {"num_spk": 2}
    (model / "config.yaml").write_text(yaml.safe_dump(config))
    assert (
        add_prompts.main(
            ["--model", str(model / "valid.loss.ave.pth"), "--add", "bell", "--outdir", str(tmp_path / "o")]
        )
        == 1
    )
    assert not (tmp_path / "o").exists()
    # an existing output dir is not replaced unless asked
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep").write_text("x")
    assert add_prompts.main(["--model", str(base), "--add", "bell", "--outdir", str(tmp_path / "o")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    # --overwrite replaces only what add_prompts wrote: never a dir it did not write
    overwrite = ["--model", str(base), "--add", "bell", "--outdir", str(tmp_path / "o"), "--overwrite"]
    assert add_prompts.main(overwrite) == 1
    assert "not written by add_prompts" in capsys.readouterr().err
    (tmp_path / "o" / "keep").unlink()
    assert add_prompts.main(overwrite) == 0
    (tmp_path / "o" / "keep").write_text("x")
    assert add_prompts.main(overwrite) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith(".tuss")) == [
        "added_prompts.yaml",
        "config.yaml",
        "keep",
        "model.pth",
    ]


def test_finetune_trains_only_the_new_vector(base, tmp_path):
    """Frozen means frozen: every other tensor is bit-identical after training,
    in every model file (also ESPnet's 3-best average), with no optimizer state."""
    ft_conf = tmp_path / "ft.yaml"
    ft_conf.write_text(yaml.safe_dump(FINETUNE))
    ext = tmp_path / "ext"
    assert (
        add_prompts.main(
            [
                "--model",
                str(base),
                "--add",
                "bell=sfx",
                "--exclusive",
                "bell:sfxbg",
                "--outdir",
                str(ext),
                "--train_config",
                str(ft_conf),
            ]
        )
        == 0
    )
    train = yaml.safe_load((ext / "train.yaml").read_text())
    assert train["finetune_prompts"] == ["bell"] and train["init_param"] == [str(ext / "model.pth")]
    assert train["separator_conf"]["prompts"][-1] == "bell" and train["optim"] == "adam"
    data = make_data_dir(tmp_path / "d", [["bell", "speech"]] * 2 + [["bell", "sfx"]] * 2, seconds=0.25, seed=1)
    exp = tmp_path / "ft"
    tuss_train.main(train_args(data, exp, str(ext / "train.yaml"), epochs=3))
    before = _state(ext / "model.pth")
    bell = KEY.format("bell")
    for f in ("1epoch.pth", "3epoch.pth", "valid.loss.ave_3best.pth", "valid.loss.ave.pth"):
        after = _state(exp / f)
        assert not torch.equal(after[bell], before[bell]), f
        changed = [k for k in before if k != bell and not torch.equal(after[k], before[k])]
        assert changed == [], (f, changed[:3])
    optim = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["optimizers"][0]
    assert len(optim["param_groups"][0]["params"]) == 1 and len(optim["state"]) == 1
    old, new = SeparateAudio.from_pretrained(base), SeparateAudio.from_pretrained(exp)
    mix = _mix(seed=3)
    for prompts in (["speech", "sfxbg"], ["sfx", "sfx"], ["speech", "sfx", "musicbg"]):
        assert np.array_equal(old(mix, 16000, prompts), new(mix, 16000, prompts))


def test_finetune_modules_train_the_named_module_too(base, tmp_path):
    ft = dict(FINETUNE, keep_nbest_models=1, finetune_modules=["separator.cond_tse"])
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump(ft))
    ext = tmp_path / "ext"
    assert (
        add_prompts.main(
            ["--model", str(base), "--add", "bell", "--outdir", str(ext), "--train_config", str(tmp_path / "ft.yaml")]
        )
        == 0
    )
    data = make_data_dir(tmp_path / "d", [["bell", "speech"]] * 2, seconds=0.25, seed=2)
    tuss_train.main(train_args(data, tmp_path / "ft", str(ext / "train.yaml"), epochs=1))
    before, after = _state(ext / "model.pth"), _state(tmp_path / "ft" / "1epoch.pth")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert KEY.format("bell") in changed and any(k.startswith("separator.cond_tse.") for k in changed)
    assert all(k == KEY.format("bell") or k.startswith("separator.cond_tse.") for k in changed)


def test_finetune_options_are_checked(base, tmp_path):
    data = make_data_dir(tmp_path / "d", [["speech", "sfxbg"]] * 2, seconds=0.25)
    for extra, message in (
        (["--finetune_prompts", "nope"], "unknown prompt 'nope'"),
        (["--finetune_modules", "separator.nothing"], "no parameter of the model starts with it"),
    ):
        with pytest.raises(ValueError, match=message):
            tuss_train.main(train_args(data, tmp_path / "x", TINY, extra=extra))
    ft = tmp_path / "ft.yaml"
    ft.write_text(yaml.safe_dump({"separator_conf": {"emb_dim": 8}}))
    assert (
        add_prompts.main(
            ["--model", str(base), "--add", "bell", "--outdir", str(tmp_path / "o"), "--train_config", str(ft)]
        )
        == 1
    )
    assert not (tmp_path / "o").exists()


def test_restore_frozen_undoes_averaging_round_off(tmp_path):
    model = torch.nn.Linear(3, 1)
    model.weight.requires_grad_(False)
    x = model.weight.detach().clone()
    state = {"weight": (x + x + x) / 3 + 1e-7, "bias": model.bias.detach() + 1}
    torch.save(state, tmp_path / "valid.loss.ave_3best.pth")
    assert restore_frozen(tmp_path, model) == [tmp_path / "valid.loss.ave_3best.pth"]
    fixed = _state(tmp_path / "valid.loss.ave_3best.pth")
    assert torch.equal(fixed["weight"], x) and torch.equal(fixed["bias"], state["bias"])
    assert restore_frozen(tmp_path, model) == []


def test_onthefly_new_category_with_transitions_and_exclusions():
    others = ["speech", "sfx", "sfxbg", "musicbg"]
    conf = resolve_onthefly_conf(
        {
            "pools": ["p"],
            "new_prompts": {
                "bell": {
                    "init_prob": 1.0,
                    "next": dict.fromkeys(others, 1.0),
                    "num_appear": 1,
                    "gain": [-10, 0],
                    "exclusive": ["sfxbg"],
                    "incoming": {"speech": 0.5},
                }
            },
            "prompt_overrides": {p: {"init_prob": 0.0} for p in others},
            "allowed_prompts": ["bell"] + others,
        }
    )
    table = conf["prompts"]
    assert table["bell"]["gain"] == [-10, 0] and table["speech"]["next"]["bell"] == 0.5
    vocab = PromptVocabulary(list(table), exclusive={"bell": ["musicbg"], "sfxbg": ["sfx"]})
    sampler = PromptSampler(table, {3: 1.0}, vocab.exclusive_rules())
    rng = np.random.default_rng(0)
    lists = [sampler.sample(3, rng) for _ in range(200)]
    assert all(pr[0] == "bell" and pr.count("bell") == 1 for pr in lists)
    assert not any({"sfxbg", "musicbg"} & set(pr) for pr in lists)  # table and vocabulary exclusions
    for bad, message in (
        ({"speech": {}}, "already in the prompt table"),
        ({"bell": {"gian": [0, 0]}}, r"unknown setting\(s\) \['gian'\]"),
        ({"bell": {"incoming": {"nope": 1}}}, r"incoming names unknown prompts \['nope'\]"),
        ({"b.ell": {}}, "invalid prompt name"),
    ):
        with pytest.raises(ValueError, match=message):
            resolve_onthefly_conf({"pools": ["p"], "new_prompts": bad})


def test_finetune_on_the_fly_with_a_new_category(base, tmp_path):
    """Pools with a category beyond the eight; mixtures draw it with the old ones."""
    from datagen import make_pool

    pool = make_pool(tmp_path / "pool", [(p, 16000, 1.0, 1) for p in ("bell", "speech", "sfx") for _ in range(3)])
    ft = dict(
        FINETUNE,
        keep_nbest_models=1,
        train_data_source="onthefly",
        onthefly_conf={
            "pools": [str(pool)],
            "chunk_seconds": 0.5,
            "steps_per_epoch": 3,
            "batch_size": 2,
            "num_prompts_weights": {2: 1.0},
            "prompt_overrides": {p: {"init_prob": 0.0} for p in ("speech", "sfx")},
            "allowed_prompts": ["bell", "speech", "sfx"],
            "new_prompts": {
                "bell": {"init_prob": 1.0, "next": {"speech": 1.0, "sfx": 1.0}, "num_appear": 1, "gain": [-10, 0]}
            },
        },
    )
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump(ft))
    ext = tmp_path / "ext"
    assert (
        add_prompts.main(
            [
                "--model",
                str(base),
                "--add",
                "bell=sfx",
                "--outdir",
                str(ext),
                "--train_config",
                str(tmp_path / "ft.yaml"),
            ]
        )
        == 0
    )
    valid = make_data_dir(tmp_path / "v", [["bell", "speech"]] * 2, seconds=0.25, seed=4)
    args = train_args(valid, tmp_path / "ft", str(ext / "train.yaml"), epochs=1)
    i = args.index("--train_data_path_and_name_and_type")  # no training lists on the fly
    args = args[:i] + args[i + 8 :]
    tuss_train.main(args)
    before, after = _state(ext / "model.pth"), _state(tmp_path / "ft" / "1epoch.pth")
    assert [k for k in before if not torch.equal(before[k], after[k])] == [KEY.format("bell")]
