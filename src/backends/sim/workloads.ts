// Workload generators: which tasks a simulation starts with, which it spawns later, and how each behaves.
// A task alternates CPU bursts and sleeps drawn from exponential distributions (a hog never sleeps);
// a spawned task needs a given amount of CPU in total and then exits; some tasks are killed at a random
// moment, whatever they are doing (running, queued or asleep).

import { NSEC_PER_MSEC, NSEC_PER_USEC } from '../../base/units.js';
import { WEIGHT_NICE_0, weightFromNice } from '../../sched/weights.js';

export const WORKLOAD_NAMES = ['hogs', 'weighted', 'interactive', 'bursty', 'forkstorm', 'mix'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export const KIND_HOG = 0;
export const KIND_SLEEPER = 1;
export const KIND_SPAWNED = 2;

export interface TaskClass {
  name: string;
  kind: number;
  /** Weights of its tasks: one value, or several assigned round-robin. */
  weights: number[];
  /** Tasks present from the start. */
  initial: number;
  /** Tasks spawned during the run (KIND_SPAWNED). */
  spawned: number;
  /** Mean CPU burst before sleeping; Infinity for a hog. */
  burstMeanNs: number;
  sleepMeanNs: number;
  /** Mean total CPU a spawned task needs before it exits. */
  lifeCpuMeanNs: number;
  /** Fraction of its tasks killed at a random moment of the run. */
  killFraction: number;
}

export interface Workload {
  name: WorkloadName;
  classes: TaskClass[];
  /** Spawned tasks arrive evenly over [0, spawnWindowNs). */
  spawnWindowNs: number;
}

const INTERACTIVE_BURST_NS = 500 * NSEC_PER_USEC;
const INTERACTIVE_SLEEP_NS = 10 * NSEC_PER_MSEC;
const BURSTY_BURST_NS = 5 * NSEC_PER_MSEC;
const BURSTY_SLEEP_NS = 50 * NSEC_PER_MSEC;
const SPAWNED_LIFE_CPU_NS = 2 * NSEC_PER_MSEC;
const SPAWN_KILL_FRACTION = 0.1;

function hog(name: string, weights: number[], initial: number): TaskClass {
  return {
    name,
    kind: KIND_HOG,
    weights,
    initial,
    spawned: 0,
    burstMeanNs: Infinity,
    sleepMeanNs: 0,
    lifeCpuMeanNs: Infinity,
    killFraction: 0,
  };
}

function sleeper(name: string, initial: number, burstMeanNs: number, sleepMeanNs: number): TaskClass {
  return {
    name,
    kind: KIND_SLEEPER,
    weights: [WEIGHT_NICE_0],
    initial,
    spawned: 0,
    burstMeanNs,
    sleepMeanNs,
    lifeCpuMeanNs: Infinity,
    killFraction: 0,
  };
}

function spawned(name: string, count: number): TaskClass {
  return {
    name,
    kind: KIND_SPAWNED,
    weights: [WEIGHT_NICE_0],
    initial: 0,
    spawned: count,
    burstMeanNs: Infinity,
    sleepMeanNs: 0,
    lifeCpuMeanNs: SPAWNED_LIFE_CPU_NS,
    killFraction: SPAWN_KILL_FRACTION,
  };
}

/** Splits `total` into parts proportional to `ratios`, the remainder going to the first parts. */
function split(total: number, ratios: number[]): number[] {
  const sum = ratios.reduce((a, b) => a + b, 0);
  const parts = ratios.map((r) => Math.floor((total * r) / sum));
  let left = total - parts.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i = (i + 1) % parts.length, left--) parts[i]!++;
  return parts;
}

export function buildWorkload(name: WorkloadName, tasks: number, cpus: number, durationNs: number): Workload {
  const spawnWindowNs = durationNs / 2;
  switch (name) {
    case 'hogs':
      return { name, spawnWindowNs, classes: [hog('hog', [WEIGHT_NICE_0], tasks)] };
    case 'weighted': {
      const [a, b, c] = split(tasks, [1, 1, 1]);
      return {
        name,
        spawnWindowNs,
        classes: [
          hog('hog-w1', [WEIGHT_NICE_0], a!),
          hog('hog-w2', [2 * WEIGHT_NICE_0], b!),
          hog('hog-w4', [4 * WEIGHT_NICE_0], c!),
        ],
      };
    }
    case 'interactive': {
      const [hogs, inter] = split(tasks, [3, 1]);
      return {
        name,
        spawnWindowNs,
        classes: [hog('hog', [WEIGHT_NICE_0], hogs!), sleeper('interactive', inter!, INTERACTIVE_BURST_NS, INTERACTIVE_SLEEP_NS)],
      };
    }
    case 'bursty':
      return { name, spawnWindowNs, classes: [sleeper('bursty', tasks, BURSTY_BURST_NS, BURSTY_SLEEP_NS)] };
    case 'forkstorm': {
      const background = Math.min(cpus, Math.max(0, tasks - 1));
      return { name, spawnWindowNs, classes: [hog('hog', [WEIGHT_NICE_0], background), spawned('forked', tasks - background)] };
    }
    case 'mix': {
      const [h, i, b, f] = split(tasks, [1, 1, 1, 1]);
      const niceWeights = [-5, -2, 0, 0, 2, 5].map(weightFromNice);
      return {
        name,
        spawnWindowNs,
        classes: [
          hog('hog', niceWeights, h!),
          sleeper('interactive', i!, INTERACTIVE_BURST_NS, INTERACTIVE_SLEEP_NS),
          sleeper('bursty', b!, BURSTY_BURST_NS, BURSTY_SLEEP_NS),
          spawned('forked', f!),
        ],
      };
    }
  }
}
