// The sched_ext guest's logic without booting anything: Debian version order and apt output parsing, the
// kernel image's payload, accelerator choice, sizes and flags, the init script's quoting, the cache layout.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chooseAccel, cpuFlags, accelArgs, TCG_RCU_STALL_TIMEOUT_S } from '../src/guest/accel.js';
import { kernelPackagesFrom, newestStanza, parseDepends, parseStanzas, privateApt, aptErrorLine } from '../src/guest/apt.js';
import { compareDebianVersions, upstreamVersion } from '../src/guest/debian-version.js';
import { missingHostPackages, parseOsRelease, virtiofsdFlavor } from '../src/guest/host.js';
import { guestFstab, initScript, shQuote } from '../src/guest/init-script.js';
import { qemuArgs, passthroughEnv, sweepStaleRunDirs } from '../src/guest/launch.js';
import { parseMemSizeMiB } from '../src/guest/mem-size.js';
import { guestWorkDir, hiddenFromGuest, hiddenInGuest } from '../src/guest/share.js';
import { cacheRoot, guestPaths, MANIFEST_NAME, setLayout } from '../src/guest/paths.js';
import { configHasSchedExt, decompressPayload, ELF_MAGIC, findPayload, ZSTD_MAGIC } from '../src/guest/vmlinuz.js';
import { parseArgs } from '../src/cli/command.js';
import { guestCommand, misplacedFlag } from '../src/cli/commands/guest.js';
import { start } from './fixtures/spawn.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('Debian versions order as dpkg orders them', () => {
  const ascending = ['1.0~rc1', '1.0', '1.0-1~bpo12+1', '1.0-1', '1.0-1+deb12u1', '1.0a', '1.1', '1.10', '1:0.1'];
  for (let i = 0; i + 1 < ascending.length; i++) {
    assert.ok(compareDebianVersions(ascending[i]!, ascending[i + 1]!) < 0, `${ascending[i]} < ${ascending[i + 1]}`);
    assert.ok(compareDebianVersions(ascending[i + 1]!, ascending[i]!) > 0, `${ascending[i + 1]} > ${ascending[i]}`);
  }
  assert.equal(compareDebianVersions('7.3.4-1~bpo13+1', '7.3.4-1~bpo13+1'), 0);
  assert.ok(compareDebianVersions('1:1.4.6-1~bpo12+1', '1:1.1.2-0+deb12u1') > 0);
  assert.equal(upstreamVersion('1:1.4.6-1~bpo12+1'), '1.4.6');
  assert.ok(compareDebianVersions(upstreamVersion('1:1.4.6-1~bpo12+1'), '1.4') >= 0);
  assert.ok(compareDebianVersions(upstreamVersion('1:1.1.2-0+deb12u1'), '1.4') < 0);
});

// Shaped like `apt-cache show` output of Debian's archive (trixie-backports, December 2026).
const META = `Package: linux-image-amd64
Source: linux-signed-amd64 (7.3.4+1~bpo13+1)
Version: 7.3.4-1~bpo13+1
Depends: linux-base-amd64 (= 7.3.4-1~bpo13+1), linux-image-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-amd64 (= 7.3.4-1~bpo13+1)
Description: Linux for 64-bit PCs (meta-package)
 This package depends on the latest Linux kernel
 and modules for use on PCs.

Package: linux-image-amd64
Version: 7.2.9-1~bpo13+1
Depends: linux-image-7.2.9+deb13-amd64 (= 7.2.9-1~bpo13+1)
`;
const IMAGE = `Package: linux-image-7.3.4+deb13-amd64
Version: 7.3.4-1~bpo13+1
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)
Size: 1900
`;

test('apt: the kernel is resolved through the metapackage, newest version first', () => {
  const stanzas = parseStanzas(META);
  assert.equal(stanzas.length, 2);
  assert.match(stanzas[0]!.Description!, /meta-package\)\nThis package depends/);
  const meta = newestStanza(stanzas, 'linux-image-amd64')!;
  assert.equal(meta.Version, '7.3.4-1~bpo13+1');
  const image = parseStanzas(IMAGE)[0]!;
  const k = kernelPackagesFrom(meta, (name) => (name === image.Package ? image : null));
  assert.deepEqual(k, {
    kernelVersion: '7.3.4+deb13-amd64',
    packageVersion: '7.3.4-1~bpo13+1',
    packages: ['linux-base-7.3.4+deb13-amd64', 'linux-binary-7.3.4+deb13-amd64'],
  });
  // An image that holds its files itself (Debian before the binary/base split) is downloaded as it is.
  const old = parseStanzas(
    'Package: linux-image-amd64\nVersion: 6.12.95-1~bpo12+1\nDepends: linux-image-6.12.95+deb12-amd64 (= 6.12.95-1~bpo12+1)\n',
  )[0]!;
  const oldImage = parseStanzas(
    'Package: linux-image-6.12.95+deb12-amd64\nVersion: 6.12.95-1~bpo12+1\nDepends: kmod, linux-base (>= 4.3~)\n',
  )[0]!;
  assert.deepEqual(kernelPackagesFrom(old, () => oldImage).packages, ['linux-image-6.12.95+deb12-amd64']);
  assert.throws(
    () => kernelPackagesFrom(parseStanzas('Package: linux-image-amd64\nVersion: 1\nDepends: foo\n')[0]!, () => null),
    /names no linux-image/,
  );
  assert.deepEqual(parseDepends('a (= 1), b | c, d (>= 2)'), [{ name: 'a', version: '1' }, { name: 'b' }, { name: 'd' }]);
  assert.equal(aptErrorLine('W: something\nE: Unable to locate package nope\n'), 'Unable to locate package nope');
});

test("apt: the private configuration reads none of the host's sources and pins Debian's keyring", () => {
  const apt = privateApt('/cache/apt', 'trixie-backports', { root: false });
  const opts = apt.options.filter((o) => o !== '-o');
  assert.ok(opts.includes('Dir::Etc::SourceList=/cache/apt/trixie-backports/sources.list'));
  assert.ok(opts.includes('Dir::Etc::SourceParts=/dev/null'));
  assert.ok(opts.includes('Dir::State::Lists=/cache/apt/trixie-backports/lists'));
  assert.ok(
    opts.every((o) => !o.includes('/etc/apt') && !o.includes('/var/lib/apt')),
    opts.join(' '),
  );
  assert.equal(
    apt.sourcesLine,
    'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main\n',
  );
  assert.ok(!opts.some((o) => o.startsWith('APT::Sandbox::User')));
  assert.ok(privateApt('/c', 's', { root: true }).options.includes('APT::Sandbox::User=root'));
});

/** A bzImage-shaped buffer: boot header, then the zstd frame and its size trailer where the header says. */
function fakeBzImage(frame: Buffer, sizeBytes: number, opts: { header?: boolean } = {}): Buffer {
  const setupSects = 3;
  const payloadOffset = 100;
  const start = (setupSects + 1) * 512 + payloadOffset;
  const image = Buffer.alloc(start + frame.length + 4 + 64, 0x90);
  if (opts.header !== false) {
    image[0x1f1] = setupSects;
    image.write('HdrS', 0x202, 'latin1');
    image.writeUInt16LE(0x20f, 0x206);
    image.writeUInt32LE(payloadOffset, 0x248);
    image.writeUInt32LE(frame.length + 4, 0x24c);
  }
  frame.copy(image, start);
  image.writeUInt32LE(sizeBytes, start + frame.length);
  return image;
}

const hasZstd = spawnSync('zstd', ['--version']).status === 0;

test(
  'vmlinuz: the zstd payload is found from the boot header, or by its magic, and decompressed',
  { skip: hasZstd ? false : 'zstd not installed' },
  async () => {
    const kernel = Buffer.concat([ELF_MAGIC, Buffer.from('a kernel, or what passes for one here. '.repeat(500))]);
    const frame = spawnSync('zstd', ['-c', '-q'], { input: kernel }).stdout;
    assert.ok(frame.subarray(0, 4).equals(ZSTD_MAGIC));

    const image = fakeBzImage(frame, kernel.length);
    const p = findPayload(image);
    assert.deepEqual(p, { start: 4 * 512 + 100, length: frame.length, expectedSizeBytes: kernel.length, how: 'header' });
    assert.ok((await decompressPayload(image, p)).equals(kernel));

    const bare = fakeBzImage(frame, kernel.length, { header: false });
    const scanned = findPayload(bare);
    assert.equal(scanned.how, 'scan');
    assert.equal(scanned.start, 4 * 512 + 100);
    assert.ok((await decompressPayload(bare, scanned)).equals(kernel));

    // A size trailer that disagrees with the output is refused, and so is an image without a zstd frame.
    await assert.rejects(
      decompressPayload(fakeBzImage(frame, kernel.length + 1), findPayload(fakeBzImage(frame, kernel.length + 1))),
      /size mismatch/,
    );
    assert.throws(() => findPayload(Buffer.alloc(4096)), /no zstd payload/);
  },
);

test('config: sched_ext is there only with CONFIG_SCHED_CLASS_EXT=y', () => {
  assert.ok(configHasSchedExt('CONFIG_BPF=y\nCONFIG_SCHED_CLASS_EXT=y\nCONFIG_X=m\n'));
  assert.ok(!configHasSchedExt('CONFIG_BPF=y\n# CONFIG_SCHED_CLASS_EXT is not set\n'));
  assert.ok(!configHasSchedExt('CONFIG_SCHED_CLASS_EXT=m\n'));
});

const CPUINFO = (flags: string) =>
  `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse ${flags} sse sse2\nbogomips\t: 4000\n`;

test('accel: KVM only with a usable /dev/kvm, hardware virtualization, and not PVM', () => {
  assert.deepEqual([...cpuFlags(CPUINFO('vmx'))].slice(0, 5), ['fpu', 'vme', 'de', 'pse', 'vmx']);
  assert.equal(chooseAccel({ cpuinfo: CPUINFO('vmx'), kvmUsable: true, pvm: false }).accel, 'kvm');
  assert.equal(chooseAccel({ cpuinfo: CPUINFO('svm'), kvmUsable: true, pvm: false }).accel, 'kvm');
  const pvm = chooseAccel({ cpuinfo: CPUINFO('hypervisor'), kvmUsable: true, pvm: true });
  assert.equal(pvm.accel, 'tcg');
  assert.match(pvm.reason, /PVM/);
  assert.match(chooseAccel({ cpuinfo: CPUINFO('hypervisor'), kvmUsable: true, pvm: false }).reason, /no vmx\/svm/);
  assert.equal(chooseAccel({ cpuinfo: CPUINFO('vmx'), kvmUsable: false, pvm: false }).accel, 'tcg');
  assert.equal(chooseAccel({ cpuinfo: CPUINFO('vmx'), kvmUsable: false, pvm: false, override: 'kvm' }).accel, 'kvm');
  // "vmx" inside another flag's name is not vmx.
  assert.equal(chooseAccel({ cpuinfo: CPUINFO('vmx_ept_ad'), kvmUsable: true, pvm: false }).accel, 'tcg');
  assert.deepEqual(accelArgs('tcg'), ['-accel', 'tcg,thread=single', '-cpu', 'max']);
  assert.deepEqual(accelArgs('kvm'), ['-accel', 'kvm', '-cpu', 'host']);
});

test('qemu command line: shares, serial ports, memory backend', () => {
  const sockets = { root: '/t/r', xch: '/t/x', work: null, console: '/t/c', stdout: '/t/o', stderr: '/t/e' };
  const args = qemuArgs({ accel: 'tcg', cpus: 3, memMiB: 1536, vmlinux: '/k/vmlinux', init: '/t/x/init', sockets });
  const line = args.join(' ');
  assert.match(line, /-smp 3 -m 1536M -object memory-backend-memfd,id=mem,size=1536M,share=on -numa node,memdev=mem/);
  assert.match(line, /tag=rootfs.*tag=xch/);
  assert.doesNotMatch(line, /tag=work/);
  assert.match(line, /-serial chardev:con -serial chardev:out -serial chardev:err/);
  const cmdline = args[args.length - 1]!;
  assert.match(cmdline, /^rootfstype=virtiofs root=rootfs ro console=ttyS0 init=\/t\/x\/init /);
  // Software emulation only: RCU's stall timeout stretched (the kernel ejects sched_ext schedulers on a stall).
  assert.ok(cmdline.split(' ').includes(`rcupdate.rcu_cpu_stall_timeout=${TCG_RCU_STALL_TIMEOUT_S}`), cmdline);
  const kvm = qemuArgs({ accel: 'kvm', cpus: 1, memMiB: 512, vmlinux: 'v', init: 'i', sockets: { ...sockets, work: '/t/w' } });
  assert.match(kvm.join(' '), /-accel kvm -cpu host .*tag=work/);
  assert.doesNotMatch(kvm[kvm.length - 1]!, /rcu_cpu_stall_timeout| {2}| $/);
});

test('--mem sizes', () => {
  assert.equal(parseMemSizeMiB('1G'), 1024);
  assert.equal(parseMemSizeMiB('1.5GiB'), 1536);
  assert.equal(parseMemSizeMiB('512M'), 512);
  assert.equal(parseMemSizeMiB('2048'), 2048);
  assert.throws(() => parseMemSizeMiB('lots'), /--mem takes a size/);
  assert.throws(() => parseMemSizeMiB('100M'), /at least 256M/);
});

test('guest flags: parsed per subcommand, misplaced ones named', () => {
  const a = parseArgs(guestCommand, ['run', '--cpus', '4', '--mem', '2G', '--timeout-s', '30', '--', 'sh', '-c', 'echo --cpus']);
  assert.deepEqual(a.positionals, ['run']);
  assert.deepEqual(a.rest, ['sh', '-c', 'echo --cpus']);
  assert.equal(a.flags.cpus, 4);
  assert.equal(a.flags['timeout-s'], 30);
  assert.equal(misplacedFlag('run', a.flags), null);
  assert.equal(misplacedFlag('setup', a.flags), 'cpus');
  assert.equal(misplacedFlag('run', parseArgs(guestCommand, ['run', '--force']).flags), 'force');
  assert.equal(misplacedFlag('setup', parseArgs(guestCommand, ['setup', '--force']).flags), null);
  assert.throws(() => parseArgs(guestCommand, ['run', '--cpus', '0']), /at least 1/);
});

test('guest: usage errors are one line and exit 2 through the real binary', { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [['guest'], /needs one of: setup, run, status/],
    [['guest', 'boot'], /unknown 'tsland guest' subcommand 'boot'/],
    [['guest', 'run'], /needs a command after --/],
    [['guest', 'setup', '--cpus', '2'], /--cpus does not apply to 'tsland guest setup'/],
    [['guest', 'run', '--mem', '12x', '--', 'true'], /--mem takes a size/],
    [['guest', 'status', '--', 'true'], /takes no command/],
  ];
  for (const [argv, re] of cases) {
    const p = start(process.execPath, [MAIN, ...argv]);
    const code = await p.exited;
    assert.equal(code, 2, `${argv.join(' ')}: ${p.stderr()}`);
    assert.equal(p.stderr().trimEnd().split('\n').length, 1, p.stderr());
    assert.match(p.stderr(), re);
  }
});

test('init script: every word reaches the command unchanged', () => {
  const words = ["it's", 'a b', '$HOME', '`id`', '"q"', '\\', ''];
  const r = spawnSync('sh', ['-c', `printf '<%s>\\n' ${words.map(shQuote).join(' ')}`], { encoding: 'utf8' });
  assert.equal(r.stdout, words.map((w) => `<${w}>\n`).join(''));
  const script = initScript({
    argv: ['sh', '-c', "echo 'x'"],
    cwd: '/tmp/a b',
    shareCwd: true,
    fstabPath: '/tmp/r/fstab',
    env: { TSLAND_X: "1'2", 'BAD NAME': 'x' },
  });
  assert.ok(script.includes(`mount -a -T '/tmp/r/fstab'`));
  assert.ok(script.includes(`cd '/tmp/a b' && exec env`));
  assert.ok(
    script.includes(
      `env -i 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'HOME=/root' 'TSLAND_X=1'\\''2' 'sh' '-c' 'echo '\\''x'\\'''`,
    ),
    script,
  );
  assert.ok(!script.includes('BAD NAME'));
  // The script parses as sh, traced or not.
  assert.equal(spawnSync('sh', ['-n'], { input: script }).status, 0);
  assert.equal(
    spawnSync('sh', ['-n'], {
      input: initScript({ argv: ['true'], cwd: '/x', shareCwd: true, fstabPath: '/f', env: {}, trace: true }),
    }).status,
    0,
  );
  // The mount table: exchange share before tmpfs covers /tmp, the cwd (escaped) after it, nothing for /.
  const fstab = guestFstab({ cwd: '/tmp/a b\\c', shareCwd: true }).split('\n');
  const at = (target: string) => fstab.findIndex((l) => l.split(' ')[1] === target);
  assert.ok(
    at('/run') < at('/run/tsland-guest') && at('/run/tsland-guest') < at('/tmp') && at('/tmp') < at('/tmp/a\\040b\\134c'),
    fstab.join('\n'),
  );
  assert.equal(fstab[at('/tmp/a\\040b\\134c')], 'work /tmp/a\\040b\\134c virtiofs X-mount.mkdir 0 0');
  assert.ok(!guestFstab({ cwd: '/', shareCwd: false }).includes('work'));
  assert.deepEqual(passthroughEnv({ TSLAND_CACHE_DIR: '/c', CI: 'true', SECRET: 'x', LANG: 'C.UTF-8' }), {
    TSLAND_CACHE_DIR: '/c',
    CI: 'true',
    LANG: 'C.UTF-8',
  });
});

test('cache: location precedence, and a set counts only when complete', () => {
  assert.equal(cacheRoot({ TSLAND_CACHE_DIR: '/a', XDG_CACHE_HOME: '/b', HOME: '/h' }), '/a');
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/b', HOME: '/h' }), '/b/tsland');
  assert.equal(cacheRoot({ HOME: '/h' }), '/h/.cache/tsland');
  const dir = mkdtempSync(join(tmpdir(), 'tsland-cache-test-'));
  try {
    const env = { TSLAND_CACHE_DIR: dir };
    assert.equal(guestPaths(env), null);
    const set = join(dir, 'guest', 'set');
    const layout = setLayout(set, '7.3.4+deb13-amd64');
    mkdirSync(join(set, 'lib'), { recursive: true });
    mkdirSync(join(set, 'bin'), { recursive: true });
    for (const p of [layout.vmlinuxPath, layout.configPath, layout.libbpfPath]) writeFileSync(p, 'x');
    writeFileSync(
      join(set, MANIFEST_NAME),
      JSON.stringify({ kernelVersion: '7.3.4+deb13-amd64', packages: {}, downloadBytes: 1, createdAt: '' }),
    );
    assert.equal(guestPaths(env), null, 'bpftool missing');
    writeFileSync(layout.bpftoolPath, 'x');
    assert.deepEqual(guestPaths(env), layout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host packages: what is missing is named per distribution', () => {
  const none = { PATH: '/nonexistent', TSLAND_QEMU: '/nonexistent/qemu', TSLAND_VIRTIOFSD: '/nonexistent/virtiofsd' };
  assert.deepEqual(missingHostPackages(none, parseOsRelease('ID=debian\nVERSION_ID="12"\n')), [
    'qemu-system-x86',
    'zstd',
    'dpkg',
  ]);
  assert.deepEqual(missingHostPackages(none, parseOsRelease('ID=ubuntu\nVERSION_ID="24.04"\nID_LIKE=debian\n')), [
    'qemu-system-x86',
    'virtiofsd',
    'zstd',
    'dpkg',
  ]);
  assert.equal(virtiofsdFlavor('/usr/lib/qemu/virtiofsd'), 'c');
  assert.equal(virtiofsdFlavor('/usr/libexec/virtiofsd'), 'rust');
});

test('run directories of a killed tsland are swept; a live owner keeps its own', () => {
  const parent = mkdtempSync(join(tmpdir(), 'tsland-sweep-test-'));
  try {
    const dead = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    for (const [name, owner] of [
      ['tsland-guest-dead', dead],
      ['tsland-guest-live', String(process.pid)],
    ]) {
      mkdirSync(join(parent, name!, 'xch'), { recursive: true });
      writeFileSync(join(parent, name!, 'owner.pid'), owner!);
    }
    mkdirSync(join(parent, 'tsland-guest-unowned'));
    sweepStaleRunDirs(parent);
    assert.ok(!existsSync(join(parent, 'tsland-guest-dead')));
    assert.ok(existsSync(join(parent, 'tsland-guest-live')));
    assert.ok(existsSync(join(parent, 'tsland-guest-unowned')));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test("the guest's working directory widens to hold what its own /tmp would hide, and never becomes /", () => {
  // A checkout cloned into /tmp and an exchange directory beside it: their common parent is shared.
  assert.equal(guestWorkDir('/tmp/tsland-demo-x', ['/tmp/clone', '/tmp/clone/dist/src/cli/main.js']), '/tmp');
  assert.equal(guestWorkDir('/tmp/clone/out', ['/tmp/clone']), '/tmp/clone');
  // A checkout the guest sees anyway (the host's root, read-only) changes nothing.
  assert.equal(guestWorkDir('/tmp/x', ['/home/u/tsland', '/srv/policy.js']), '/tmp/x');
  assert.equal(guestWorkDir('/home/u/tsland/soak-results', ['/home/u/tsland']), '/home/u/tsland/soak-results');
  // Hidden in two different places: only / would hold both, and / stays read-only, so the work dir is kept.
  assert.equal(guestWorkDir('/tmp/x', ['/run/pkg']), '/tmp/x');
  assert.ok(hiddenInGuest('/tmp') && hiddenInGuest('/var/tmp/a') && hiddenInGuest('/run/x') && hiddenInGuest('/dev/shm/y'));
  assert.ok(!hiddenInGuest('/tmpfoo') && !hiddenInGuest('/home/tmp') && !hiddenInGuest('/'));
  // What stays out of sight is named, so that the command can refuse before booting (the soak does).
  assert.deepEqual(hiddenFromGuest(guestWorkDir('/work/out', ['/tmp/clone']), ['/tmp/clone']), ['/tmp/clone']);
  assert.deepEqual(hiddenFromGuest(guestWorkDir('/tmp/clone/out', ['/tmp/clone']), ['/tmp/clone']), []);
  assert.deepEqual(hiddenFromGuest('/tmp/x', ['/home/u/tsland']), []);
});
