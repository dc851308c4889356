#!/usr/bin/env node
// Entry point of the `tsland` binary; the logic lives in cli.ts so tests can call it in-process.
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tsland: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.TSLAND_DEBUG) console.error(err);
    process.exitCode = 1;
  },
);
