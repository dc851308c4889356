// The final checks, from what the run left behind: the ledger (every component started and reaped, with
// its status), the churn counts (every short-lived process started and reaped), the samples (page faults
// and RSS of each scheduler instance after its warm-up) and the guardian's log (watchdog trips).

import { isCleanRelease, type ReleaseRecord } from '../src/backends/proc/guardian/state.js';
import type { Soak } from './harness.js';
import { components, readChurnCounts, readLedger } from './ledger.js';
import type { Accounting, InstanceSummary, SoakSample, SoakSummary } from './record.js';

/** RSS drift is judged only over spans this long: shorter ones still grow from warm-up. */
export const MIN_DRIFT_SPAN_S = 120;
export const MAX_RSS_DRIFT_KIB = 1024;
/** ...per this long: the target is RSS growth of at most 1 MiB per 10 minutes. */
export const RSS_DRIFT_SPAN_S = 600;

/**
 * The RSS drift allowed over `measuredS`: 1 MiB for any span up to 10 minutes (shorter spans get no less,
 * warm-up's last growth included), then 1 MiB per 10 minutes.
 */
export function rssDriftLimitKiB(measuredS: number): number {
  return MAX_RSS_DRIFT_KIB * Math.max(1, measuredS / RSS_DRIFT_SPAN_S);
}

/** A guardian release for a late heartbeat or a dead scheduler; not its goodbye after a clean finish. */
export function isTrip(r: ReleaseRecord): boolean {
  return r.releasedBy === 'guardian' && !isCleanRelease(r);
}

/** Whether a fault aimed at this instance was one its guardian is meant to answer. */
function guardianFault(soak: Soak, instance: number): boolean {
  return soak.faults.some((f) => f.instance === instance && (f.kind === 'stop-scheduler' || f.kind === 'kill-scheduler'));
}

export function account(soak: Soak): Accounting {
  const events = readLedger(soak.ledgerPath);
  const comps = components(events);
  const acc: Accounting = {
    componentsStarted: comps.length,
    componentsExited: comps.filter((c) => c.exit).length,
    stormStarted: 0,
    stormReaped: 0,
    stormFailed: 0,
    burstStarted: 0,
    burstReaped: 0,
    burstFailed: 0,
    builds: 0,
    buildsFailed: 0,
    leftAtEnd: soak.leftAtEnd,
    orphansSeen: soak.orphansSeen.size,
    lost: 0,
  };
  for (const c of comps) {
    if (!c.exit) {
      soak.violate('accounting', `${c.id} (pid ${c.pid}) started and never reaped`);
      continue;
    }
    const status = c.exit.code ?? c.exit.signal;
    if (c.kind === 'build') {
      acc.builds++;
      if (!c.exit.stoppedByUs && c.exit.code !== 0) {
        acc.buildsFailed++;
        soak.violate('build', `${c.id} failed with ${status}`);
      }
    } else if (!c.exit.stoppedByUs && (c.kind === 'cpu' || c.kind === 'vm' || c.kind === 'storm')) {
      soak.violate('accounting', `${c.id} ended by itself with ${status} before the run ended`);
    }
    const counts = c.countsFile ? readChurnCounts(c.countsFile) : undefined;
    if (c.kind === 'storm' || c.kind === 'burst') {
      if (!counts) {
        soak.violate('accounting', `${c.id} left no counts`);
        continue;
      }
      if (c.kind === 'storm') {
        acc.stormStarted += counts.started;
        acc.stormReaped += counts.reaped;
        acc.stormFailed += counts.failed;
      } else {
        acc.burstStarted += counts.started;
        acc.burstReaped += counts.reaped;
        acc.burstFailed += counts.failed;
      }
      if (counts.started !== counts.reaped || counts.failed > 0) {
        soak.violate('accounting', `${c.id}: ${counts.started} started, ${counts.reaped} reaped, ${counts.failed} failed`);
      }
    }
  }
  if (!events.some((e) => e.ev === 'done')) soak.violate('accounting', 'the workload root never finished its shutdown');
  acc.lost =
    acc.componentsStarted -
    acc.componentsExited +
    (acc.stormStarted - acc.stormReaped) +
    (acc.burstStarted - acc.burstReaped) +
    acc.leftAtEnd +
    acc.orphansSeen;
  return acc;
}

export function summarizeInstances(soak: Soak): InstanceSummary[] {
  // sched_ext has no guardian: its trips are the kernel's ejections that no fault asked for.
  const trips = soak.scx
    ? soak.ejections
        .filter((e) => !e.injected)
        .map((e) => ({ schedulerPid: soak.instances[e.instance]!.pid, reason: `${e.how}${e.reason ? `: ${e.reason}` : ''}` }))
    : soak.releaseRecords().filter(isTrip);
  return soak.instances.map((inst) => {
    const startS = soak.tS(inst.startedMs);
    const warmS = soak.tS(inst.warmFromMs);
    const mine = soak.samples.filter((s) => s.instance === inst.index);
    const warm = warmSamples(mine, warmS + soak.opts.warmupS);
    // A scheduler being stopped, killed or exiting gives memory back: its RSS then says nothing of drift.
    // Nor do its page faults and GCs say anything of the scheduling path then: an injected scheduler fault
    // ends the instance, and tearing its thread down (releasing every task, closing, V8 freeing the
    // isolate) is not scheduling. Those windows, and the run's own end, are left out of all three.
    const steady = warm.filter((s) => !s.inFault && s.rssKiB !== null);
    const rss = steady.map((s) => s.rssKiB!);
    const running = warm.filter((s) => !s.inFault);
    const pf = running.map((s) => s.pageFaults).filter((v): v is number => v !== null);
    const gc = running.map((s) => s.gcEvents).filter((v): v is number => v !== null);
    const hb = warm
      .filter((s) => !s.inFault)
      .map((s) => s.heartbeatAgeMaxMs)
      .filter((v): v is number => v !== null);
    const summary: InstanceSummary = {
      index: inst.index,
      mode: inst.mode,
      pid: inst.pid,
      startS,
      endS: inst.exit ? soak.tS(inst.exit.atMs) : null,
      exitCode: inst.exit?.code ?? null,
      exitSignal: inst.exit?.signal ?? null,
      exitExpected: inst.exitExpected,
      measuredS: warm.length > 1 ? warm[warm.length - 1]!.tS - warm[0]!.tS : 0,
      rssAfterWarmupKiB: rss[0] ?? null,
      rssLastKiB: rss.length ? rss[rss.length - 1]! : null,
      rssDriftKiB: rss.length ? rss[rss.length - 1]! - rss[0]! : null,
      rssMinKiB: rss.length ? Math.min(...rss) : null,
      rssMaxKiB: rss.length ? Math.max(...rss) : null,
      rssTrendKiBPerMin: trendPerMin(
        steady.map((s) => s.tS),
        rss,
      ),
      pageFaultsAfterWarmup: pf.length ? pf[pf.length - 1]! - pf[0]! : null,
      gcEventsAfterWarmup: gc.length ? gc[gc.length - 1]! - gc[0]! : null,
      maxHeartbeatAgeMs: hb.length ? Math.max(...hb) : null,
      watchdogTrips: trips.filter((r) => r.schedulerPid === inst.pid).length,
      tripReasons: trips.filter((r) => r.schedulerPid === inst.pid).map((r) => r.reason),
      lastWords: inst.lastWords(),
    };
    if (summary.pageFaultsAfterWarmup !== null && summary.pageFaultsAfterWarmup > soak.opts.pageFaultBudget) {
      const budget = soak.opts.pageFaultBudget > 0 ? ` (budget ${soak.opts.pageFaultBudget})` : '';
      soak.violate(
        'page-faults',
        `tsland #${inst.index} took ${summary.pageFaultsAfterWarmup} page fault(s) on its scheduler thread over ${summary.measuredS.toFixed(0)} s after warm-up${budget}`,
      );
    }
    if (inst.mode !== 'baseline' && summary.measuredS >= soak.opts.warmupS && pf.length === 0) {
      soak.violate('measurement', `no stats from tsland #${inst.index} after its warm-up: its page faults could not be checked`);
    }
    if (
      summary.measuredS >= MIN_DRIFT_SPAN_S &&
      summary.rssDriftKiB !== null &&
      Math.abs(summary.rssDriftKiB) > rssDriftLimitKiB(summary.measuredS)
    ) {
      soak.violate(
        'rss-drift',
        `tsland #${inst.index} RSS moved ${(summary.rssDriftKiB / 1024).toFixed(2)} MiB over ${summary.measuredS.toFixed(0)} s ` +
          `(limit ${(rssDriftLimitKiB(summary.measuredS) / 1024).toFixed(2)} MiB: 1 MiB per 10 minutes)`,
      );
    }
    // (sched_ext's unasked ejections were violations as they happened.)
    if (summary.watchdogTrips > 0 && !soak.scx && !guardianFault(soak, inst.index)) {
      soak.violate(
        'watchdog',
        `the guardian of tsland #${inst.index} released its tasks ${summary.watchdogTrips} time(s) with no fault injected: ` +
          summary.tripReasons.join(' | '),
      );
    }
    return summary;
  });
}

/** Least-squares slope of y over x (seconds), per minute; null with fewer than 10 points. */
export function trendPerMin(xS: readonly number[], y: readonly number[]): number | null {
  const n = xS.length;
  if (n < 10) return null;
  const mx = xS.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xS[i]! - mx) * (y[i]! - my);
    den += (xS[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

function maxOf(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? Math.max(...v) : null;
}

export function summarize(soak: Soak, instances: InstanceSummary[], acc: Accounting): SoakSummary {
  const drifts = instances.filter((i) => i.rssDriftKiB !== null && i.measuredS > 0);
  const longest = drifts.reduce<InstanceSummary | undefined>((a, b) => (!a || b.measuredS > a.measuredS ? b : a), undefined);
  const releases = soak.faults.map((f) => f.releaseMs).filter((v): v is number => v !== undefined);
  return {
    passed: soak.violations.length === 0,
    violations: soak.violations.length,
    pageFaultsAfterWarmup: instances.reduce((n, i) => n + (i.pageFaultsAfterWarmup ?? 0), 0),
    gcEventsAfterWarmup: instances.reduce((n, i) => n + (i.gcEventsAfterWarmup ?? 0), 0),
    maxRssDriftKiB: longest?.rssDriftKiB ?? null,
    longestMeasuredS: longest?.measuredS ?? 0,
    watchdogTripsWithoutFault: instances
      .filter((i) => soak.scx || !guardianFault(soak, i.index))
      .reduce((n, i) => n + i.watchdogTrips, 0),
    faultsInjected: soak.faults.length,
    faultsRecovered: soak.faults.filter((f) => f.ok).length,
    maxReleaseMs: releases.length ? Math.max(...releases) : null,
    releasesMissed: soak.faults.filter((f) => f.instance !== undefined && f.releaseMs === undefined).length,
    maxSteadyStopMs: soak.streaks.maxStreakMs,
    maxSteadyHeartbeatAgeMs: maxOf(instances.map((i) => i.maxHeartbeatAgeMs)),
    tasksLost: acc.lost,
    oomKills: soak.oomKillsDuringRun(),
  };
}

/**
 * The samples after warm-up: from `fromS` on, and, where tsland says when its own warm-up ends (counter
 * warmed_up), from the first sample that says it is over. Under software emulation tsland's warm-up (its
 * compilers stop once the code is optimized) outlasts the soak's fixed one by minutes.
 */
export function warmSamples(mine: readonly SoakSample[], fromS: number): SoakSample[] {
  const after = mine.filter((s) => s.tS >= fromS);
  const marked = after.some((s) => s.warmedUp === true || s.warmedUp === false);
  if (!marked) return after;
  const first = after.findIndex((s) => s.warmedUp === true);
  return first < 0 ? [] : after.slice(first);
}
