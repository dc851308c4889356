// Reads the scheduler's task table from another thread (the slabs are SharedArrayBuffers) and names each
// task, for the stats server and `tsland top`. Off the scheduling thread, so it may allocate freely.

import { readFileSync } from 'node:fs';
import type { TaskSlabsInfo } from '../../sched/api.js';
import {
  T_CPU,
  T_PID,
  T_STATE,
  T_SUM_EXEC_NS,
  T_VRUNTIME,
  T_WEIGHT,
  TASK_FREE,
  TASK_QUEUED,
  TASK_RUNNING,
} from '../../sched/task-layout.js';
import type { TaskRow } from '../../stats/protocol.js';

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return '';
  }
}

export function readTaskRows(info: TaskSlabsInfo): TaskRow[] {
  const rows: TaskRow[] = [];
  for (const sab of info.slabs) {
    if (!sab) continue;
    const view = new DataView(sab);
    for (let at = 0; at + info.strideBytes <= sab.byteLength; at += info.strideBytes) {
      const state = view.getInt32(at + T_STATE, true);
      if (state === TASK_FREE) continue;
      const pid = view.getInt32(at + T_PID, true);
      rows.push({
        pid,
        comm: comm(pid),
        weight: view.getInt32(at + T_WEIGHT, true),
        vruntimeNs: view.getFloat64(at + T_VRUNTIME, true),
        cpuTimeNs: view.getFloat64(at + T_SUM_EXEC_NS, true),
        state: state === TASK_RUNNING ? 'R' : state === TASK_QUEUED ? 'Q' : 'S',
        cpu: view.getInt32(at + T_CPU, true),
      });
    }
  }
  return rows;
}
