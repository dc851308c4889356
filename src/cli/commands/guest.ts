// `tsland guest setup|run|status`: a sched_ext kernel booted under qemu for machines whose kernel lacks it.

import { UsageError, type CommandDef, type FlagValues } from '../command.js';
import { chooseAccel, hostAccelFacts, type Accel } from '../../guest/accel.js';
import { guestAvailability } from '../../guest/availability.js';
import { GuestError } from '../../guest/errors.js';
import { ABORT_EXIT_CODE, DEFAULT_GUEST_CPUS, runInGuest } from '../../guest/launch.js';
import { DEFAULT_GUEST_MEM_MIB, parseMemSizeMiB } from '../../guest/mem-size.js';
import { guestPaths, guestSetDir, readManifest } from '../../guest/paths.js';
import { formatMiB, setupGuest } from '../../guest/setup.js';

const SUBCOMMANDS = ['setup', 'run', 'status'] as const;
type Sub = (typeof SUBCOMMANDS)[number];
const SETUP_FLAGS = ['force'];
const RUN_FLAGS = ['cpus', 'mem', 'timeout-s', 'accel', 'kernel-log', 'timings'];
const MS_PER_S = 1000;

function say(line: string): void {
  process.stderr.write(`guest: ${line}\n`);
}

/** Flags given on the command line that belong to another subcommand. */
export function misplacedFlag(sub: Sub, flags: FlagValues): string | null {
  const allowed = sub === 'setup' ? SETUP_FLAGS : sub === 'run' ? RUN_FLAGS : [];
  for (const name of [...SETUP_FLAGS, ...RUN_FLAGS]) {
    if (flags[name] !== undefined && !allowed.includes(name)) return name;
  }
  return null;
}

async function setup(flags: FlagValues): Promise<number> {
  const result = await setupGuest({ force: flags.force === true, onProgress: say });
  const { manifest, setDir } = result;
  if (!result.fetched) {
    process.stdout.write(
      `guest is set up: kernel ${manifest.kernelVersion}, ${formatMiB(result.setSizeBytes)} in ${setDir} (--force fetches it again)\n`,
    );
    return 0;
  }
  process.stdout.write(
    `guest set up: kernel ${manifest.kernelVersion}, downloaded ${formatMiB(manifest.downloadBytes)}, ${formatMiB(result.setSizeBytes)} in ${setDir} (${(result.elapsedMs / MS_PER_S).toFixed(0)} s)\n`,
  );
  return 0;
}

function status(): number {
  const paths = guestPaths();
  const accel = chooseAccel(hostAccelFacts());
  const avail = guestAvailability();
  const manifest = readManifest(guestSetDir());
  const lines = [
    `cache:   ${guestSetDir()}`,
    `kernel:  ${paths ? `${paths.kernelVersion} (${paths.vmlinuxPath})` : 'not set up (tsland guest setup)'}`,
    ...(paths && manifest
      ? [
          `libbpf:  ${paths.libbpfPath} (${manifest.packages.libbpf1 ?? '?'})`,
          `bpftool: ${paths.bpftoolPath} (${manifest.packages.bpftool ?? '?'})`,
        ]
      : []),
    `accel:   ${accel.accel.toUpperCase()} (${accel.reason})`,
    `ready:   ${avail.ok ? 'yes' : `no: ${avail.reason}`}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return avail.ok ? 0 : 1;
}

async function run(flags: FlagValues, rest: string[]): Promise<number> {
  if (rest.length === 0) throw new UsageError("'tsland guest run' needs a command after -- (e.g. tsland guest run -- uname -r)");
  let memMiB = DEFAULT_GUEST_MEM_MIB;
  if (typeof flags.mem === 'string') {
    try {
      memMiB = parseMemSizeMiB(flags.mem);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const avail = guestAvailability();
  if (!avail.ok) throw new GuestError(avail.reason);
  const accel = flags.accel === 'kvm' || flags.accel === 'tcg' ? (flags.accel as Accel) : chooseAccel(hostAccelFacts()).accel;
  const cpus = typeof flags.cpus === 'number' ? flags.cpus : DEFAULT_GUEST_CPUS;
  const timeoutS = typeof flags['timeout-s'] === 'number' ? flags['timeout-s'] : 0;

  const controller = new AbortController();
  const onSignal = () => controller.abort();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  // While the kernel boots, a ticking line on a terminal says what is happening; it is erased at the start.
  const tty = process.stderr.isTTY === true;
  const t0 = Date.now();
  const kernel = guestPaths()?.kernelVersion ?? '?';
  let ticker: NodeJS.Timeout | undefined;
  const clear = () => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    if (tty) process.stderr.write('\r\x1b[K');
  };
  if (tty) {
    const draw = () =>
      process.stderr.write(
        `\rguest: booting ${kernel} (${accel.toUpperCase()}, ${cpus} CPUs, ${memMiB} MiB) ${Math.round((Date.now() - t0) / MS_PER_S)} s`,
      );
    draw();
    ticker = setInterval(draw, MS_PER_S);
  }
  try {
    const result = await runInGuest({
      argv: rest,
      cpus,
      memMiB,
      timeoutMs: timeoutS * MS_PER_S,
      accel,
      signal: controller.signal,
      onStarted: clear,
      onStdout: (chunk) => process.stdout.write(chunk),
      onStderr: (chunk) => process.stderr.write(chunk),
      ...(flags['kernel-log'] ? { onConsoleLine: (line: string) => process.stderr.write(`[guest console] ${line}\n`) } : {}),
    });
    clear();
    if (flags.timings) {
      const s = (ms: number) => (ms / MS_PER_S).toFixed(2);
      const t = result.timings;
      say(
        `${result.accel.toUpperCase()}: boot ${s(t.bootMs)} s, command ${s(t.commandMs)} s, power-off ${s(t.poweroffMs)} s, total ${s(t.totalMs)} s`,
      );
    }
    if (result.timedOut) process.stderr.write(`tsland: the command timed out after ${timeoutS} s; the guest was stopped\n`);
    if (result.aborted) process.stderr.write('tsland: interrupted; the guest was stopped\n');
    return result.aborted ? ABORT_EXIT_CODE : result.code;
  } finally {
    clear();
    for (const s of signals) process.off(s, onSignal);
  }
}

export const guestCommand: CommandDef = {
  name: 'guest',
  summary: 'Boot a sched_ext kernel under qemu and run a command in it (for kernels without sched_ext).',
  usage: 'setup [--force] | run [options] -- cmd args... | status',
  description: [
    "setup fetches Debian's newest trixie-backports kernel (built with CONFIG_SCHED_CLASS_EXT=y) and libbpf 1.4 +",
    "bpftool from bookworm-backports with a private apt state (the host's sources are not touched), and caches",
    'them in $TSLAND_CACHE_DIR, else $XDG_CACHE_HOME/tsland, else ~/.cache/tsland (about 17 MiB downloaded,',
    '63 MiB kept). Missing host packages (qemu-system-x86, zstd) are installed with apt-get when root.',
    "run boots that kernel with the host's root filesystem read-only (virtiofs), /tmp, /run and /dev/shm on",
    'tmpfs, bpffs, debugfs, tracefs and cgroup2 mounted, and the current directory writable at the same path;',
    "it runs cmd there as root, streams its stdout and stderr, and exits with cmd's status (124 on --timeout-s).",
    'KVM is used where /dev/kvm has hardware virtualization (vmx/svm), software emulation (TCG) elsewhere:',
    'a TCG boot takes about 11 s on an idle 2-core machine. Needs root (virtiofsd). status shows what is set up.',
  ].join('\n'),
  examples: [
    'sudo tsland guest setup',
    'sudo tsland guest run -- cat /sys/kernel/sched_ext/state',
    'sudo tsland guest run --cpus 4 --mem 2G --timeout-s 600 -- npm test',
    'tsland guest status',
  ],
  maxPositionals: 1,
  takesRest: true,
  flags: [
    { name: 'force', type: 'boolean', help: 'setup: fetch and rebuild the set even when the cache has one.' },
    {
      name: 'cpus',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      max: 64,
      help: `run: virtual CPUs (default ${DEFAULT_GUEST_CPUS}).`,
    },
    { name: 'mem', type: 'string', valueName: 'SIZE', help: 'run: guest memory, e.g. 1G or 512M (default 1G).' },
    {
      name: 'timeout-s',
      type: 'number',
      valueName: 'N',
      integer: true,
      min: 1,
      help: 'run: stop the guest after N seconds and exit 124 (default: no limit).',
    },
    {
      name: 'accel',
      type: 'string',
      valueName: 'MODE',
      choices: ['auto', 'kvm', 'tcg'],
      help: 'run: accelerator; auto picks KVM only with vmx/svm and a usable /dev/kvm (default auto).',
    },
    { name: 'kernel-log', type: 'boolean', help: "run: copy the guest's kernel console to stderr, each line marked." },
    { name: 'timings', type: 'boolean', help: 'run: print boot, command and power-off times on stderr at the end.' },
  ],
  async run({ flags, positionals, rest }) {
    const sub = positionals[0];
    if (!sub) throw new UsageError(`'tsland guest' needs one of: ${SUBCOMMANDS.join(', ')} (see tsland guest --help)`);
    if (!(SUBCOMMANDS as readonly string[]).includes(sub))
      throw new UsageError(`unknown 'tsland guest' subcommand '${sub}'; one of: ${SUBCOMMANDS.join(', ')}`);
    const misplaced = misplacedFlag(sub as Sub, flags);
    if (misplaced) throw new UsageError(`--${misplaced} does not apply to 'tsland guest ${sub}'`);
    if (sub !== 'run' && rest.length > 0) throw new UsageError(`'tsland guest ${sub}' takes no command after --`);
    if (sub === 'setup') return setup(flags);
    if (sub === 'status') return status();
    return run(flags, rest);
  },
};
