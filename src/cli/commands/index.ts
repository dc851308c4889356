import type { CommandDef } from '../command.js';
import { statsCommand } from './stats.js';
import { topCommand } from './top.js';

// Every command of the CLI, in the order `tsland --help` lists them. Each lives in its own file.
export const commands: CommandDef[] = [topCommand, statsCommand];
