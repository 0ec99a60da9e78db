# SPDX-License-Identifier: Apache-2.0
"""Report which dependencies of tuss_plugin are importable ([x]) or not ([ ])."""
import argparse
import importlib
import sys

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
    ("tuss_plugin", "tuss_plugin"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brief", action="store_true", help="one summary line")
    args = parser.parse_args()
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

        print(f"python {py}, torch {torch.__version__}, " + (
            "all dependencies present" if not missing else f"missing: {missing}"))
    else:
        print(f"python {py} ({sys.executable})")
        print("\n".join(lines))
    if missing:
        print("run: make -C tools   (tools/install.sh)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
