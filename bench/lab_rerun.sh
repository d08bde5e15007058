#!/usr/bin/env bash
# Benchmark: the README's main command (`make lab`) from nothing, then again on the ready lab.
# Baseline: the first run in the same session. Target: the rerun costs under 0.25x the first.
# It removes the lab first (make lab-clean), so it is not part of `make test`.
#   bench/lab_rerun.sh            # prints the figures and appends a row to docs/benchmarks.md
#   bench/lab_rerun.sh --fresh    # also removes .venv first, as on a new machine
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
log="$(mktemp -d)"

now() { date +%s.%N; }
what="after make lab-clean"
make -s setup
make -s lab-clean >/dev/null
if [ "${1:-}" = "--fresh" ]; then rm -rf .venv; what="after make lab-clean and removing .venv"; fi
t0=$(now); make -s lab > "$log/first.log" 2>&1; t1=$(now)
make -s lab > "$log/second.log" 2>&1; t2=$(now)

changed=$(grep -cE 'changed=[1-9]' "$log/second.log" || true)
python3 - "$t0" "$t1" "$t2" "$changed" "$what" <<'PY'
import datetime, sys
t0, t1, t2 = map(float, sys.argv[1:4]); changed = int(sys.argv[4]); what = sys.argv[5]
first, second = t1 - t0, t2 - t1
ratio = second / first
verdict = "met" if ratio < 0.25 and changed == 0 else "MISSED"
print(f"make lab {what}: {first:.1f}s; again: {second:.1f}s; ratio {ratio:.3f} "
      f"(target < 0.25, no change on rerun: {'yes' if changed == 0 else 'no'}) -> {verdict}")
row = (f"| {datetime.date.today()} | `make lab` rerun vs first run ({what}) | "
       f"{first:.1f} s | {second:.1f} s | {ratio:.3f} | < 0.25 | {verdict} |\n")
with open("docs/benchmarks.md", "a") as f:
    f.write(row)
PY
echo "logs: $log"
