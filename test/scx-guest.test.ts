// The sched_ext backend for real, in a sched_ext guest (one boot): load bpf/tsland.bpf.o, schedule CPU hogs
// and sleepers with a minimal FIFO loop (test/fixtures/scx-fifo.ts), check that the counters add up and
// that the loop allocates nothing, unload; kill -9 of the loader reverts to the fair class at once; a
// second load names the first.
//
// Boots with scripts/scx-guest.sh (TSLAND_GUEST_KERNEL: a sched_ext kernel image; TSLAND_LIBBPF: a
// libbpf.so.1 >= 1.4 visible inside the guest, when the system's is older). Skipped, with the reason,
// where no guest can boot. Under software emulation the boot and the load take minutes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_UNREG } from '../src/backends/scx/layout.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const kernel = process.env.TSLAND_GUEST_KERNEL;
const skip =
  process.platform !== 'linux'
    ? 'not Linux'
    : process.getuid?.() !== 0
      ? 'needs root (virtiofsd)'
      : !kernel
        ? 'no sched_ext guest kernel (set TSLAND_GUEST_KERNEL)'
        : !existsSync(kernel)
          ? `TSLAND_GUEST_KERNEL=${kernel} does not exist`
          : spawnSync('qemu-system-x86_64', ['--version']).status !== 0
            ? 'qemu-system-x86_64 not installed'
            : false;

const GUEST_SCRIPT = `
cd ${ROOT}
SCX_TIMEOUT_MS=30000 node dist/test/fixtures/scx-fifo.js fifo 10
node dist/test/fixtures/scx-fifo.js hold > /mnt/share/hold.out &
H=$!
while ! grep -q ATTACHED /mnt/share/hold.out 2>/dev/null; do sleep 0.2; done
echo "HOLD-STATE $(cat /sys/kernel/sched_ext/state)"
kill -9 $H
t0=$(date +%s%N)
while [ "$(cat /sys/kernel/sched_ext/state)" != disabled ]; do sleep 0.01; done
echo "KILL9-MS $(( ($(date +%s%N) - t0) / 1000000 ))"
sleep 1
node dist/test/fixtures/scx-fifo.js twice
`;

test(
  'sched_ext guest: FIFO loop schedules hogs and sleepers, counters add up, kill -9 reverts, load twice names the first',
  {
    skip,
    timeout: 30 * 60_000,
  },
  (t) => {
    const env = { ...process.env };
    const libbpf = process.env.TSLAND_LIBBPF ? `TSLAND_LIBBPF=${process.env.TSLAND_LIBBPF} ` : '';
    const r = spawnSync(`${ROOT}scripts/scx-guest.sh`, ['--', 'sh', '-c', GUEST_SCRIPT.replaceAll('node ', `${libbpf}node `)], {
      encoding: 'utf8',
      env,
      timeout: 29 * 60_000,
      maxBuffer: 64 << 20,
    });
    const out = r.stdout + r.stderr;
    const results = [...out.matchAll(/SCX-RESULT (\{.*\})/g)].map((m) => JSON.parse(m[1]!));
    const fifo = results.find((x) => x.mode === 'fifo');
    assert.ok(fifo, `the FIFO run reported (guest output tail:\n${out.slice(-3000)})`);
    assert.equal(fifo.error, undefined, fifo.error);
    assert.equal(fifo.stateLoaded, 'enabled');
    assert.equal(fifo.opsName, 'tsland');
    assert.equal(fifo.stateAfter, 'disabled');
    assert.equal(fifo.exitInfo?.kind, EXIT_UNREG, `unloaded by us, not ejected: ${JSON.stringify(fifo.exitInfo)}`);
    const c = fifo.counters;
    assert.ok(fifo.runnableRecords > 50, `tasks went through user space (${fifo.runnableRecords})`);
    assert.equal(fifo.pushed, fifo.runnableRecords, 'one dispatch record per runnable record');
    assert.equal(c.nr_dispatch_posted, fifo.pushed);
    assert.equal(c.nr_dispatch_drained, fifo.pushed, 'every dispatch record reached the kernel');
    assert.equal(
      c.nr_user_dispatches + c.nr_cancel_dispatches + c.nr_failed_dispatches,
      c.nr_dispatch_drained,
      'each drained record was inserted, cancelled or failed',
    );
    assert.ok(
      c.nr_queued >= fifo.runnableRecords && c.nr_queued - fifo.runnableRecords <= 16,
      `every queued record was read (kernel ${c.nr_queued}, read ${fifo.runnableRecords})`,
    );
    assert.ok(c.nr_events - fifo.recordsRead <= 16, `records left unread at unload: ${c.nr_events - fifo.recordsRead}`);
    assert.equal(c.nr_events_lost, 0);
    assert.equal(c.nr_sched_congested, 0);
    assert.ok(c.nr_self_dispatches > 0, "the loader's own threads ran without waiting for themselves");
    assert.ok(c.nr_user_dispatches > 50);
    // The ring code itself is proven allocation-free in test/scx-rings.test; this minimal loop is not drilled
    // through every branch before its window, so in the guest only GCs are asserted and the rest reported.
    for (const [name, hp] of [
      ['loop', fifo.hotPath],
      ['loop + epoll_wait', fifo.waitHotPath],
    ] as const) {
      assert.equal(hp.gcEvents, 0, `${name}: GCs`);
      t.diagnostic(
        `${name}: ${hp.pageFaults} faults, ${hp.heapGrowthBytes} bytes heap growth, ${hp.nsPerIteration} ns/iteration`,
      );
    }
    t.diagnostic(`load ${fifo.loadMs} ms ${JSON.stringify(fifo.phasesMs)}; counters ${JSON.stringify(c)}`);

    assert.match(out, /HOLD-STATE enabled/);
    const killMs = Number(/KILL9-MS (\d+)/.exec(out)?.[1]);
    assert.ok(killMs >= 0 && killMs < 3000, `kill -9 reverted to the fair class in ${killMs} ms`);

    const twice = results.find((x) => x.mode === 'twice');
    assert.ok(twice, 'the load-twice run reported');
    assert.match(twice.error, /another sched_ext scheduler is loaded: tsland/);
    assert.equal(twice.stateAfter, 'disabled');
  },
);
