# SPDX-License-Identifier: Apache-2.0
# Corpus roots. An environment variable of the same name overrides each one,
# e.g. `MUSDB18HQ=/data/musdb18hq ./run.sh`. Each points at the directory the
# corpus unpacks into (see each recipe's README for what it must contain).
VCTK_DEMAND=${VCTK_DEMAND:-downloads/vctk_demand}
WHAM=${WHAM:-downloads/wham}
WSJ0=${WSJ0:-}
FUSS=${FUSS:-downloads/fuss}
MUSDB18HQ=${MUSDB18HQ:-downloads/musdb18hq}
DNR=${DNR:-downloads/dnr}
VCTK=${VCTK:-downloads/vctk}
DEMAND=${DEMAND:-downloads/demand}
FSD50K=${FSD50K:-downloads/fsd50k}
MOISESDB=${MOISESDB:-downloads/moisesdb}
FMA=${FMA:-downloads/fma}
LIBRIVOX_URGENT=${LIBRIVOX_URGENT:-downloads/librivox_urgent}
WHAM_NOISE=${WHAM_NOISE:-downloads/wham_noise}
# the embedded corpus (rendered offline from real sounds) needs no download
MINI_TUSS=${MINI_TUSS:-data/mini_tuss_audio}
