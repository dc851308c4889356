#!/bin/sh
# Where tsland's scheduler thread takes page faults on sched_ext: loads `tsland start`, lets it settle, then
# traces the thread's user page faults (tracepoint exceptions:page_fault_user, filtered on its tid) for 15 s
# idle and for a 20 s fork storm over 2 CPU hogs, and prints each window's faults grouped by error code, the
# mapping they hit and the mapping of the code that took them. Run inside a sched_ext machine as root, e.g.
# the guest:
#
#   tsland guest run -- sh bench/scx/fault-trace.sh
#
# Error codes (x86): 0x4 read of a missing page, 0x6 write to a missing page, 0x7 write to a present page
# (copy-on-write), 0x14 instruction fetch from a missing page. The raw traces and the thread's maps are
# left in the working directory (fault-trace-*.txt, fault-trace-maps.txt).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(pwd)
TR=/sys/kernel/tracing
EV=$TR/events/exceptions/page_fault_user
[ -d "$EV" ] || { echo "fault-trace: no $EV in this kernel" >&2; exit 2; }
[ "$(cat /sys/kernel/sched_ext/state 2>/dev/null)" = disabled ] || { echo "fault-trace: needs sched_ext, and none loaded" >&2; exit 2; }
node "$ROOT/dist/src/cli/main.js" start > "$OUT/fault-trace-tsland.log" 2>&1 & S=$!
while [ "$(cat /sys/kernel/sched_ext/state)" != enabled ]; do
  kill -0 $S 2>/dev/null || { echo "fault-trace: tsland start failed:" >&2; cat "$OUT/fault-trace-tsland.log" >&2; exit 1; }
  sleep 0.2
done
sleep 25
# The scheduler thread: the one of tsland's threads with the most user time.
T=0; best=-1
for t in /proc/$S/task/*; do u=$(awk '{print $14}' "$t/stat"); [ "$u" -gt "$best" ] && { best=$u; T=${t##*/}; }; done
echo "fault-trace: tsland pid $S, scheduler thread $T"
echo "common_pid == $T" > $EV/filter
echo 1 > $EV/enable
echo > $TR/trace
sleep 15
cp $TR/trace "$OUT/fault-trace-idle.txt"
echo > $TR/trace
stress-ng --fork 2 --timeout 20s -q & F=$!
stress-ng --cpu 2 --timeout 20s -q
wait $F
cp $TR/trace "$OUT/fault-trace-storm.txt"
echo 0 > $EV/enable
echo 0 > $EV/filter
cat /proc/$S/maps > "$OUT/fault-trace-maps.txt"
kill -INT $S
wait $S
node -e '
const fs = require("fs");
const maps = fs.readFileSync("fault-trace-maps.txt", "utf8").trim().split("\n").map((l) => {
  const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l);
  return { s: BigInt("0x" + m[1]), e: BigInt("0x" + m[2]), perm: m[3], path: m[4] || "[anon]" };
});
const where = (hex) => { const a = BigInt(hex); const m = maps.find((x) => a >= x.s && a < x.e); return m ? `${m.path} ${m.perm}` : "(unmapped at the end)"; };
for (const f of ["fault-trace-idle.txt", "fault-trace-storm.txt"]) {
  const count = new Map();
  for (const line of fs.readFileSync(f, "utf8").split("\n")) {
    const a = /address=(0x[0-9a-f]+)/.exec(line), ip = /ip=(0x[0-9a-f]+)/.exec(line), e = /error_code=(0x[0-9a-f]+)/.exec(line);
    if (!a || !ip || !e) continue;
    const k = `${e[1]}  ${where(a[1])}  <- code in ${where(ip[1]).split(" ")[0].split("/").pop()}`;
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  console.log(`${f}: ${[...count.values()].reduce((x, y) => x + y, 0)} faults`);
  for (const [k, v] of [...count].sort((x, y) => y[1] - x[1])) console.log(`  ${String(v).padStart(5)}  ${k}`);
}'
