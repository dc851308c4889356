// Full-screen terminal handling for `tsland top`: alternate screen, hidden cursor, raw keyboard input, and
// the promise that the terminal is given back as it was on every way out: q, Ctrl-C, SIGTERM, SIGHUP, an
// exception, or the stats source going away.

import type { ReadStream, WriteStream } from 'node:tty';

const ALT_SCREEN_ON = '\x1b[?1049h';
const ALT_SCREEN_OFF = '\x1b[?1049l';
const CURSOR_HIDE = '\x1b[?25l';
const CURSOR_SHOW = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_SCREEN_END = '\x1b[J';

export class TerminalSession {
  private active = false;
  private readonly restoreOnExit = () => this.restore();

  constructor(
    private readonly input: ReadStream,
    private readonly output: WriteStream,
  ) {}

  enter(): void {
    if (this.active) return;
    this.active = true;
    process.on('exit', this.restoreOnExit);
    this.output.write(ALT_SCREEN_ON + CURSOR_HIDE);
    this.input.setRawMode(true);
    this.input.resume();
  }

  /** Idempotent, synchronous (safe inside an 'exit' handler). */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    process.off('exit', this.restoreOnExit);
    try {
      this.input.setRawMode(false);
    } catch {
      /* the terminal may already be gone (SIGHUP) */
    }
    this.input.pause();
    this.output.write(CURSOR_SHOW + ALT_SCREEN_OFF);
  }

  size(): { cols: number; rows: number } {
    return { cols: this.output.columns || 80, rows: this.output.rows || 24 };
  }

  draw(lines: readonly string[]): void {
    this.output.write(HOME + lines.map((l) => l + CLEAR_LINE_END).join('\r\n') + CLEAR_SCREEN_END);
  }
}
