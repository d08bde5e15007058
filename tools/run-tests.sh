#!/usr/bin/env bash
# Every test of the project, stage by stage; each stage's time is printed, and a summary at the end.
# A failing stage does not stop the others, so one run shows everything that is wrong.
#
# The stages run on parallel tracks (most of the time goes to waiting on the Docker engine, the lab's
# nodes and their package downloads, not to the processor): the stages of one track run one after the
# other, the tracks side by side. Each track writes its log to .test-logs/<track>.log; a line is printed
# when a stage starts and ends, and each track's log is printed when everything has finished (the
# failed tracks' logs last, in full).
#
#   tools/run-tests.sh                               every stage, on the default tracks
#   STAGES="unit lint" tools/run-tests.sh            these stages, one after the other
#   TRACKS="unit,lint collection-a" tools/run-tests.sh   these tracks (stages joined by commas)
#
# Stages: unit, sanity, lint, collection-a and collection-b (the collection's integration targets in two
# halves; "collection" runs both in turn), lab (the lab end to end: build, up, main job twice, tests on
# the nodes), local (the application images and the load balancers on this machine's engine, from the
# lab's images), molecule (every role scenario under molecule/, side by side, each on a spare node of the
# lab of its own: it brings the lab's nodes up first, and runs beside the lab stage's tests).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH="$ROOT/${VENV:-.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_ROLES_PATH="$ROOT/roles" ANSIBLE_NOCOLOR=1
COLLECTION=collections/ansible_collections/hna/cloudos
LOGS="$ROOT/.test-logs"
mkdir -p "$LOGS"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/hna-cloudos-tests.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

if [ -n "${STAGES:-}" ]; then
    TRACKS="$(echo "$STAGES" | tr -s ' ' ',')"
fi
TRACKS="${TRACKS:-unit,sanity,lint,collection-a,local collection-b,molecule lab}"

# The integration targets of the first half; the second half is every other target.
COLLECTION_A_TARGETS="container container_info docker_host_info"

integration_targets() {  # the integration targets of half "a" or "b"
    local target all
    all=$(cd "$ROOT/$COLLECTION/tests/integration/targets" && for t in *; do
        [ -f "$t/aliases" ] && ! grep -qx 'hidden\|disabled\|unsupported' "$t/aliases" && echo "$t"; done)
    for target in $all; do
        case " $COLLECTION_A_TARGETS " in
            *" $target "*) [ "$1" = a ] && echo "$target" ;;
            *) [ "$1" = b ] && echo "$target" ;;
        esac
    done
}

collection_half() {  # run the integration targets of half $1 in a copy of the collection of its own
    local half=$1 dir targets
    targets=$(integration_targets "$half")
    if [ -z "$targets" ]; then echo "no integration targets in half $half"; return 1; fi
    # Two ansible-test runs must not share tests/output: each half runs in a copy of its own, outside the
    # git work tree (ansible-test would otherwise list only the files git tracks there: none).
    dir="$SCRATCH/collection-$half/ansible_collections/hna/cloudos"
    mkdir -p "$dir"
    tar -C "$COLLECTION" --exclude=./tests/output -c . | tar -C "$dir" -x
    # shellcheck disable=SC2086 # one word per target
    (cd "$dir" && ansible-test integration --local --python 3.11 --color no $targets)
}

molecule_scenarios() {  # every scenario at once, each on a spare node of the lab (group lab_spare) of its own
    local scenario pids=() names=() results=() rc=0 i
    # The nodes (the lab stage brought them up long before, in the default tracks: then this changes nothing).
    python lab/lab.py up || return 1
    # Their package lists, one node after the other: apt-cacher-ng fails requests for an index that several
    # hosts refresh in the same second, and apt can then wait forever on the connection it closed.
    ansible -i inventories/lab lab_spare --forks 1 -m ansible.builtin.apt -a "update_cache=true cache_valid_time=3600" \
        || return 1
    for scenario in molecule/*/molecule.yml; do
        scenario=$(basename "$(dirname "$scenario")")
        NO_COLOR=1 molecule test -s "$scenario" > "$LOGS/molecule-$scenario.log" 2>&1 &
        pids+=($!)
        names+=("$scenario")
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            results+=("${names[$i]} passed")
        else
            results+=("${names[$i]} FAILED")
            rc=1
        fi
    done
    for i in "${!names[@]}"; do
        echo "==================== molecule scenario ${names[$i]} ===================="
        cat "$LOGS/molecule-${names[$i]}.log"
    done
    echo "molecule: ${results[*]}"
    return "$rc"
}

run_stage() {
    case "$1" in
        unit)         pytest -q -p no:cacheprovider tests/unit tests/playbooks "$COLLECTION/tests/unit" ;;
        sanity)       tools/collection-sanity.sh ;;
        lint)         ansible-lint --offline --profile production \
                      && git ls-files -z '*.sh' .ci/run lab/images/node/lab-node-init | xargs -0 shellcheck ;;
        collection-a) pytest -q -p no:cacheprovider tests/collection && collection_half a ;;
        collection-b) collection_half b ;;
        collection)   pytest -q -p no:cacheprovider tests/collection && collection_half a && collection_half b ;;
        lab)          tools/test-lab.sh ;;
        local)        tools/test-local.sh ;;
        molecule)     molecule_scenarios ;;
        *)            echo "unknown stage $1"; false ;;
    esac
}

run_track() {  # run the stages of one track (comma-separated); record each stage's time and result
    local track=$1 stage start rc
    for stage in ${track//,/ }; do
        echo "$(date -u +%T) start $stage" >&3
        echo "==================== stage: $stage ===================="
        start=$(date +%s)
        run_stage "$stage"
        rc=$?
        echo "$stage $(( $(date +%s) - start )) $rc" > "$LOGS/$stage.result"
        echo "== stage $stage: exit $rc in $(( $(date +%s) - start ))s"
        echo "$(date -u +%T) end   $stage: exit $rc in $(( $(date +%s) - start ))s" >&3
    done
}

total_start=$(date +%s)
rm -f "$LOGS"/*.result
declare -a pids tracks
exec 3>&1
for track in $TRACKS; do
    name="${track//,/+}"
    tracks+=("$name")
    run_track "$track" > "$LOGS/$name.log" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

stage_result() {  # "SECONDS EXIT" of a stage, from the file its track wrote ("0 missing" when it did not run)
    local secs rc
    if [ -f "$LOGS/$1.result" ]; then read -r _ secs rc < "$LOGS/$1.result"; else secs=0; rc=missing; fi
    echo "$secs $rc"
}

track_failed() {  # whether any stage of the track (stages joined by +) failed or did not run
    local stage rc
    for stage in ${1//+/ }; do
        read -r _ rc <<< "$(stage_result "$stage")"
        [ "$rc" = 0 ] || return 0
    done
    return 1
}

# The logs: passed tracks first (their last lines), failed tracks last and in full.
failed_tracks=()
for name in "${tracks[@]}"; do
    if track_failed "$name"; then
        failed_tracks+=("$name")
    else
        echo; echo "==================== log of track $name (last lines; full log in .test-logs/$name.log) ===================="
        tail -n 25 "$LOGS/$name.log"
    fi
done
for name in "${failed_tracks[@]}"; do
    echo; echo "==================== log of FAILED track $name ===================="
    cat "$LOGS/$name.log"
done

# What failed, once more just above the summary (a long failed log would otherwise hide it far above):
# the failed tasks of ansible-playbook (not the ignored ones), the failed tests of pytest and the failed
# stages, each with the task title before it, each line cut to 500 characters.
failures() {  # the failure lines of a log, with some context
    awk '
        function flush() { if (failed != "" && !ignored) { print "  " task; print substr(failed, 2) } failed = ""; ignored = 0 }
        /^(TASK|RUNNING HANDLER) \[|^PLAY RECAP/ { flush(); task = $0; next }
        /^\.\.\.ignoring/ { ignored = 1 }
        /^(fatal|failed): \[/ { failed = failed "\n" $0; next }
        /^FAILED [^ ]+::|^ERROR [^ ]+::|^E   |^FATAL:|^== stage .*: exit [1-9]|^[0-9]+ (failed|passed, [0-9]+ failed)/ { print }
        END { flush() }
    ' "$1" | cut -c1-500
}
for name in "${failed_tracks[@]}"; do
    echo; echo "==================== failures in track $name (first 60 lines; the whole log is above) ===================="
    failures "$LOGS/$name.log" | head -n 60
done

echo
echo "==================== summary ===================="
passed=0; failed=0
for track in $TRACKS; do
    for stage in ${track//,/ }; do
        read -r secs rc <<< "$(stage_result "$stage")"
        if [ "$rc" = 0 ]; then result=passed; passed=$((passed + 1)); else result="FAILED (exit $rc)"; failed=$((failed + 1)); fi
        printf '%-14s %6ss  %s\n' "$stage" "$secs" "$result"
    done
done
printf '%-14s %6ss  (wall clock; the tracks ran side by side: %s)\n' "total" "$(( $(date +%s) - total_start ))" "$TRACKS"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
