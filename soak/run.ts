// One soak run from start to record: the harness started, the planned faults injected on time, the
// workload ended, the checks made, the JSON and HTML written.

import { spawnSync } from 'node:child_process';
import { availableParallelism, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { account, summarize, summarizeInstances } from './checks.js';
import { checkManaged, injectFault } from './faults.js';
import { Soak } from './harness.js';
import { meminfoKiB } from './meminfo.js';
import type { SoakOptions } from './options.js';
import type { SoakRecord } from './record.js';
import { writeReports } from './report.js';

type Log = (line: string) => void;

function sourceVersion(): { commit: string | null; dirty: boolean } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: fileURLToPath(new URL('.', import.meta.url)), encoding: 'utf8' });
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (head.status !== 0) return { commit: null, dirty: false };
  return { commit: head.stdout.trim(), dirty: git(['status', '--porcelain', '--untracked-files=no']).stdout.trim() !== '' };
}

function sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, atMs - Date.now()));
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function runSoak(opts: SoakOptions, log: Log): Promise<SoakRecord> {
  const source = sourceVersion();
  const soak = new Soak(opts, log);
  const onSignal = (sig: string) => {
    log(`${sig}: ending the soak early`);
    soak.abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  log(
    `soak ${soak.runId}: ${opts.durationS} s, ${opts.load} load${opts.baseline ? ', baseline (no tsland)' : ''}${soak.scx ? `, tsland start on sched_ext (watchdog ${opts.watchdogMs} ms)` : ''}; ` +
      `memory: ${soak.memory.steadyMiB} MiB steady + ${soak.memory.jumpMiB} MiB jump of ${soak.memory.availableMiB} MiB available; ` +
      `faults: ${soak.plan.faults.map((f) => `${f.kind}@${f.atS}s`).join(' ') || 'none'}`,
  );
  try {
    await soak.start();
    // Once warmed up, the first scheduler must have found every process of the workload.
    await sleepUntil(soak.t0Ms + opts.warmupS * 1000, soak.abort.signal);
    const first = soak.current;
    // (tsland start's task list holds only the tasks it has placed since it started: not a census.)
    if (first && (first.mode === 'run' || first.mode === 'attach') && first.alive && !soak.abort.signal.aborted) {
      await checkManaged(soak, first, (check, detail) => soak.violate(check, detail));
    }
    for (const planned of soak.plan.faults) {
      await sleepUntil(soak.t0Ms + planned.atS * 1000, soak.abort.signal);
      if (soak.abort.signal.aborted) break;
      soak.faults.push(await injectFault(soak, planned));
    }
    await sleepUntil(soak.t0Ms + opts.durationS * 1000, soak.abort.signal);
    if (soak.abort.signal.aborted) soak.violate('interrupted', 'the soak was ended early by a signal');
    await soak.end();
  } catch (err) {
    soak.violate('harness', (err as Error).message);
  } finally {
    soak.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const accounting = account(soak);
  const instances = summarizeInstances(soak);
  const summary = summarize(soak, instances, accounting);
  const record: SoakRecord = {
    kind: 'tsland-soak',
    version: 1,
    startedAt: soak.startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      memTotalMiB: Math.round(meminfoKiB('MemTotal') / 1024),
      kernel: release(),
      node: process.versions.node,
    },
    source,
    options: opts,
    memory: soak.memory,
    plan: { quietUntilS: soak.plan.quietUntilS, tailFromS: soak.plan.tailFromS, faults: soak.plan.faults },
    samples: soak.samples,
    faults: soak.faults,
    instances,
    accounting,
    summary,
    violations: soak.violations,
    ...(soak.scx ? { ejections: soak.ejections } : {}),
    files: { json: `${soak.runDir}.json`, html: `${soak.runDir}.html`, logs: soak.runDir },
  };
  writeReports(record);
  return record;
}

export function printSummary(r: SoakRecord, log: Log): void {
  const s = r.summary;
  const rel = (p: string) => relative(process.cwd(), p) || p;
  log(
    `page faults after warm-up: ${s.pageFaultsAfterWarmup}; GCs ${s.gcEventsAfterWarmup}; RSS drift ${s.maxRssDriftKiB === null ? '-' : (s.maxRssDriftKiB / 1024).toFixed(2)} MiB over ${s.longestMeasuredS.toFixed(0)} s`,
  );
  if (r.options.backend === 'scx')
    log(
      `faults recovered ${s.faultsRecovered}/${s.faultsInjected}; ejections without a fault ${s.watchdogTripsWithoutFault}; tasks lost ${s.tasksLost}`,
    );
  else
    log(
      `faults recovered ${s.faultsRecovered}/${s.faultsInjected}; slowest release ${s.maxReleaseMs ?? '-'} ms; watchdog trips without a fault ${s.watchdogTripsWithoutFault}; tasks lost ${s.tasksLost}`,
    );
  log(`record: ${rel(r.files.json)}  report: ${rel(r.files.html)}  logs: ${rel(r.files.logs)}/`);
  if (s.passed) {
    log('PASSED');
    return;
  }
  log(`FAILED: ${r.violations.length} violation(s):`);
  for (const v of r.violations) process.stdout.write(`  [${v.tS}s] ${v.check}: ${v.detail}\n`);
}
