// An interactive probe, as cyclictest measures one: sleeps periodMs again and again and records how late
// each wake-up is. Atomics.wait sleeps in the kernel (a futex wait) with no timer of the event loop between.

const seconds = Number(process.argv[2] ?? 5);
const periodMs = Number(process.argv[3] ?? 2);
const NSEC_PER_MSEC = 1e6;
const NSEC_PER_USEC = 1e3;
const cell = new Int32Array(new SharedArrayBuffer(4));
const lateUs: number[] = [];
const endNs = process.hrtime.bigint() + BigInt(seconds * 1e9);
for (;;) {
  const before = process.hrtime.bigint();
  if (before >= endNs) break;
  Atomics.wait(cell, 0, 0, periodMs);
  const sleptNs = Number(process.hrtime.bigint() - before);
  lateUs.push(Math.max(0, sleptNs - periodMs * NSEC_PER_MSEC) / NSEC_PER_USEC);
}
lateUs.sort((a, b) => a - b);
const q = (p: number): number => lateUs[Math.min(lateUs.length - 1, Math.floor(p * lateUs.length))] ?? NaN;
process.stdout.write(
  JSON.stringify({ probe: true, samples: lateUs.length, p50Us: q(0.5), p99Us: q(0.99), maxUs: lateUs.at(-1) ?? NaN }) + '\n',
);
