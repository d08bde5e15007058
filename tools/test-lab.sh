#!/usr/bin/env bash
# The lab end to end: bring it up, run the main job, run it again (it must change nothing), the same
# for the monitoring (playbooks/monitoring.yml), then check the real nodes with testinfra: the bad-input cases, the databases and backups, the
# releases of the fleet app under load, and last, alone, the alerts fired by real faults.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${VENV:-.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_ROLES_PATH="$PWD/roles" ANSIBLE_NOCOLOR=1
log="$PWD/.lab/logs"; mkdir -p "$log"

now() { date +%s.%N; }
t0=$(now)
python lab/lab.py up
t1=$(now)
# Each run of the main job has a time limit, so that a stalled node (a hung download, say) fails this
# stage with a message instead of holding the whole test run until its own limit.
main_job() {  # main_job LOG LIMIT_SECONDS
    local rc=0
    # The slowest tasks and the time of each role are listed at the end of each run (profile_tasks, and the
    # project's own hna.cloudos.job_times, which every job shows).
    ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks,hna.cloudos.job_times PROFILE_TASKS_TASK_OUTPUT_LIMIT=25 \
        timeout --kill-after=30 "$2" ansible-playbook playbooks/lab.yml | tee "$1" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "the main job did not finish within $2 s (its last task is at the end of $1)" >&2
    fi
    return "$rc"
}
main_job "$log/site-1.log" 3000
t2=$(now)
main_job "$log/site-2.log" 1500
t3=$(now)

# A second run must report no change on any host (and no failed or unreachable one).
assert_no_change() {  # assert_no_change LOG WHAT
    python - "$1" "$2" <<'PY'
import re, sys
recap = [l for l in open(sys.argv[1]) if re.search(r"\bok=\d+\s+changed=\d+", l)]
bad = [l.strip() for l in recap if not re.search(r"\bchanged=0\b", l) or re.search(r"\b(failed|unreachable)=[1-9]", l)]
if not recap or bad:
    sys.exit(f"second run of {sys.argv[2]} was not a no-op:\n" + "\n".join(bad or ["no PLAY RECAP found"]))
print(f"second run of {sys.argv[2]}: no change on {len(recap)} hosts")
PY
}
assert_no_change "$log/site-2.log" "the main job"

# The lab's monitoring (make lab's last step), twice: the second run must change nothing either.
for run in 1 2; do
    ansible-playbook playbooks/monitoring.yml | tee "$log/monitoring-$run.log"
done
t4=$(now)
assert_no_change "$log/monitoring-2.log" "monitoring.yml"

python -c 'import sys; a, b, c, d, e = map(float, sys.argv[1:]); print(f"lab up: {b-a:.1f}s; main job first run: {c-b:.1f}s; second run: {d-c:.1f}s ({(d-c)/(c-b):.2f}x of the first); monitoring, two runs: {e-d:.1f}s")' \
    "$t0" "$t1" "$t2" "$t3" "$t4" | tee "$log/timings.txt"

# The application images and the load balancers on this machine's own engine are the stage "local"
# (tools/test-local.sh), which runs beside this one.
#
# The tests on the nodes run as two groups side by side: the monitoring, then the databases (replication, switchover
# and failover, backups: the lab's primary and replica and a scratch server) with the app store (its own namespaces on
# hz-node2); and everything else (the engines, the registry, the testlog namespace, the releases and A/B tests of
# fleet). No test of one group touches what the other changes. The monitoring's tests come first in theirs: they want
# every database target up and the replica replicating, as make lab left them, before the database tests move the
# primary; they run while the other group's A/B tests switch fleet's load balancers, which keep answering. They
# also put the groups' times closer together: from each file's time on an idle machine, about 20 and 22 minutes
# (15 and 27 before).
# The job templates of awx/ run through ansible-runner last in each group: the database templates after the
# database tests, the others (the monitoring's among them, long after the monitoring's tests) after the releases
# and A/B tests.
databases="tests/lab/test_monitoring.py tests/lab/test_mysql.py tests/lab/test_backup.py tests/lab/test_app_store.py tests/lab/test_awx_db_jobs.py"
last="tests/lab/test_awx_jobs.py"
# Tests that need both groups' parts as make lab left them run alone, after both groups: fleet's data (it writes the
# database primary that the first group switches over and fails over, through the fleet versions that the second
# group moves), then the alerts, fired by stopping parts of the lab (an exporter, a load balancer, the registry,
# replication).
alone="tests/lab/test_fleet_data.py tests/lab/test_alerts.py"
others=""
for file in tests/lab/test_*.py; do
    case " $databases $last $alone " in *" $file "*) ;; *) others="$others $file" ;; esac
done
groups=("$databases" "${others# } $last")
pids=()
for i in "${!groups[@]}"; do
    # shellcheck disable=SC2086 # one word per test file
    ( start=$(date +%s)
      pytest -q -p no:cacheprovider --durations=15 ${groups[$i]} > "$log/tests-$i.log" 2>&1
      rc=$?
      echo "== tests on the nodes, group $((i + 1)) (${groups[$i]}): exit $rc in $(( $(date +%s) - start ))s" >> "$log/tests-$i.log"
      exit "$rc" ) &
    pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
for i in "${!groups[@]}"; do cat "$log/tests-$i.log"; done
start=$(date +%s)
set +e
# shellcheck disable=SC2086 # one word per test file
pytest -q -p no:cacheprovider --durations=5 -s $alone 2>&1 | tee "$log/tests-alone.log"
alone_rc=${PIPESTATUS[0]}
set -e
echo "== tests on the nodes, alone ($alone): exit $alone_rc in $(( $(date +%s) - start ))s"
[ "$alone_rc" -eq 0 ] || rc=1
exit "$rc"
