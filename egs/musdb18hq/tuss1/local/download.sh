#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Download MUSDB18-HQ (musdb18hq.zip, Zenodo 3338373; access is granted on the
# Zenodo page for research use) into DIR, which then holds train/ and test/.
# Skipped when both exist; no checksum is checked.
#
#   local/download.sh DIR     (DIR = $MUSDB18HQ)
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "Usage: $0 <dir>" >&2
    exit 1
fi
dir=$1
if [ -d "${dir}/train" ] && [ -d "${dir}/test" ]; then
    echo "$0: ${dir}/train and ${dir}/test already present, not downloaded"
    exit 0
fi
mkdir -p "${dir}"
archive=${dir}/musdb18hq.zip
if [ ! -f "${archive}" ]; then
    wget -c -O "${archive}.part" "https://zenodo.org/records/3338373/files/musdb18hq.zip?download=1"
    mv "${archive}.part" "${archive}"
fi
tmp=${dir}/.unpack_musdb18hq
rm -rf "${tmp}"
unzip -q "${archive}" -d "${tmp}"
for split in train test; do
    rm -rf "${dir:?}/${split}"
    mv "${tmp}/${split}" "${dir}/${split}"
done
rm -rf "${tmp}" "${archive}"
echo "$0: ${dir}/train and ${dir}/test ready"
