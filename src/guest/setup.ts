// `tsland guest setup`: fetch a sched_ext kernel and the BPF tools of its era from Debian's archive into the
// cache, without changing the host's apt sources. The set is built in a staging directory and swapped in
// whole, so an interrupted or failed setup leaves the previous set (or none) untouched.

import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  aptDownload,
  aptShow,
  aptUpdate,
  extractDeb,
  KERNEL_SUITE,
  keyringPresent,
  privateApt,
  resolveKernel,
  TOOLS_SUITE,
  type Stanza,
} from './apt.js';
import { compareDebianVersions, upstreamVersion } from './debian-version.js';
import { GuestError } from './errors.js';
import { missingHostPackages, which } from './host.js';
import { guestDir, guestPaths, guestSetDir, MANIFEST_NAME, setLayout, type GuestManifest, type GuestPaths } from './paths.js';
import { configHasSchedExt, vmlinuxFromVmlinuz } from './vmlinuz.js';

/** libbpf older than this lacks what the sched_ext loader needs (user ring buffers, struct_ops links). */
export const MIN_LIBBPF = '1.4';

export interface SetupOptions {
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  /** One line per step that takes a while. */
  onProgress?: (line: string) => void;
  /** Install missing host packages with apt-get when root (default true). */
  installHostPackages?: boolean;
}

export interface SetupResult {
  paths: GuestPaths;
  /** false when the cache was already set up and nothing was fetched. */
  fetched: boolean;
  manifest: GuestManifest;
  setDir: string;
  setSizeBytes: number;
  elapsedMs: number;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err) => resolve({ code: 127, stdout, stderr: err.message }));
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export function dirSizeBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    total += st.isDirectory() ? dirSizeBytes(p) : st.size;
  }
  return total;
}

export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Installs (root) or names (otherwise) the host packages the guest needs. */
async function ensureHostPackages(opts: SetupOptions, say: (line: string) => void): Promise<void> {
  const env = opts.env ?? process.env;
  const need = missingHostPackages(env);
  if (!keyringPresent()) need.push('debian-archive-keyring');
  if (need.length === 0) return;
  const root = process.getuid?.() === 0;
  if (!root || opts.installHostPackages === false) {
    // Setup itself needs only zstd, dpkg-deb and the keyring; qemu and virtiofsd are for `guest run`.
    const forSetup = need.filter((p) => p === 'zstd' || p === 'dpkg' || p === 'debian-archive-keyring');
    if (forSetup.length > 0)
      throw new GuestError(`missing host packages: run as root: apt-get install --no-install-recommends ${need.join(' ')}`);
    say(`note: 'tsland guest run' will need: apt-get install --no-install-recommends ${need.join(' ')} (as root)`);
    return;
  }
  say(`installing host packages: ${need.join(' ')}`);
  const args = ['install', '-y', '-q', '--no-install-recommends', ...need];
  let r = await run('apt-get', args);
  if (r.code !== 0) {
    await run('apt-get', ['update', '-q']);
    r = await run('apt-get', args);
  }
  if (r.code !== 0) {
    const line =
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith('E:'))
        .pop() ??
      r.stderr.trim().split('\n').pop() ??
      '';
    throw new GuestError(`apt-get install ${need.join(' ')} failed: ${line.replace(/^E: /, '')}`);
  }
}

function findFile(root: string, candidates: string[]): string | null {
  for (const c of candidates) if (existsSync(join(root, c))) return join(root, c);
  return null;
}

function newest(stanza: Stanza | null, pkg: string, suite: string): Stanza {
  if (!stanza?.Version) throw new GuestError(`package ${pkg} not found in ${suite}`);
  return stanza;
}

export async function setupGuest(opts: SetupOptions = {}): Promise<SetupResult> {
  const started = Date.now();
  const env = opts.env ?? process.env;
  const say = opts.onProgress ?? (() => {});
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new GuestError(`the sched_ext guest needs Linux on x86_64 (this is ${process.platform}/${process.arch})`);
  }
  const setDir = guestSetDir(env);
  const existing = guestPaths(env);
  if (existing && !opts.force) {
    const manifest = JSON.parse(readFileSync(join(setDir, MANIFEST_NAME), 'utf8')) as GuestManifest;
    return {
      paths: existing,
      fetched: false,
      manifest,
      setDir,
      setSizeBytes: dirSizeBytes(setDir),
      elapsedMs: Date.now() - started,
    };
  }
  if (!which('apt-get', env)) {
    throw new GuestError(
      `apt-get not found: setup fetches Debian packages with apt (Debian, Ubuntu); on other systems run 'tsland guest setup' on such a machine and copy its ${setDir} here`,
    );
  }
  await ensureHostPackages(opts, say);

  const base = guestDir(env);
  const aptRoot = join(base, 'apt');
  const staging = join(base, `staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const kernelSuite = env.TSLAND_GUEST_KERNEL_SUITE || KERNEL_SUITE;
  const kernelApt = privateApt(aptRoot, kernelSuite);
  const toolsApt = privateApt(aptRoot, TOOLS_SUITE);
  try {
    say(`updating package lists of ${kernelSuite} and ${TOOLS_SUITE} (private apt state in ${aptRoot})`);
    await Promise.all([aptUpdate(kernelApt), aptUpdate(toolsApt)]);

    const kernel = await resolveKernel(kernelApt);
    const libbpf = newest(await aptShow(toolsApt, 'libbpf1'), 'libbpf1', TOOLS_SUITE);
    const bpftool = newest(await aptShow(toolsApt, 'bpftool'), 'bpftool', TOOLS_SUITE);
    if (compareDebianVersions(upstreamVersion(libbpf.Version!), MIN_LIBBPF) < 0) {
      throw new GuestError(`libbpf1 in ${TOOLS_SUITE} is ${libbpf.Version}, older than ${MIN_LIBBPF}`);
    }
    const kernelStanzas = await Promise.all(kernel.packages.map((p) => aptShow(kernelApt, p)));
    const sizes = [...kernelStanzas, libbpf, bpftool].map((s) => Number(s?.Size ?? 0));
    const downloadBytes = sizes.reduce((a, b) => a + b, 0);
    say(
      `kernel ${kernel.kernelVersion} (${kernel.packageVersion}), libbpf ${upstreamVersion(libbpf.Version!)}, bpftool ${upstreamVersion(bpftool.Version!)}: downloading ${formatMiB(downloadBytes)}`,
    );

    const debs = join(staging, 'debs');
    const kernelDebs = join(debs, 'kernel');
    const toolDebs = join(debs, 'tools');
    await Promise.all([
      aptDownload(
        kernelApt,
        kernel.packages.map((p) => `${p}=${kernel.packageVersion}`),
        kernelDebs,
      ),
      aptDownload(toolsApt, [`libbpf1=${libbpf.Version}`, `bpftool=${bpftool.Version}`], toolDebs),
    ]);

    say('unpacking and decompressing the kernel');
    const root = join(staging, 'root');
    for (const dir of [kernelDebs, toolDebs]) {
      for (const name of readdirSync(dir).filter((n) => n.endsWith('.deb'))) await extractDeb(join(dir, name), root);
    }
    const kv = kernel.kernelVersion;
    const vmlinuz = findFile(root, [`usr/lib/modules/${kv}/vmlinuz`, `lib/modules/${kv}/vmlinuz`, `boot/vmlinuz-${kv}`]);
    const config = findFile(root, [`usr/lib/modules/${kv}/config`, `lib/modules/${kv}/config`, `boot/config-${kv}`]);
    if (!vmlinuz || !config)
      throw new GuestError(
        `the packages of kernel ${kv} hold no ${vmlinuz ? 'config' : 'vmlinuz'}; Debian's layout may have changed`,
      );
    if (!configHasSchedExt(readFileSync(config, 'utf8'))) {
      throw new GuestError(
        `kernel ${kv} from ${kernelSuite} is built without CONFIG_SCHED_CLASS_EXT=y; no sched_ext guest can be made from it`,
      );
    }
    const libbpfSo = findFile(root, ['usr/lib/x86_64-linux-gnu/libbpf.so.1', 'lib/x86_64-linux-gnu/libbpf.so.1']);
    const bpftoolBin = findFile(root, ['usr/sbin/bpftool', 'usr/bin/bpftool']);
    if (!libbpfSo || !bpftoolBin)
      throw new GuestError(`the ${libbpfSo ? 'bpftool' : 'libbpf1'} package holds no ${libbpfSo ? 'bpftool' : 'libbpf.so.1'}`);

    const newSet = join(staging, 'set');
    const layout = setLayout(newSet, kv);
    mkdirSync(join(newSet, 'lib'), { recursive: true });
    mkdirSync(join(newSet, 'bin'), { recursive: true });
    writeFileSync(layout.vmlinuxPath, await vmlinuxFromVmlinuz(readFileSync(vmlinuz)));
    copyFileSync(config, layout.configPath);
    copyFileSync(realpathSync(libbpfSo), layout.libbpfPath);
    copyFileSync(bpftoolBin, layout.bpftoolPath);
    chmodSync(layout.bpftoolPath, 0o755);
    const check = await run(layout.bpftoolPath, ['version']);
    if (check.code !== 0)
      say(
        `note: the fetched bpftool does not run on this host (${check.stderr.trim().split('\n')[0] ?? ''}); the guest kernel works without it`,
      );

    const packages: Record<string, string> = {};
    kernel.packages.forEach((p) => (packages[p] = kernel.packageVersion));
    packages.libbpf1 = libbpf.Version!;
    packages.bpftool = bpftool.Version!;
    const manifest: GuestManifest = { kernelVersion: kv, packages, downloadBytes, createdAt: new Date().toISOString() };
    writeFileSync(join(newSet, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n');

    // Swap the complete set in.
    const old = join(base, `old-${process.pid}`);
    if (existsSync(setDir)) renameSync(setDir, old);
    renameSync(newSet, setDir);
    rmSync(old, { recursive: true, force: true });
    const paths = guestPaths(env);
    if (!paths) throw new GuestError(`the set in ${setDir} is incomplete after setup`);
    return { paths, fetched: true, manifest, setDir, setSizeBytes: dirSizeBytes(setDir), elapsedMs: Date.now() - started };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
