#!/usr/bin/env bash
# Fails, with a diff, when generated code or the CRD is stale: it regenerates
# into a temporary copy of the repository and compares.
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

# Copy the tracked and untracked-but-not-ignored files, without .git or state.
# Files deleted from the work tree but still tracked are skipped; the
# generator recreates what it owns.
(cd "${REPO_ROOT}" && git ls-files -z --cached --others --exclude-standard) |
    while IFS= read -r -d '' f; do
        [[ -e "${REPO_ROOT}/${f}" ]] && printf '%s\0' "${f}"
    done |
    (cd "${REPO_ROOT}" && xargs -0 cp --parents -t "${tmp}")

OUTPUT_ROOT="${tmp}" "${REPO_ROOT}/hack/update-codegen.sh"

status=0
for path in pkg/apis pkg/generated artifacts/examples/crd.yaml; do
    if ! diff -Naupr "${REPO_ROOT}/${path}" "${tmp}/${path}"; then
        status=1
    fi
done
if [[ ${status} -ne 0 ]]; then
    echo "Generated code is out of date: run hack/update-codegen.sh and commit the result." >&2
    exit 1
fi
echo "Generated code is up to date."
