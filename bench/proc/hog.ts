// A CPU hog that counts its work: spins in chunks until a wall-clock deadline, then prints one JSON line
// with its iteration count and CPU time. Being stopped (SIGSTOP) costs it iterations, not correctness.

const seconds = Number(process.argv[2] ?? 5);
const CHUNK = 200_000;
const deadlineMs = Date.now() + seconds * 1000;
let count = 0;
let sink = 0;
while (Date.now() < deadlineMs) {
  for (let i = 0; i < CHUNK; i++) sink = (sink + i) | 0;
  count += CHUNK;
}
const cpu = process.cpuUsage();
process.stdout.write(JSON.stringify({ pid: process.pid, count, cpuUs: cpu.user + cpu.system, sink: sink & 1 }) + '\n');
