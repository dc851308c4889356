// The peer schedulers bench:scx runs beside tsland: the kernel tree's own sched_ext examples scx_simple (all in
// BPF), scx_userland (decides in user space, in C) and scx_qmap, built from Debian's linux-source package of
// the guest kernel's series, against the guest kernel's BTF, and cached:
//
//   <cacheRoot>/peers/<version>/bin/{scx_simple,scx_userland,scx_qmap}   (version: the kernel source's, 7.3.4)
//   <cacheRoot>/peers/<version>/manifest.json                           written last: present means complete
//   <cacheRoot>/peers/<version>/build.log                               make's output
//
// The package comes through the guest's private apt state (src/guest/apt.ts), so the host's sources are never
// read or changed. Everything is built in <cacheRoot>/peers/staging-<pid>/ and the finished directory is
// swapped in whole: a failed or interrupted build leaves the previous one (or none).
//
// Usage: npm run bench:peers [-- --rebuild]      (or node dist/bench/scx/peers.js [--rebuild] [--help])

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  aptDownload,
  aptShow,
  aptUpdate,
  extractDeb,
  KERNEL_SUITE,
  keyringPresent,
  privateApt,
  type PrivateApt,
  type Stanza,
} from '../../src/guest/apt.js';
import { compareDebianVersions, upstreamVersion } from '../../src/guest/debian-version.js';
import { GuestError } from '../../src/guest/errors.js';
import { which } from '../../src/guest/host.js';
import { guestDir, guestPaths } from '../../src/guest/paths.js';
import { formatMiB } from '../../src/guest/setup.js';
import {
  binariesOf,
  cachedPeers,
  OPTIONAL_PEERS,
  PEERS_MANIFEST,
  peersRoot,
  REQUIRED_PEERS,
  type PeerBinaries,
  type PeersManifest,
} from '../../src/guest/peers-cache.js';

// The cache's layout and its completeness check live in src (the demo runs cached peers); bench:peers builds into it.
export {
  cachedPeers,
  manifestProblem,
  OPTIONAL_PEERS,
  PEERS_MANIFEST,
  peersRoot,
  REQUIRED_PEERS,
} from '../../src/guest/peers-cache.js';
export type { PeerBinaries, PeersManifest } from '../../src/guest/peers-cache.js';

/** The BPF halves need clang >= 16 (the scx headers' BTF tags and the -mcpu=v3 atomics). */
export const MIN_CLANG = 16;
/**
 * scx_qmap keeps its queues in a BPF arena, and clang-19 drops an address-space cast in qmap_dequeue that the
 * 7.3 verifier then rejects ("R7 invalid mem access 'scalar'"); clang-22 (Debian 12: bookworm-security) makes
 * code it accepts. 20 and 21 were not tried, so they count as too old.
 */
export const QMAP_MIN_CLANG = 22;

/**
 * What of the kernel tree `make -C tools/sched_ext` reads, relative to the tree's top (found by building
 * with less): tools/ holds the Makefile, libbpf, bpftool and the scx headers; libbpf generates
 * bpf_helper_defs.h with scripts/bpf_doc.py; bpftool compiles the verifier's disassembler from kernel/bpf/.
 * The rest of the 1.5 GB tree is never unpacked.
 */
export const SOURCE_PATHS = ['tools', 'scripts/bpf_doc.py', 'kernel/bpf/disasm.c', 'kernel/bpf/disasm.h'] as const;

export interface EnsurePeersOptions {
  say?: (line: string) => void;
  /** Build again even when a complete cache is there. */
  rebuild?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** "7.3" of linux-source-7.3 or of 7.3.4+deb13-amd64; null for anything else (the linux-source metapackage). */
export function kernelSeries(text: string): string | null {
  const m = /^linux-source-(\d+)\.(\d+)$/.exec(text) ?? /^(\d+)\.(\d+)(?:$|[.+-])/.exec(text);
  return m ? `${m[1]}.${m[2]}` : null;
}

/**
 * The linux-source-X.Y stanza to build from: the newest one of the guest kernel's series when the suite
 * carries it (the examples' headers must agree with the BTF they are compiled against), else the newest of
 * all. Debian's versions order them, so 7.10 comes after 7.9.
 */
export function chooseLinuxSource(stanzas: Stanza[], guestKernel?: string | null): Stanza | null {
  const sources = stanzas.filter((s) => s.Package && s.Version && /^linux-source-\d+\.\d+$/.test(s.Package));
  const series = guestKernel ? kernelSeries(guestKernel) : null;
  const matching = sources.filter((s) => kernelSeries(s.Package!) === series);
  let best: Stanza | null = null;
  for (const s of matching.length > 0 ? matching : sources) {
    if (!best || compareDebianVersions(s.Version!, best.Version!) > 0) best = s;
  }
  return best;
}

/** The tar members to extract from the source tarball whose top directory is `top` (linux-source-7.3). */
export function tarMembers(top: string): string[] {
  return SOURCE_PATHS.map((p) => `${top}/${p}`);
}

/**
 * clang names to try, newest first: every clang-N (N >= 16) among `names` (the files on PATH), then plain
 * clang. The newest is preferred because it is the one that can build scx_qmap.
 */
export function clangCandidates(names: Iterable<string>): string[] {
  const versioned = new Map<number, string>();
  for (const n of names) {
    const m = /^clang-(\d+)$/.exec(n);
    if (m && Number(m[1]) >= MIN_CLANG) versioned.set(Number(m[1]), n);
  }
  return [...[...versioned.keys()].sort((a, b) => b - a).map((k) => versioned.get(k)!), 'clang'];
}

/** The major version in `clang --version`'s first line, or 0. */
export function clangMajor(versionLine: string): number {
  return Number(/version (\d+)/.exec(versionLine)?.[1] ?? 0);
}

export interface BuildTools {
  /** clang >= 16 as found, e.g. clang-19, or null. */
  clang: string | null;
}

/** The Debian packages the build needs: [package, why]. clang's version suffix picks the llvm package. */
export function buildPackages(tools: BuildTools): [string, string][] {
  const suffix = tools.clang ? (/clang(-\d+)?$/.exec(tools.clang)?.[1] ?? '') : '-19';
  return [
    ['make', 'make'],
    ['gcc', 'the user-space halves, libbpf and bpftool'],
    ['libc6-dev', 'C headers'],
    ['libelf-dev', "libelf.h (libbpf's ELF reader)"],
    ['zlib1g-dev', 'zlib.h (libbpf)'],
    ['python3', "scripts/bpf_doc.py (libbpf's bpf_helper_defs.h)"],
    ['xz-utils', 'the source tarball'],
    [`clang${suffix}`, 'the BPF halves (clang >= 16)'],
    [`llvm${suffix}`, `llvm-strip${suffix} (bpftool's own BPF objects)`],
  ];
}

/** Package names that `dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n'` reports as installed ("ii"). */
export function installedFromDpkgQuery(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+?)(?::\S+)?\s+ii\b/.exec(line.trim());
    if (m) out.add(m[1]!);
  }
  return out;
}

/** Those of `needed` not in `installed`, in the order needed. */
export function missingPackages(needed: [string, string][], installed: Set<string>): [string, string][] {
  return needed.filter(([pkg]) => !installed.has(pkg));
}

/** One line naming what to install and why. */
export function missingPackagesMessage(missing: [string, string][]): string {
  const why = missing.map(([pkg, reason]) => `${pkg}: ${reason}`).join('; ');
  return `building the peer schedulers needs host packages that are missing (${why}): as root, apt-get install --no-install-recommends ${missing.map(([p]) => p).join(' ')}`;
}

/**
 * The progress line for one line of make's output, or null for the hundreds of others: the library and tool
 * it builds first, then each scheduler's BPF object, skeleton and link.
 */
export function makeMilestone(line: string): string | null {
  if (/^\s*LINK\s+\S*\/obj\/libbpf\/libbpf\.a$/.test(line)) return 'libbpf built';
  if (/^\s*LINK\s+\S*\/bootstrap\/bpftool$/.test(line)) return 'bpftool (bootstrap) built';
  if (/^\s*INSTALL\s+bpftool$/.test(line)) return "bpftool built; compiling the schedulers' BPF halves";
  let m = /^\s*CLNG-BPF\s+(\S+)\.bpf\.o$/.exec(line);
  if (m) return `compiling ${m[1]}.bpf.c`;
  // The BPF half and its skeleton are made quietly; the user half's compile line follows them.
  m = /\s-c\s+(scx_\w+)\.c\s/.exec(line);
  if (m) return `compiling ${m[1]}.c`;
  m = /\s-o\s+\S*\/bin\/(scx_\w+)\s/.exec(line);
  if (m) return `linked ${m[1]}`;
  return null;
}

/** The lines of a failed make worth showing: compiler and make errors, at most `max`. */
export function errorLines(log: string, max = 8): string[] {
  return log
    .split('\n')
    .filter((l) => /(error|Error \d+|No such file|not found|undefined reference|No rule to make)/.test(l))
    .slice(0, max);
}

// ---------------------------------------------------------------------------------------------------------

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err) => resolve({ code: 127, stdout, stderr: err.message }));
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function fileBytes(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/** staging-<pid> and old-<pid> directories left by builds whose process is gone (killed mid-build). */
function sweepStale(root: string): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    const m = /^(?:staging|old)-(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }
}

/** TSLAND_CLANG, else the newest clang >= 16 on PATH, with its version line; null when there is none. */
function findPeersClang(env: NodeJS.ProcessEnv): { path: string; version: string; major: number } | null {
  const names = new Set<string>();
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    try {
      for (const n of readdirSync(dir)) if (n.startsWith('clang')) names.add(n);
    } catch {
      // a PATH entry that does not exist
    }
  }
  for (const name of env.TSLAND_CLANG ? [env.TSLAND_CLANG] : clangCandidates(names)) {
    const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const version = (r.stdout.split('\n')[0] ?? '').trim();
    const major = clangMajor(version);
    if (major >= MIN_CLANG) return { path: name, version, major };
  }
  return null;
}

async function hostMissing(clang: string | null, env: NodeJS.ProcessEnv): Promise<[string, string][]> {
  const needed = buildPackages({ clang });
  // Without dpkg (not Debian) nothing is checked here: make's own error says what is missing.
  if (!which('dpkg-query', env)) return clang ? [] : needed.slice(-2);
  const r = await run('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Abbrev}\n', ...needed.map(([p]) => p)]);
  const installed = installedFromDpkgQuery(r.stdout);
  // A clang >= 16 and its llvm-strip found on PATH (TSLAND_CLANG, a hand-built LLVM) do, whatever dpkg says.
  if (clang && which(toolName('llvm-strip', clang), env)) for (const [p] of needed.slice(-2)) installed.add(p);
  return missingPackages(needed, installed);
}

/** llvm-strip-19 beside clang-19, llvm-strip beside clang. */
function toolName(tool: string, clang: string): string {
  return `${tool}${/clang(-\d+)?$/.exec(clang)?.[1] ?? ''}`;
}

async function resolveSource(apt: PrivateApt, guestKernel: string | null): Promise<Stanza> {
  const names = await run('apt-cache', [...apt.options, 'pkgnames', 'linux-source-']);
  const candidates = names.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((n) => /^linux-source-\d+\.\d+$/.test(n));
  const stanzas = (await Promise.all(candidates.map((n) => aptShow(apt, n)))).filter((s): s is Stanza => s !== null);
  const chosen = chooseLinuxSource(stanzas, guestKernel);
  if (!chosen)
    throw new GuestError(
      `no linux-source-X.Y package in ${apt.suite}; the archive may have moved on: set TSLAND_GUEST_KERNEL_SUITE`,
    );
  return chosen;
}

function runMake(args: string[], cwd: string, logPath: string, say: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const log = createWriteStream(logPath);
    const child = spawn('make', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let pending = '';
    const onData = (d: string): void => {
      log.write(d);
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const note = makeMilestone(line);
        if (note) say(`  ${note}`);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    const finish = (code: number): void => {
      log.end(() => resolve(code));
    };
    child.once('error', (err) => {
      log.write(`${err.message}\n`);
      finish(127);
    });
    child.once('close', (code) => finish(code ?? 1));
  });
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The peers' binaries: from the cache at once when complete, else downloaded, built and cached. */
export async function ensurePeers(opts: EnsurePeersOptions = {}): Promise<PeerBinaries> {
  const env = opts.env ?? process.env;
  const say = opts.say ?? (() => {});
  const guest = guestPaths(env);
  const btfPath = env.TSLAND_VMLINUX || guest?.vmlinuxPath;
  const btfKernel = env.TSLAND_VMLINUX ? `file:${env.TSLAND_VMLINUX}` : (guest?.kernelVersion ?? null);
  sweepStale(peersRoot(env));
  if (!opts.rebuild) {
    const hit = cachedPeers(env, btfKernel);
    if (hit) return hit.peers;
    if (btfKernel) say(`no complete build in ${peersRoot(env)} for the BTF of ${btfKernel}: building one`);
  }
  if (!btfPath || !btfKernel) {
    throw new GuestError(
      "the peers are compiled against the sched_ext kernel's BTF, and there is none: run `tsland guest setup` first (or set TSLAND_VMLINUX to a vmlinux with BTF)",
    );
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new GuestError(`the peers are built for Linux on x86_64 (this is ${process.platform}/${process.arch})`);
  }
  if (!which('apt-get', env) || !keyringPresent()) {
    throw new GuestError('the kernel source comes from Debian with apt-get and debian-archive-keyring; neither is usable here');
  }
  const clang = findPeersClang(env);
  const missing = await hostMissing(clang?.path ?? null, env);
  if (missing.length > 0) throw new GuestError(missingPackagesMessage(missing));
  if (!clang) throw new GuestError(missingPackagesMessage(buildPackages({ clang: null }).slice(-2)));

  const started = Date.now();
  const root = peersRoot(env);
  mkdirSync(root, { recursive: true });
  const staging = join(root, `staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const suite = env.TSLAND_GUEST_KERNEL_SUITE || KERNEL_SUITE;
  // The guest's private apt state: its lists are shared with `tsland guest setup`.
  const apt = privateApt(join(guestDir(env), 'apt'), suite);
  try {
    say(`updating the package list of ${suite} (private apt state in ${apt.dir})`);
    await aptUpdate(apt);
    const source = await resolveSource(apt, guest?.kernelVersion ?? null);
    const pkg = source.Package!;
    const version = upstreamVersion(source.Version!);
    const downloadBytes = Number(source.Size ?? 0);
    if (guest && kernelSeries(guest.kernelVersion) !== kernelSeries(pkg)) {
      say(
        `note: ${suite} has no source of the guest kernel's series (${guest.kernelVersion}); building ${pkg} against its BTF anyway`,
      );
    }
    say(`${pkg} ${source.Version}: downloading ${formatMiB(downloadBytes)}`);
    const debs = join(staging, 'debs');
    await aptDownload(apt, [`${pkg}=${source.Version}`], debs);
    const deb = readdirSync(debs).find((n) => n.endsWith('.deb'));
    if (!deb) throw new GuestError(`apt-get download of ${pkg} left no .deb`);
    const unpacked = join(staging, 'deb');
    await extractDeb(join(debs, deb), unpacked);
    rmSync(debs, { recursive: true, force: true });
    const srcDir = join(unpacked, 'usr', 'src');
    const tarball = existsSync(srcDir)
      ? readdirSync(srcDir).find((n) => /^linux-source-.*\.tar\.(xz|gz|bz2|zst)$/.test(n))
      : undefined;
    if (!tarball) throw new GuestError(`${pkg} holds no /usr/src/linux-source-*.tar.*; Debian's layout may have changed`);
    const top = tarball.replace(/\.tar\.\w+$/, '');
    const tree = join(staging, 'src');
    mkdirSync(tree, { recursive: true });
    say(
      `unpacking ${SOURCE_PATHS.join(', ')} from ${tarball} (${formatMiB(fileBytes(join(srcDir, tarball)) ?? 0)}; the whole tarball is read)`,
    );
    const tar = await run('tar', ['-xf', join(srcDir, tarball), '-C', tree, '--strip-components=1', ...tarMembers(top)]);
    if (tar.code !== 0) throw new GuestError(`cannot unpack ${tarball}: ${tar.stderr.trim().split('\n')[0] ?? ''}`);
    rmSync(unpacked, { recursive: true, force: true });

    const out = join(staging, 'out');
    mkdirSync(out, { recursive: true });
    const jobs = Math.max(1, availableParallelism());
    const skipped: PeersManifest['skipped'] = {};
    if (clang.major < QMAP_MIN_CLANG) {
      skipped.scx_qmap = `not built: ${clang.path} makes arena code the kernel's verifier rejects; install clang-${QMAP_MIN_CLANG} llvm-${QMAP_MIN_CLANG} and run with --rebuild`;
      say(`note: scx_qmap ${skipped.scx_qmap}`);
    }
    const targets = [...REQUIRED_PEERS, ...OPTIONAL_PEERS.filter((n) => !skipped[n])];
    const logPath = join(staging, 'build.log');
    // -k: an optional peer that fails to build must not stop the others. The tree's tools/ Makefiles take
    // CLANG and the LLVM tools by name; without LLVM=1 the user-space halves are built with gcc.
    const args = [
      '-k',
      `-j${jobs}`,
      `O=${out}`,
      `VMLINUX_BTF=${btfPath}`,
      `CLANG=${clang.path}`,
      `LLC=${toolName('llc', clang.path)}`,
      `LLVM_STRIP=${toolName('llvm-strip', clang.path)}`,
      `LLVM_OBJCOPY=${toolName('llvm-objcopy', clang.path)}`,
      `LLVM_CONFIG=${toolName('llvm-config', clang.path)}`,
      ...targets,
    ];
    say(
      `building ${targets.join(' ')} with ${clang.path} against the BTF of ${btfKernel} (libbpf and bpftool first; ~1 min on 2 cores)`,
    );
    const code = await runMake(args, join(tree, 'tools', 'sched_ext'), logPath, say);
    const built = join(out, 'build', 'bin');
    const log = readFileSync(logPath, 'utf8');
    const lacking = REQUIRED_PEERS.filter((n) => !existsSync(join(built, n)));
    if (lacking.length > 0) {
      const kept = join(root, 'last-failed-build.log');
      copyFileSync(logPath, kept);
      throw new GuestError(
        `make -C tools/sched_ext of ${pkg} ${source.Version} failed (exit ${code}; no ${lacking.join(', ')}); full log in ${kept}:\n  ${errorLines(log).join('\n  ')}`,
      );
    }

    const final = join(staging, 'final');
    mkdirSync(join(final, 'bin'), { recursive: true });
    const binaries: PeersManifest['binaries'] = {};
    for (const name of targets) {
      const from = join(built, name);
      if (!existsSync(from)) {
        skipped[name] = errorLines(log, 1)[0] ?? `make exited ${code}`;
        say(`note: ${name} did not build (${skipped[name]}); going on without it`);
        continue;
      }
      const to = join(final, 'bin', name);
      copyFileSync(from, to);
      chmodSync(to, 0o755);
      binaries[name] = { sha256: sha256File(to), bytes: statSync(to).size };
    }
    copyFileSync(logPath, join(final, 'build.log'));
    const manifest: PeersManifest = {
      version,
      sourcePackage: pkg,
      packageVersion: source.Version!,
      btfKernel,
      clang: clang.version,
      binaries,
      skipped,
      downloadBytes,
      buildSeconds: Math.round((Date.now() - started) / 1000),
      builtAt: new Date().toISOString(),
    };
    writeFileSync(join(final, PEERS_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');

    // Swap the complete directory in.
    const dir = join(root, version);
    const old = join(root, `old-${process.pid}`);
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(final, dir);
    rmSync(old, { recursive: true, force: true });
    say(`built in ${manifest.buildSeconds} s: ${dir}/bin`);
    return binariesOf(dir, manifest);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------

export const USAGE = `usage: npm run bench:peers [-- --rebuild]
       node dist/bench/scx/peers.js [--rebuild] [--help]

Builds the kernel's sched_ext example schedulers scx_simple, scx_userland and scx_qmap (bench:scx's peers)
from Debian's linux-source package (${KERNEL_SUITE}, ~160 MiB download) against the guest kernel's BTF, and
caches them in <cache>/peers/<version>/bin. Needs \`tsland guest setup\` first. A complete cache is reused
at once; --rebuild builds again.`;

/** The CLI's flags, or an error line. */
export function parsePeersArgs(argv: string[]): { help: boolean; rebuild: boolean } | { error: string } {
  const out = { help: false, rebuild: false };
  for (const a of argv) {
    if (a === '--help' || a === '-h') out.help = true;
    else if (a === '--rebuild') out.rebuild = true;
    else return { error: `unknown argument ${a}` };
  }
  return out;
}

async function main(): Promise<number> {
  const args = parsePeersArgs(process.argv.slice(2));
  if ('error' in args) {
    console.error(`bench:peers: ${args.error}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    const p = await ensurePeers({ rebuild: args.rebuild, say: (line) => console.log(`bench:peers: ${line}`) });
    console.log(`bench:peers: ${p.version} in ${p.dir}`);
    console.log(`  scx_simple   ${p.simple}`);
    console.log(`  scx_userland ${p.userland}`);
    console.log(`  scx_qmap     ${p.qmap ?? `(none: ${p.skipped.scx_qmap ?? 'see manifest.json'})`}`);
    return 0;
  } catch (err) {
    if (err instanceof GuestError) {
      console.error(`bench:peers: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
