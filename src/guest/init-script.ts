// The guest's PID 1: a shell script on the host's filesystem (the guest's root is the host's root, read-only),
// generated per run with the command, its directory and its environment quoted in.
//
// Serial ports, each a socket on the host:
//   ttyS0  console: kernel messages and the START/DONE markers the host times the run by
//   ttyS1  the command's stdout   (raw mode; the command itself writes into a pipe that cat copies out)
//   ttyS2  the command's stderr
// virtiofs shares:
//   rootfs  the host's /, mounted read-only as the root filesystem
//   xch     a host temporary directory at XCH_MOUNT, writable: the command's exit status comes back in it
//   work    the command's working directory at its own absolute path, writable (absent when that is /)

export const START_MARKER = 'TSLAND-GUEST-START';
export const DONE_MARKER = 'TSLAND-GUEST-DONE';
export const XCH_MOUNT = '/run/tsland-guest';
export const STATUS_FILE = 'status';
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface InitSpec {
  argv: string[];
  /** Absolute directory the command runs in. */
  cwd: string;
  /** Whether cwd is a share of its own (false when cwd is /, which stays read-only). */
  shareCwd: boolean;
  env: Record<string, string>;
  /** Where the script finds the table guestFstab() wrote (a host path, read at boot through the root share). */
  fstabPath: string;
  /** Print the guest's uptime after each step on the console ($TSLAND_GUEST_TRACE=1 with --kernel-log). */
  trace?: boolean;
}

// The exchange share holds this script: finding it there proves the share is mounted (test is a builtin).
const XCH_CHECK = `[ -f ${XCH_MOUNT}/init ] || { echo 'tsland guest: cannot mount the exchange share' >/dev/console; echo o >/proc/sysrq-trigger; }`;

/** Escapes a path for fstab, where blanks separate fields (octal escapes, as getmntent reads them). */
export function fstabEscape(path: string): string {
  return path.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * The guest's mounts in order: the exchange share goes under /run before tmpfs covers /tmp (and with it the
 * host path the script and this table were read from); the working directory's share goes on top of that.
 */
export function guestFstab(spec: Pick<InitSpec, 'cwd' | 'shareCwd'>): string {
  const rows: [string, string, string, string][] = [
    ['sysfs', '/sys', 'sysfs', 'defaults'],
    ['devtmpfs', '/dev', 'devtmpfs', 'defaults'],
    ['devpts', '/dev/pts', 'devpts', 'newinstance,ptmxmode=0666,X-mount.mkdir'],
    ['tmpfs', '/dev/shm', 'tmpfs', 'mode=1777,X-mount.mkdir'],
    ['tmpfs', '/run', 'tmpfs', 'mode=0755'],
    ['xch', XCH_MOUNT, 'virtiofs', 'X-mount.mkdir'],
    ['tmpfs', '/tmp', 'tmpfs', 'mode=1777'],
    ['tmpfs', '/var/tmp', 'tmpfs', 'mode=1777'],
    ...(spec.shareCwd ? [['work', fstabEscape(spec.cwd), 'virtiofs', 'X-mount.mkdir'] as [string, string, string, string]] : []),
    ['bpf', '/sys/fs/bpf', 'bpf', 'defaults'],
    ['debugfs', '/sys/kernel/debug', 'debugfs', 'defaults'],
    ['tracefs', '/sys/kernel/tracing', 'tracefs', 'defaults'],
    ['cgroup2', '/sys/fs/cgroup', 'cgroup2', 'defaults'],
  ];
  return rows.map((r) => `${r.join(' ')} 0 0`).join('\n') + '\n';
}

/** Single-quotes a word for sh: 'it'\''s'. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function initScript(spec: InitSpec): string {
  if (spec.argv.length === 0) throw new Error('initScript: empty argv');
  const env = Object.entries({ PATH: GUEST_PATH, HOME: '/root', ...spec.env }).filter(([k]) => ENV_NAME.test(k));
  const envWords = env.map(([k, v]) => shQuote(`${k}=${v}`)).join(' ');
  const cwd = shQuote(spec.cwd);
  const script = `#!/bin/sh
# PID 1 of a tsland guest (generated for one run)
export PATH=${GUEST_PATH}
mount -t proc proc /proc
# One mount(8) for the rest: every process started costs a second or more under emulation on a busy host.
# The table is read whole before /tmp is covered; X-mount.mkdir makes mount points on tmpfs (the cwd's).
mount -a -T ${shQuote(spec.fstabPath)}
${XCH_CHECK}
ip link set lo up 2>/dev/null
echo tsland-guest >/proc/sys/kernel/hostname
stty -F /dev/ttyS1 raw -echo clocal
stty -F /dev/ttyS2 raw -echo clocal
mkfifo /run/tsland-out /run/tsland-err
cat /run/tsland-out >/dev/ttyS1 &
out=$!
cat /run/tsland-err >/dev/ttyS2 &
err=$!
echo ${START_MARKER} >/dev/ttyS0
( cd ${cwd} && exec env -i ${envWords} ${spec.argv.map(shQuote).join(' ')} ) </dev/null >/run/tsland-out 2>/run/tsland-err
status=$?
wait $out $err
echo $status >${XCH_MOUNT}/${STATUS_FILE}
echo ${DONE_MARKER} $status >/dev/ttyS0
echo o >/proc/sysrq-trigger
sleep 60
`;
  if (!spec.trace) return script;
  // read and echo are shell builtins: tracing adds no process to what it measures.
  return script
    .split('\n')
    .map((line, i) =>
      i > 1 && /^[a-z]/.test(line) && !line.startsWith('export') && !line.endsWith('&')
        ? `${line}\nread up _ </proc/uptime; echo "trace $up ${i}" >/dev/ttyS0`
        : line,
    )
    .join('\n');
}
