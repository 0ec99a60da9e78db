#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 8: an upload-ready model directory with a model card.

    python -m tuss_plugin.bin.make_model_card --packed exp/x/x_valid.loss.ave.zip \
        --exp exp/x --outdir exp/x/model_card [--recipe mini_tuss] [--hf_repo user/repo]

Unpacks the ESPnet pack (``meta.yaml`` at the root, as the ESPnet model zoo and
Hugging Face expect; the zip itself is not copied, so the weights are there
once) and writes ``README.md``: what the model is, its prompts and
configuration, the scores of RESULTS.md and how to use it. The directory loads
as it is (``SeparateAudio.from_pretrained(<dir>)``), and so does a clone or
download of the Hugging Face repository it is uploaded to (recipe stage 9,
:mod:`tuss_plugin.bin.upload_hf`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path
from typing import List, Optional

import yaml

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.utils.cli import CLIError, run_main

CARD = """---
tags:
- espnet
- audio
- audio-to-audio
- source-separation
- tuss
library_name: espnet
license: cc-by-4.0
datasets:
- {recipe}
{language}---

# TUSS model: `{name}`

A Task-aware Unified Source Separation model (Saijo et al., ICASSP 2025) trained
with the `{recipe}` recipe of the TUSS toolkit (ESPnet plugin `tuss_plugin`).
Give it a mixture and a list of prompts; it returns one source per prompt.

- separator: `{separator}` ({params:,} parameters)
- sampling rate: {fs} Hz
- prompts: {prompts}
- training config: `{config}`

## How to use

```python
import soundfile as sf
from tuss_plugin.inference import SeparateAudio

sep = SeparateAudio.from_pretrained("{repo}")  # the Hugging Face repo, or a local copy of it
mix, fs = sf.read("mixture.wav")
est = sep(mix, fs=fs, prompts=["speech", "sfxbg"])  # (n_prompts, n_samples)
```

With ESPnet >= 202611:

```python
import espnet
import tuss_plugin  # registers the task "tuss" and the TUSS classes

sep = espnet.load("{repo}", task="tuss")
```

or from the command line:

```sh
tuss-separate --model {repo} --prompts speech sfxbg mixture.wav
```

ESPnet's own `SeparateSpeech` / `enh_inference` load it too (the plugin
registers itself in any interpreter of an environment it is installed in);
without an inference config they separate with the packed default prompts
({default_prompts}), or with those of `separator_conf: {{default_prompts: [...]}}`
in one:

```python
from espnet2.bin.enh_inference import SeparateSpeech

sep = SeparateSpeech.from_pretrained("{repo}")
outputs = sep(mix[None], fs=fs)  # one (1, n_samples) array per default prompt
```

### Reproduce the scores with the recipe

```sh
cd egs/{recipe}/tuss1
./run.sh --skip_data_prep false --skip_train true --download_model {repo}
```

## Training config

<details><summary>{config}</summary>

```yaml
{config_text}
```

</details>

## Results

{results}

## Citation

```bibtex
@inproceedings{{saijo2025tuss,
  author    = {{Saijo, Kohei and Ebbers, Janek and Germain, Fran\\c{{c}}ois G. and Wichern, Gordon and Le Roux, Jonathan}},
  title     = {{Task-aware Unified Source Separation}},
  booktitle = {{Proc. ICASSP}},
  year      = {{2025}}
}}

@inproceedings{{li2021espnetse,
  author    = {{Li, Chenda and Shi, Jing and Zhang, Wangyou and Subramanian, Aswin Shanmugam and Chang, Xuankai and
               Kamo, Naoyuki and Hira, Moto and Hayashi, Tomoki and Boeddeker, Christoph and Chen, Zhuo and
               Watanabe, Shinji}},
  title     = {{{{ESPnet-SE}}: End-to-End Speech Enhancement and Separation Toolkit Designed for {{ASR}} Integration}},
  booktitle = {{Proc. IEEE Spoken Language Technology Workshop (SLT)}},
  year      = {{2021}}
}}

@inproceedings{{watanabe2018espnet,
  author    = {{Watanabe, Shinji and Hori, Takaaki and Karita, Shigeki and Hayashi, Tomoki and Nishitoba, Jiro and
               Unno, Yuya and Soplin, Nelson Enrique Yalta and Heymann, Jahn and Wiesner, Matthew and Chen, Nanxin and
               Renduchintala, Adithya and Ochiai, Tsubasa}},
  title     = {{{{ESPnet}}: End-to-End Speech Processing Toolkit}},
  booktitle = {{Proc. Interspeech}},
  year      = {{2018}}
}}
```
"""


def relink_figures(results: str, card_dir: Path) -> str:
    """RESULTS.md links its figures relative to the experiment dir (``images/...``);
    in the card they lie under the packed experiment dir, so the links get its path."""
    from tuss_plugin.scoring.examples import EXAMPLES_DIR

    packed = sorted(card_dir.glob(f"**/{EXAMPLES_DIR.as_posix()}"))
    if not packed:
        return results
    prefix = packed[0].parents[len(EXAMPLES_DIR.parts) - 1].relative_to(card_dir).as_posix()
    return results.replace(f"]({EXAMPLES_DIR.parts[0]}/", f"]({prefix}/{EXAMPLES_DIR.parts[0]}/")


def config_of_pack(card_dir: Path) -> dict:
    """The config the unpacked model names in its ``meta.yaml`` ({} if none)."""
    meta = yaml.safe_load((card_dir / "meta.yaml").read_text(encoding="utf-8")) or {}
    name = (meta.get("yaml_files") or {}).get("train_config")
    path = card_dir / name if name else None
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path and path.is_file() else {}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packed", required=True, help="zip written by espnet2.bin.pack")
    p.add_argument("--exp", required=True, help="experiment dir (config.yaml, RESULTS.md)")
    p.add_argument("--outdir", required=True)
    p.add_argument("--recipe", default="unknown")
    p.add_argument(
        "--hf_repo",
        default="",
        help="the Hugging Face repo (<user>/<repo>) the card's usage lines name (default: this directory)",
    )
    return p


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("make_model_card", run, get_parser().parse_args(cmd))


def run(a: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    from tuss_plugin.inference import SeparateAudio
    from tuss_plugin.inference.unpack import safe_extract

    packed, exp, out = Path(a.packed), Path(a.exp), Path(a.outdir)
    if not zipfile.is_zipfile(packed):
        raise CLIError(f"{packed}: not a zip file")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    safe_extract(packed, out)
    sep = SeparateAudio.from_pretrained(out)  # the directory loads as it is
    config = yaml.safe_load((exp / "config.yaml").read_text())
    results = (exp / "RESULTS.md").read_text() if (exp / "RESULTS.md").exists() else "No scores yet."
    results = results.replace("# RESULTS", "").replace("<!-- Generated by tuss_plugin.bin.show_results -->", "")
    results = relink_figures(results, out)
    default_prompts = (config_of_pack(out).get("separator_conf") or {}).get("default_prompts") or []
    card = CARD.format(
        language="language:\n- en\n" if "speech" in sep.prompts else "",
        default_prompts=", ".join(f"`{x}`" for x in default_prompts) or "none packed",
        config_text=(exp / "config.yaml").read_text(encoding="utf-8").strip(),
        name=exp.name,
        recipe=a.recipe,
        separator=config.get("separator"),
        params=sum(p.numel() for p in sep.model.separator.parameters()),
        fs=sep.fs,
        prompts=", ".join(f"`{x}`" for x in sep.prompts) or "none (fixed outputs)",
        config=config.get("config") or "config.yaml",
        repo=a.hf_repo or out.name,  # without a repo: this directory, by its name
        results=results.strip(),
    )
    atomic_write_text(out / "README.md", card)
    print(f"make_model_card: wrote {out}/README.md and the unpacked model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
