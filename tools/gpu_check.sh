#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# GPU check (a few minutes): the equivalence test on the GPU, then the Medium
# model's inference and training-step benchmarks in fp32 and bf16, one JSON
# line each (with the matmul reference of the same run).
#
#   tools/gpu_check.sh [--device cuda] [--seconds 6]
#
# Run from anywhere; it uses tools/venv (TUSS_VENV to choose another).
set -euo pipefail

device=cuda
seconds=6
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
py=${TUSS_VENV:-${root}/tools/venv}/bin/python
cd "${root}"
"${py}" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
"${py}" -c "import torch; print('# device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

echo "# equivalence test on ${device} (float32, TF32 off)"
TUSS_TEST_DEVICE=${device} "${py}" -m pytest -q -p no:cacheprovider tests/separator/test_equivalence.py

echo "# benchmarks: Medium, ${seconds} s at 48 kHz, prompts speech sfxbg musicbg"
for mode in infer train; do
    for precision in fp32 bf16; do
        opt=()
        [ "${precision}" = bf16 ] && opt=(--bf16)
        "${py}" -m tuss_plugin.bin.benchmark --config conf/tuss_medium.yaml --mode "${mode}" \
            --seconds "${seconds}" --device "${device}" --runs 5 --warmup 2 "${opt[@]}" \
            --prompts speech sfxbg musicbg
    done
done
