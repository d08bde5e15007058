#!/usr/bin/env bash
# Every test of the project, stage by stage; each stage's time is printed, and a summary at the end.
# A failing stage does not stop the others, so one run shows everything that is wrong.
# Pick stages with STAGES="unit lint" tools/run-tests.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_ROLES_PATH="$PWD/roles" ANSIBLE_NOCOLOR=1
STAGES="${STAGES:-unit sanity lint collection molecule lab}"

declare -A secs result
passed=0; failed=0
for stage in $STAGES; do
    echo
    echo "==================== stage: $stage ===================="
    start=$(date +%s)
    case "$stage" in
        unit)       pytest -q -p no:cacheprovider tests/unit collections/ansible_collections/hna/cloudos/tests/unit ;;
        sanity)     tools/collection-sanity.sh ;;
        lint)       ansible-lint --offline --profile production \
                    && git ls-files -z '*.sh' .ci/run lab/images/node/lab-node-init | xargs -0 shellcheck ;;
        collection) pytest -q -p no:cacheprovider tests/collection \
                    && (cd collections/ansible_collections/hna/cloudos \
                        && ansible-test integration --local --python 3.11 --color no) ;;
        molecule)   python lab/lab.py build \
                    && molecule test -s docker_host && molecule test -s registry ;;
        lab)        tools/test-lab.sh ;;
        *)          echo "unknown stage $stage"; false ;;
    esac
    rc=$?
    secs[$stage]=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then result[$stage]=passed; passed=$((passed + 1))
    else result[$stage]="FAILED (exit $rc)"; failed=$((failed + 1)); fi
    echo "== stage $stage: ${result[$stage]} in ${secs[$stage]}s"
done

echo
echo "==================== summary ===================="
total=0
for stage in $STAGES; do
    printf '%-12s %6ss  %s\n' "$stage" "${secs[$stage]}" "${result[$stage]}"
    total=$(( total + secs[$stage] ))
done
printf '%-12s %6ss\n' "total" "$total"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
