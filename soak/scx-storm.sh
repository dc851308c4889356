#!/bin/sh
# One round of `tsland start` on the kernel's sched_ext under 4 CPU hogs (15 s), a sleeper loop and a fork
# storm of 1,000 processes, then Ctrl-C. Runs inside a sched_ext machine, e.g. the guest:
#
#   tsland guest run -- sh soak/scx-storm.sh [rustland|fifo]
#
# Prints `STORM-RESULT pass` when tsland unloaded on Ctrl-C (exit 0), or `STORM-RESULT ejected` when the
# kernel's watchdog unloaded it first, followed by tsland's last lines (the ejection reason and what each side
# held at that moment). The repeated runs in RELIABILITY.md are rounds of this script.
set -u
POLICY=${1:-rustland}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N="node $ROOT/dist/src/cli/main.js"
LOG=$(mktemp)
cd /tmp
$N start --policy "$POLICY" --timeout-ms 30000 --stats 5 > "$LOG" 2>&1 & S=$!
while [ "$(cat /sys/kernel/sched_ext/state)" != enabled ]; do
  kill -0 $S 2>/dev/null || { echo "STORM-RESULT failed-to-start"; cat "$LOG"; exit 1; }
  sleep 0.1
done
stress-ng --cpu 4 --timeout 15s -q & H=$!
( i=0; while [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done ) & Z=$!
stress-ng --fork 2 --fork-ops 1000 -q
wait $H; wait $Z
sleep 2
kill -INT $S 2>/dev/null
wait $S; STATUS=$?
if [ $STATUS -eq 0 ]; then echo "STORM-RESULT pass $POLICY"; else echo "STORM-RESULT ejected $POLICY (exit $STATUS)"; fi
tail -4 "$LOG"
rm -f "$LOG"
