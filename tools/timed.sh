#!/bin/sh
# Run a command and say how long it took: tools/timed.sh LABEL COMMAND...
label="$1"; shift
start=$(date +%s)
"$@"; rc=$?
echo "== $label: $(( $(date +%s) - start ))s (exit $rc)"
exit $rc
