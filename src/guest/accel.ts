// KVM or software emulation (TCG). KVM runs the guest at native speed but only where /dev/kvm is backed by
// hardware virtualization (VMX or SVM in the CPU flags). A /dev/kvm without them (PVM, as some cloud
// sandboxes provide) passes the guest the host's real CPUID and the kernel dies on the first instruction the
// virtual CPU does not implement, so the flags decide, not the device's presence.

import { accessSync, constants, existsSync, readFileSync } from 'node:fs';

export type Accel = 'kvm' | 'tcg';

export interface AccelChoice {
  accel: Accel;
  /** Why this one, for `--verbose` output and test diagnostics. */
  reason: string;
}

export interface AccelFacts {
  /** Text of /proc/cpuinfo. */
  cpuinfo: string;
  /** /dev/kvm exists and opens read-write for us. */
  kvmUsable: boolean;
  /** The loaded KVM module is PVM (/sys/module/kvm_pvm). */
  pvm: boolean;
  /** TSLAND_GUEST_ACCEL, when set. */
  override?: string | undefined;
}

export function cpuFlags(cpuinfo: string): Set<string> {
  const m = /^flags\s*:\s*(.*)$/m.exec(cpuinfo);
  return new Set(m ? m[1]!.trim().split(/\s+/) : []);
}

export function chooseAccel(facts: AccelFacts): AccelChoice {
  if (facts.override === 'kvm' || facts.override === 'tcg')
    return { accel: facts.override, reason: `TSLAND_GUEST_ACCEL=${facts.override}` };
  const flags = cpuFlags(facts.cpuinfo);
  const hw = flags.has('vmx') ? 'vmx' : flags.has('svm') ? 'svm' : null;
  if (!facts.kvmUsable) return { accel: 'tcg', reason: '/dev/kvm is missing or not accessible' };
  if (facts.pvm) return { accel: 'tcg', reason: '/dev/kvm is PVM, which cannot run an ordinary guest kernel' };
  if (!hw) return { accel: 'tcg', reason: 'the CPU shows no vmx/svm flag (no hardware virtualization)' };
  return { accel: 'kvm', reason: `/dev/kvm with ${hw}` };
}

export function hostAccelFacts(env: NodeJS.ProcessEnv = process.env): AccelFacts {
  let cpuinfo = '';
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    /* not Linux */
  }
  let kvmUsable = false;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    kvmUsable = true;
  } catch {
    /* no KVM */
  }
  return { cpuinfo, kvmUsable, pvm: existsSync('/sys/module/kvm_pvm'), override: env.TSLAND_GUEST_ACCEL };
}

/**
 * qemu arguments for the chosen accelerator. TCG runs single-threaded (every vCPU on one host thread): with
 * multi-threaded TCG the guest kernel oopsed on an int3 in 2 of 3 boots while it patched live code as
 * sched_ext was enabled or disabled (seen loading tsland's BPF half); single-threaded, none did. Tried again
 * with QEMU 7.2 and the 7.3 kernel: two boots enabled and disabled tsland, scx_simple and scx_userland three
 * times each (nine loads a boot) without a fault, and the third (bench:scx) panicked in `__schedule` as it
 * enabled scx_userland, the fourth load of that boot ("Fatal exception in interrupt").
 */
export function accelArgs(accel: Accel): string[] {
  return accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=single', '-cpu', 'max'];
}

/** RCU's stall timeout under software emulation, in seconds (the kernel's default is 21; its most, 300). */
export const TCG_RCU_STALL_TIMEOUT_S = 60;

/**
 * Guest kernel arguments for the chosen accelerator. Under software emulation both vCPUs run on one host
 * thread and RCU's grace periods stretch with it; the kernel ejects any sched_ext scheduler on an RCU CPU
 * stall, and its default 21 s ejected scx_simple in every bench:scx run and scx_userland in one
 * (`RCU CPU stall on CPUs ()`) under loads EEVDF carried in the same boot. A longer timeout gives every
 * scheduler the same allowance; sched_ext's own watchdog (a runnable task left waiting) is unchanged. KVM
 * runs at native speed and keeps the kernel's default.
 */
export function accelKernelArgs(accel: Accel): string {
  return accel === 'kvm' ? '' : `rcupdate.rcu_cpu_stall_timeout=${TCG_RCU_STALL_TIMEOUT_S}`;
}
