# SPDX-License-Identifier: Apache-2.0
# Environment of a recipe: sourced by run.sh / tuss.sh from egs/<corpus>/tuss1.
# the repository root, found from this file's real location (recipes link to it)
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
export MAIN_ROOT
if [ -f "${MAIN_ROOT}/tools/venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "${MAIN_ROOT}/tools/venv/bin/activate"
else
    echo "path.sh: ${MAIN_ROOT}/tools/venv not found; run: make -C ${MAIN_ROOT}/tools" >&2
    return 1 2>/dev/null || exit 1
fi
export PATH="${MAIN_ROOT}/utils:${PATH}"
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
# parallel jobs get their thread count from the job runner (--num-threads)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# shellcheck disable=SC1091
[ -f local/path.sh ] && . local/path.sh
true
