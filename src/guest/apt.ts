// Fetching packages from Debian's archive with apt-get, through a private configuration that never reads or
// changes the host's sources: one state directory per suite under the cache, its own sources.list naming
// only that suite, signed by Debian's archive keyring.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareDebianVersions } from './debian-version.js';
import { GuestError } from './errors.js';

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Suite of the kernel: trixie-backports carries kernels built with CONFIG_SCHED_CLASS_EXT=y. */
export const KERNEL_SUITE = 'trixie-backports';
/** Suite of libbpf and bpftool: built against glibc 2.36, so they run on Debian 12 and newer hosts. */
export const TOOLS_SUITE = 'bookworm-backports';
export const KERNEL_METAPACKAGE = 'linux-image-amd64';

export interface PrivateApt {
  suite: string;
  dir: string;
  /** Options that point apt at the private state only. */
  options: string[];
  /** The one line of the private sources.list. */
  sourcesLine: string;
}

export function privateApt(
  aptRoot: string,
  suite: string,
  opts: { mirror?: string; keyring?: string; root?: boolean } = {},
): PrivateApt {
  const dir = join(aptRoot, suite);
  const keyring = opts.keyring ?? DEBIAN_KEYRING;
  const options = [
    `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
    'Dir::Etc::SourceParts=/dev/null',
    'Dir::Etc::Preferences=/dev/null',
    'Dir::Etc::PreferencesParts=/dev/null',
    `Dir::State=${join(dir, 'state')}`,
    `Dir::State::Lists=${join(dir, 'lists')}`,
    'Dir::State::status=/dev/null',
    `Dir::Cache=${join(dir, 'cache')}`,
    'APT::Architecture=amd64',
    'APT::Architectures=amd64',
    'Acquire::Languages=none',
    'Acquire::Retries=3',
  ];
  // As root apt drops to the _apt user for downloads, which cannot enter a private cache under ~root.
  if (opts.root ?? process.getuid?.() === 0) options.push('APT::Sandbox::User=root');
  const line = `deb [arch=amd64 signed-by=${keyring}] ${opts.mirror ?? DEBIAN_MIRROR} ${suite} main\n`;
  return { suite, dir, options: options.flatMap((o) => ['-o', o]), sourcesLine: line };
}

function prepare(apt: PrivateApt): void {
  for (const sub of ['lists/partial', 'cache/archives/partial', 'state']) mkdirSync(join(apt.dir, sub), { recursive: true });
  writeFileSync(join(apt.dir, 'sources.list'), apt.sourcesLine);
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function runTool(cmd: string, args: string[], cwd?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The most telling line of apt's stderr, for a one-line error. */
export function aptErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const pick = lines.find((l) => /^E: /.test(l)) ?? lines.find((l) => /^W: /.test(l)) ?? lines[lines.length - 1] ?? 'no message';
  return pick.replace(/^[EW]: /, '');
}

/** `apt-get update` of the private state (a few hundred KiB per suite). */
export async function aptUpdate(apt: PrivateApt): Promise<void> {
  prepare(apt);
  const r = await runTool('apt-get', [...apt.options, '-q', 'update']);
  const failed = r.code !== 0 || /^(W|E): (Failed to fetch|Some index files failed)/m.test(r.stderr);
  if (failed) {
    const line = aptErrorLine(r.stderr);
    if (
      /Could not resolve|Temporary failure|Network is unreachable|Connection (timed out|refused)|Failed to fetch/i.test(r.stderr)
    ) {
      throw new GuestError(
        `cannot reach ${DEBIAN_MIRROR} (${line}); check the network or proxy (apt's Acquire::http::Proxy is honoured) and try again`,
      );
    }
    throw new GuestError(`apt-get update of ${apt.suite} failed: ${line}`);
  }
}

export interface Stanza {
  [field: string]: string;
}

/** Parses `apt-cache show` output (RFC 822-like stanzas separated by blank lines). */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const stanza: Stanza = {};
    let last = '';
    for (const line of block.split('\n')) {
      if (/^\s/.test(line) && last) {
        stanza[last] += '\n' + line.trim();
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (m) {
        last = m[1]!;
        stanza[last] = m[2]!;
      }
    }
    if (stanza.Package) out.push(stanza);
  }
  return out;
}

/** The stanza with the highest version (a suite may list several versions of a package). */
export function newestStanza(stanzas: Stanza[], pkg: string): Stanza | null {
  let best: Stanza | null = null;
  for (const s of stanzas) {
    if (s.Package !== pkg || !s.Version) continue;
    if (!best || compareDebianVersions(s.Version, best.Version!) > 0) best = s;
  }
  return best;
}

export interface Dependency {
  name: string;
  version?: string;
}

/** `Depends:` as a list (only the first of each `a | b` alternative). */
export function parseDepends(field: string | undefined): Dependency[] {
  if (!field) return [];
  return field.split(',').map((item) => {
    const first = item.split('|')[0]!.trim();
    const m = /^([^\s(]+)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(first);
    return m ? (m[2] ? { name: m[1]!, version: m[2] } : { name: m[1]! }) : { name: first };
  });
}

export async function aptShow(apt: PrivateApt, pkg: string): Promise<Stanza | null> {
  const r = await runTool('apt-cache', [...apt.options, 'show', pkg]);
  if (r.code !== 0) return null;
  return newestStanza(parseStanzas(r.stdout), pkg);
}

export interface KernelPackages {
  kernelVersion: string;
  packageVersion: string;
  /** Packages to download: those holding vmlinuz and config. */
  packages: string[];
}

/**
 * From the metapackage's stanza and the image package's: the kernel release and the packages that hold its
 * files. Since 6.17 Debian splits linux-image-X into linux-binary-X (vmlinuz) and linux-base-X (config);
 * older images hold both themselves.
 */
export function kernelPackagesFrom(meta: Stanza, image: (name: string) => Stanza | null): KernelPackages {
  const dep = parseDepends(meta.Depends).find((d) => /^linux-image-\d/.test(d.name));
  if (!dep) throw new GuestError(`${KERNEL_METAPACKAGE} ${meta.Version ?? ''} in ${KERNEL_SUITE} names no linux-image package`);
  const kernelVersion = dep.name.slice('linux-image-'.length);
  const imageStanza = image(dep.name);
  const packageVersion = dep.version ?? imageStanza?.Version ?? meta.Version ?? '';
  const parts = parseDepends(imageStanza?.Depends)
    .map((d) => d.name)
    .filter((n) => n === `linux-binary-${kernelVersion}` || n === `linux-base-${kernelVersion}`);
  return { kernelVersion, packageVersion, packages: parts.length > 0 ? parts : [dep.name] };
}

export async function resolveKernel(apt: PrivateApt): Promise<KernelPackages> {
  const meta = await aptShow(apt, KERNEL_METAPACKAGE);
  if (!meta)
    throw new GuestError(
      `package ${KERNEL_METAPACKAGE} not found in ${KERNEL_SUITE}; the archive may have moved on: report it, or set TSLAND_GUEST_KERNEL_SUITE`,
    );
  const dep = parseDepends(meta.Depends).find((d) => /^linux-image-\d/.test(d.name));
  const image = dep ? await aptShow(apt, dep.name) : null;
  return kernelPackagesFrom(meta, () => image);
}

/** `apt-get download name=version ...` into dir; returns the .deb paths. */
export async function aptDownload(apt: PrivateApt, specs: string[], dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const r = await runTool('apt-get', [...apt.options, '-q', 'download', ...specs], dir);
  if (r.code !== 0) {
    const line = aptErrorLine(r.stderr);
    if (/Unable to locate|Can't find a source|has no installation candidate|Version .* was not found/i.test(r.stderr)) {
      throw new GuestError(`package not found in ${apt.suite}: ${line}`);
    }
    if (/Could not resolve|Temporary failure|Network is unreachable|Failed to fetch/i.test(r.stderr)) {
      throw new GuestError(`cannot download from ${DEBIAN_MIRROR} (${line}); check the network and try again`);
    }
    throw new GuestError(`apt-get download failed: ${line}`);
  }
}

/** `dpkg-deb -x` of one package into dir. */
export async function extractDeb(deb: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const r = await runTool('dpkg-deb', ['-x', deb, dir]);
  if (r.code !== 0) throw new GuestError(`cannot unpack ${deb}: ${aptErrorLine(r.stderr)}`);
}

export function keyringPresent(keyring = DEBIAN_KEYRING): boolean {
  return existsSync(keyring);
}
