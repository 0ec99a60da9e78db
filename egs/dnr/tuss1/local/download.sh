#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Download Divide and Remaster v2 (Zenodo 6949108: dnr_v2.tar.gz.00 ... .10,
# one archive split in 11 parts) into DIR, which then holds tr/ cv/ tt/ (the
# archive's dnr_v2/ folder). Skipped when the three splits exist; no checksum
# is checked. The parts are kept until the archive unpacks.
#
#   local/download.sh DIR     (DIR = $DNR)
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "Usage: $0 <dir>" >&2
    exit 1
fi
dir=$1
if [ -d "${dir}/tr" ] && [ -d "${dir}/cv" ] && [ -d "${dir}/tt" ]; then
    echo "$0: ${dir}/{tr,cv,tt} already present, not downloaded"
    exit 0
fi
mkdir -p "${dir}/.parts"
for i in $(seq -w 0 10); do
    part=${dir}/.parts/dnr_v2.tar.gz.${i}
    [ -f "${part}" ] && continue
    wget -c -O "${part}.part" "https://zenodo.org/records/6949108/files/dnr_v2.tar.gz.${i}?download=1"
    mv "${part}.part" "${part}"
done
tmp=${dir}/.unpack_dnr_v2
rm -rf "${tmp}"
mkdir -p "${tmp}"
cat "${dir}"/.parts/dnr_v2.tar.gz.* | tar -xz -C "${tmp}"
src=${tmp}
[ -d "${tmp}/dnr_v2" ] && src=${tmp}/dnr_v2
for split in tr cv tt; do
    rm -rf "${dir:?}/${split}"
    mv "${src}/${split}" "${dir}/${split}"
done
rm -rf "${tmp}" "${dir}/.parts"
echo "$0: ${dir}/{tr,cv,tt} ready"
