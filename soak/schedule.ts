// When each fault is injected. Faults sit between a quiet stretch after warm-up (where the scheduler must
// show no watchdog trip and no page fault on its own) and a tail that leaves time for the last recovery
// and the final checks. Faults that end the scheduler come last by default, so the first scheduler
// instance lives as long as possible and its RSS drift is measured over the longest span.

import type { FaultKind } from './options.js';

export interface PlannedFault {
  kind: FaultKind;
  atS: number;
}

export interface SchedulePlan {
  quietUntilS: number;
  tailFromS: number;
  faults: PlannedFault[];
}

export function planFaults(durationS: number, warmupS: number, kinds: readonly FaultKind[], intervalS = 0): SchedulePlan {
  const quietUntilS = warmupS + Math.max(warmupS, Math.round(durationS * 0.1));
  const tailFromS = durationS - Math.min(20, Math.max(5, Math.round(durationS * 0.15)));
  const faults: PlannedFault[] = [];
  if (kinds.length === 0 || tailFromS <= quietUntilS) return { quietUntilS, tailFromS, faults };
  if (intervalS > 0) {
    for (let k = 0, t = quietUntilS; t < tailFromS; k++, t += intervalS) faults.push({ kind: kinds[k % kinds.length]!, atS: t });
  } else {
    const spacingS = (tailFromS - quietUntilS) / kinds.length;
    kinds.forEach((kind, k) => faults.push({ kind, atS: Math.round(quietUntilS + k * spacingS) }));
  }
  return { quietUntilS, tailFromS, faults };
}
