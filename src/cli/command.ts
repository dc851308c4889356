// One definition per command feeds the parser, `--help` and the generated CLI reference (docs/cli.md),
// so the three never drift apart.

import { UsageError, type FlagDef, type FlagValues } from '../base/flags.js';

export { UsageError };
export type { FlagDef, FlagType, FlagValues } from '../base/flags.js';

export interface ParsedArgs {
  flags: FlagValues;
  /** Positional arguments before `--`. */
  positionals: string[];
  /** Everything after `--` (the command to run, for `tsland run`). */
  rest: string[];
}

export interface CommandDef {
  name: string;
  summary: string;
  /** Usage line after `tsland <name>`, e.g. `[options] -- cmd args...`. */
  usage: string;
  flags: FlagDef[];
  /** Longer description, shown by `--help` and in the reference. */
  description?: string;
  examples?: string[];
  /** Whether words after `--` are accepted. */
  takesRest?: boolean;
  /** Max positional arguments (default 0). */
  maxPositionals?: number;
  run(args: ParsedArgs): Promise<number> | number;
}

const HELP_FLAG: FlagDef = { name: 'help', short: 'h', type: 'boolean', help: 'Show this help and exit.' };

export function allFlags(def: CommandDef): FlagDef[] {
  return [...def.flags, HELP_FLAG];
}

function parseNumber(def: FlagDef, raw: string): number {
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value)) throw new UsageError(`--${def.name} takes a number, got '${raw}'`);
  if (def.integer && !Number.isInteger(value)) throw new UsageError(`--${def.name} takes a whole number, got '${raw}'`);
  if (def.min !== undefined && value < def.min) throw new UsageError(`--${def.name} must be at least ${def.min}, got ${raw}`);
  if (def.max !== undefined && value > def.max) throw new UsageError(`--${def.name} must be at most ${def.max}, got ${raw}`);
  return value;
}

function convert(def: FlagDef, raw: string): string | number | string[] {
  switch (def.type) {
    case 'number':
      return parseNumber(def, raw);
    case 'list': {
      const items = raw.split(',').map((s) => s.trim());
      if (items.some((s) => s === '')) throw new UsageError(`--${def.name} takes a comma-separated list, got '${raw}'`);
      return items;
    }
    default:
      if (def.choices && !def.choices.includes(raw)) {
        throw new UsageError(`--${def.name} must be one of ${def.choices.join(', ')}; got '${raw}'`);
      }
      return raw;
  }
}

/** Parses argv for one command; throws UsageError naming the offending flag. */
export function parseArgs(def: CommandDef, argv: readonly string[]): ParsedArgs {
  const flags: FlagValues = {};
  const byName = new Map<string, FlagDef>();
  for (const f of allFlags(def)) {
    byName.set(f.name, f);
    if (f.short) byName.set(f.short, f);
    if (f.default !== undefined) flags[f.name] = f.default;
  }
  const positionals: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (word.startsWith('-') && word !== '-') {
      const long = word.startsWith('--');
      let name = word.slice(long ? 2 : 1);
      let inline: string | undefined;
      const eq = name.indexOf('=');
      if (long && eq >= 0) {
        inline = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      let f = byName.get(name);
      let negated = false;
      if (!f && long && name.startsWith('no-')) {
        const positive = byName.get(name.slice(3));
        if (positive && positive.type === 'boolean') {
          f = positive;
          negated = true;
        }
      }
      if (!f || (!long && f.short !== name) || (long && f.name !== name && !negated)) {
        throw new UsageError(`unknown option '${word}' for 'tsland ${def.name}' (see tsland ${def.name} --help)`);
      }
      if (f.type === 'boolean') {
        if (inline !== undefined) throw new UsageError(`--${f.name} takes no value`);
        flags[f.name] = !negated;
        continue;
      }
      const raw = inline ?? argv[++i];
      if (raw === undefined || (inline === undefined && raw.startsWith('--'))) {
        throw new UsageError(`--${f.name} needs a value (${f.valueName ?? f.type})`);
      }
      flags[f.name] = convert(f, raw);
      continue;
    }
    positionals.push(word);
  }
  if (flags.help) return { flags, positionals, rest };
  if (positionals.length > (def.maxPositionals ?? 0)) {
    throw new UsageError(`unexpected argument '${positionals[def.maxPositionals ?? 0]}' for 'tsland ${def.name}'`);
  }
  if (rest.length > 0 && !def.takesRest) throw new UsageError(`'tsland ${def.name}' takes no command after --`);
  return { flags, positionals, rest };
}

function flagLabel(f: FlagDef): string {
  const value = f.type === 'boolean' ? '' : ` ${f.valueName ?? (f.type === 'number' ? 'N' : 'VALUE')}`;
  return `${f.short ? `-${f.short}, ` : ''}--${f.name}${value}`;
}

function flagHelp(f: FlagDef): string {
  let text = f.help;
  if (f.choices) text += ` One of: ${f.choices.join(', ')}.`;
  if (f.default !== undefined && f.type !== 'boolean') text += ` Default: ${f.default}.`;
  return text;
}

export function helpText(def: CommandDef): string {
  const lines = [`Usage: tsland ${def.name} ${def.usage}`, '', def.summary];
  if (def.description) lines.push('', def.description);
  lines.push('', 'Options:');
  const flags = allFlags(def);
  const width = Math.max(...flags.map((f) => flagLabel(f).length));
  for (const f of flags) lines.push(`  ${flagLabel(f).padEnd(width)}  ${flagHelp(f)}`);
  if (def.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of def.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n');
}

/** Markdown reference for one command, used to generate docs/cli.md. */
export function markdownReference(def: CommandDef): string {
  const lines = [`## tsland ${def.name}`, '', def.summary, '', '```', `tsland ${def.name} ${def.usage}`, '```'];
  if (def.description) lines.push('', def.description);
  lines.push('', '| option | meaning |', '| --- | --- |');
  // A pipe inside a table cell, even in a code span, splits the cell: escape it in both columns.
  const cell = (text: string) => text.replaceAll('|', '\\|');
  for (const f of allFlags(def)) lines.push(`| \`${cell(flagLabel(f))}\` | ${cell(flagHelp(f))} |`);
  if (def.examples?.length) lines.push('', '```sh', ...def.examples, '```');
  return lines.join('\n');
}
