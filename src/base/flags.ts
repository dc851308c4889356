// The vocabulary of command-line flags: what a flag is, the values parsed from a command line, and the
// error a user's input raises. Imports nothing: the CLI's parser, the shared session's common flags and the
// stats options all speak it, and none of them needs to import the CLI for it.

export type FlagType = 'string' | 'number' | 'boolean' | 'list';

export interface FlagDef {
  /** Long name without the dashes, e.g. `slice-us`. */
  name: string;
  type: FlagType;
  /** Value placeholder shown in help, e.g. `N`, `PATH`, `LIST`. */
  valueName?: string;
  help: string;
  default?: string | number | boolean;
  short?: string;
  /** For number flags: inclusive bounds, checked where the value enters. */
  min?: number;
  max?: number;
  /** For number flags: reject fractions. */
  integer?: boolean;
  /** For string flags: the only accepted values. */
  choices?: readonly string[];
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

/** A user input error: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}
