#!/usr/bin/env bash
# Run "ansible-test sanity" on the hna.cloudos collection, with every sanity test and no ignore file.
#
# Usage: tools/collection-sanity.sh [extra ansible-test sanity arguments, e.g. --test pep8]
# Environment: PYTHON_VERSION (default 3.11) is the Python version ansible-test tests with.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
collection_root="${repo_root}/collections/ansible_collections/hna/cloudos"
python_version="${PYTHON_VERSION:-3.11}"

if [[ -x "${repo_root}/.venv/bin/ansible-test" ]]; then
    export PATH="${repo_root}/.venv/bin:${PATH}"
fi
command -v ansible-test >/dev/null || { echo "ansible-test not found: install ansible-core." >&2; exit 1; }

"${repo_root}/tools/ansible-test-prep.sh" "$(command -v python3)"

cd "${collection_root}"
start=$(date +%s)
status=0
ansible-test sanity --requirements --python "${python_version}" --color no "$@" || status=$?
echo "ansible-test sanity finished with exit code ${status} in $(( $(date +%s) - start )) s"
exit "${status}"
