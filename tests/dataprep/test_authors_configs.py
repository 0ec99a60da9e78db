# SPDX-License-Identifier: Apache-2.0
"""Configs and lists in the authors' settings: DnR prompt order, AdamW eps of Large."""

from pathlib import Path

import yaml

from tuss_plugin.dataprep.eval_sets import dnr

ROOT = Path(__file__).resolve().parents[2]


def test_dnr_order_is_the_authors():
    """DnR prompts in the authors' order (their data preparation: speech, music, sfx), one owner:
    the configs' prompt and output-slot lists equal tuss_plugin.dataprep.eval_sets.dnr.PROMPTS."""
    assert dnr.PROMPTS == ["speech", "musicbg", "sfxbg"]
    assert dnr.FILES == ["speech.wav", "music.wav", "sfx.wav"]
    conf = ROOT / "egs" / "dnr" / "tuss1" / "conf" / "tuning"
    tuss = yaml.safe_load((conf / "train_tuss_medium.yaml").read_text())
    conventional = yaml.safe_load((conf / "train_bslocoformer_medium.yaml").read_text())
    assert tuss["separator_conf"]["prompts"] == dnr.PROMPTS
    assert conventional["separator_conf"]["output_prompts"] == dnr.PROMPTS


def test_large_configs_use_the_authors_adamw_eps():
    """AdamW eps 1e-4 for TUSS Large (the authors' release), in the top-level config and the recipe's."""
    root = ROOT
    for path in (
        root / "conf" / "tuss_large.yaml",
        root / "egs" / "unified" / "tuss1" / "conf" / "tuning" / "train_tuss_large.yaml",
        root / "egs" / "unified" / "tuss1" / "conf" / "tuning" / "finetune_tuss_large_promptdropout.yaml",
    ):
        conf = yaml.safe_load(path.read_text())
        assert conf["optim"] == "adamw" and float(conf["optim_conf"]["eps"]) == 1.0e-4, path


def test_unified_configs_name_their_paper_rows():
    """The unified recipe's configs say which Table III row they reproduce (paper_row, a TUSSTask
    option saved in config.yaml), so RESULTS.md shows their difference from it."""
    from tuss_plugin.tasks.tuss import TUSSTask

    conf = ROOT / "egs" / "unified" / "tuss1" / "conf" / "tuning"
    rows = {
        "train_tuss_medium": "M5",
        "train_bslocoformer_medium": "M4",
        "train_tuss_large": "L5",
        "finetune_tuss_large_promptdropout": "L6",
    }
    for name, label in rows.items():
        args = TUSSTask.get_parser().parse_args(["--config", str(conf / f"{name}.yaml")])
        assert args.paper_row == label, name
