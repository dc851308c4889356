// A generated C project for the build loop: `files` small translation units, each with enough arithmetic
// that the compiler works for a few milliseconds, linked into one program. `make rebuild` cleans and builds
// again, so every round starts hundreds of short compiler processes.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function unit(i: number): string {
  const fns: string[] = [];
  for (let k = 0; k < 6; k++) {
    fns.push(
      `static unsigned long mix_${i}_${k}(unsigned long x) {`,
      `  for (int r = 0; r < ${8 + k}; r++) x = (x ^ (x >> ${7 + k})) * 0x9E3779B97F4A7C15UL + ${i * 31 + k};`,
      `  return x;`,
      `}`,
    );
  }
  const calls = Array.from({ length: 6 }, (_, k) => `mix_${i}_${k}(seed + ${k})`).join(' ^ ');
  return [`/* generated */`, ...fns, `unsigned long unit_${i}(unsigned long seed) { return ${calls}; }`, ''].join('\n');
}

/** Writes the project into `dir` and returns it; `make -C dir rebuild` builds it from clean. */
export function generateProject(dir: string, files: number): string {
  mkdirSync(join(dir, 'src'), { recursive: true });
  const decls: string[] = [];
  const calls: string[] = [];
  for (let i = 0; i < files - 1; i++) {
    writeFileSync(join(dir, 'src', `u${i}.c`), unit(i));
    decls.push(`unsigned long unit_${i}(unsigned long);`);
    calls.push(`  acc ^= unit_${i}(acc);`);
  }
  writeFileSync(
    join(dir, 'src', 'main.c'),
    [
      '#include <stdio.h>',
      ...decls,
      'int main(void) {',
      '  unsigned long acc = 1;',
      ...calls,
      '  printf("%lu\\n", acc);',
      '  return 0;',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'Makefile'),
    [
      'SRCS := $(wildcard src/*.c)',
      'OBJS := $(SRCS:src/%.c=obj/%.o)',
      'all: bin/prog',
      'bin/prog: $(OBJS)',
      '\t@mkdir -p bin',
      '\t$(CC) -o $@ $(OBJS)',
      'obj/%.o: src/%.c',
      '\t@mkdir -p obj',
      '\t$(CC) -O2 -c -o $@ $<',
      'clean:',
      '\trm -rf obj bin',
      'rebuild:',
      '\t$(MAKE) clean',
      '\t$(MAKE) all',
      '.PHONY: all clean rebuild',
      '',
    ].join('\n'),
  );
  return dir;
}
