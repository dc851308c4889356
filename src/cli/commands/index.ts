import type { CommandDef } from '../command.js';
import { attachCommand } from './attach.js';
import { runCommand } from './run.js';
import { startCommand } from './start.js';
import { statsCommand } from './stats.js';
import { topCommand } from './top.js';
import { demoCommand } from './demo.js';
import { benchCommand } from './bench.js';
import { simCommand } from './sim.js';
import { guestCommand } from './guest.js';

// Every command of the CLI, in the order `tsland --help` lists them. Each lives in its own file.
export const commands: CommandDef[] = [
  runCommand,
  startCommand,
  attachCommand,
  topCommand,
  statsCommand,
  simCommand,
  guestCommand,
  benchCommand,
  demoCommand,
];
