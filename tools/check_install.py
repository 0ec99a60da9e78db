# SPDX-License-Identifier: Apache-2.0
"""Report which dependencies of tuss_plugin are importable ([x]) or not ([ ]).

``--matrix`` prints the supported stacks of tools/stacks.txt instead (needs
nothing but the standard library).
"""

import argparse
import importlib
import sys
from pathlib import Path

STACKS = Path(__file__).resolve().parent / "stacks.txt"

MODULES = [
    ("torch", "torch"),
    ("torchaudio", "torchaudio"),
    ("espnet2", "espnet"),
    ("kaldiio", "kaldiio"),
    ("soundfile", "soundfile"),
    ("soxr", "soxr"),
    ("yaml", "pyyaml"),
    ("tqdm", "tqdm"),
    ("matplotlib", "matplotlib"),
    ("fast_bss_eval", "fast-bss-eval"),
    ("mir_eval", "mir_eval"),
    ("pystoi", "pystoi"),
    ("espnet_model_zoo", "espnet_model_zoo"),
    ("pytest", "pytest"),
    ("pretty_midi", "pretty_midi"),
    ("tinysoundfont", "tinysoundfont"),
    ("espeakng_loader", "espeakng-loader"),
    ("onnx", "onnx"),
    ("onnxscript", "onnxscript"),
    ("onnxruntime", "onnxruntime"),
    ("tuss_plugin", "tuss_plugin"),
]


def print_matrix() -> None:
    """The supported stacks as a table (Python, ESPnet, torch, torchaudio, where)."""
    rows = []
    for line in STACKS.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if not f or f[0].startswith("#") or len(f) < 7:
            continue
        ver = lambda spec: spec.split("==", 1)[1]  # noqa: E731 - "espnet==202611" -> "202611"
        py = f[0] if not f[0].endswith("+") else ">= " + f[0][:-1]
        rows.append((py, ver(f[1]), ver(f[2]), ver(f[3]), " ".join(f[7:])))
    head = ("Python", "ESPnet", "torch", "torchaudio", "make target / environment")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    print("supported stacks:")
    for r in [head] + rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brief", action="store_true", help="one summary line")
    parser.add_argument("--matrix", action="store_true", help="print the supported stacks and exit")
    args = parser.parse_args()
    if args.matrix:
        print_matrix()
        return 0
    missing = []
    lines = []
    for mod, pkg in MODULES:
        try:
            m = importlib.import_module(mod)
            ver = getattr(m, "__version__", "")
            if mod == "espnet2":
                from importlib.metadata import version

                ver = version("espnet")
            lines.append(f"[x] {pkg} {ver}")
        except Exception as e:  # noqa: BLE001 - report any import failure
            missing.append(pkg)
            lines.append(f"[ ] {pkg} ({type(e).__name__}: {e})")
    py = "%d.%d.%d" % sys.version_info[:3]
    if args.brief:
        import torch

        print(
            f"python {py}, torch {torch.__version__}, "
            + ("all dependencies present" if not missing else f"missing: {missing}")
        )
    else:
        print(f"python {py} ({sys.executable})")
        print("\n".join(lines))
    if missing:
        print("run: make -C tools   (tools/install.sh)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
