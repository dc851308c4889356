// The yardstick for tsland's cost per decision on sched_ext: the scheduler core alone, driven by bench:sched's
// hog loop (the row `tsland` at 1,000 tasks, its "cpu ns/dec" column: the core plus writing and reading its
// records), measured in the same machine as the sched_ext run, so that emulation slows both alike.

import { rustland } from '../../src/sched/index.js';
import { createHogLoop } from '../sched/driver.js';

export interface CoreCost {
  tasks: number;
  decisions: number;
  /** Process CPU time per decision, ns: the median of the repetitions, and the least disturbed one. */
  cpuNsPerDecision: number;
  cpuNsMin: number;
}

const TASKS = 1_000;
const CPUS = 8;
const WARMUP = 30_000;
const DECISIONS = 40_000;
const REPS = 5;

export function measureCoreCost(): CoreCost {
  const loop = createHogLoop({ tasks: TASKS, cpus: CPUS, policy: rustland(), crossThreadRings: false });
  loop.run(WARMUP);
  const each: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const c0 = process.cpuUsage();
    const seen = loop.run(DECISIONS);
    const c = process.cpuUsage(c0);
    if (seen !== DECISIONS) throw new Error(`core loop: ${seen} dispatches for ${DECISIONS} decisions`);
    each.push(((c.user + c.system) * 1e3) / DECISIONS);
  }
  each.sort((a, b) => a - b);
  return { tasks: TASKS, decisions: DECISIONS * REPS, cpuNsPerDecision: each[Math.floor(REPS / 2)]!, cpuNsMin: each[0]! };
}
