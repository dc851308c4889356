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
  return `#!/bin/sh
# PID 1 of a tsland guest (generated for one run)
export PATH=${GUEST_PATH}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev devtmpfs ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p ${XCH_MOUNT}
mount -t virtiofs xch ${XCH_MOUNT} || { echo 'tsland guest: cannot mount the exchange share' >/dev/console; echo o >/proc/sysrq-trigger; }
# tmpfs over /tmp hides the host's /tmp; the working directory comes back as its own share below.
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
${spec.shareCwd ? `mkdir -p ${cwd} && mount -t virtiofs work ${cwd}` : ': no share for /'}
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null
hostname tsland-guest 2>/dev/null
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
}
