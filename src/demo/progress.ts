// A progress bar for the demo's timed phases, on stderr so the table on stdout stays clean. On a terminal it
// redraws one line; elsewhere (CI logs) it prints a line when a phase starts and ends.

const BAR_CHARS = 30;
const REDRAW_MS = 200;

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = out.isTTY === true;
  }

  /** Shows `label` filling up from startAtMs to endAtMs (epoch ms). */
  phase(label: string, startAtMs: number, endAtMs: number): void {
    this.end();
    const totalS = (endAtMs - startAtMs) / 1000;
    if (!this.tty) {
      this.out.write(`${label}: measuring for ${totalS.toFixed(1)} s\n`);
      return;
    }
    const draw = () => {
      const fraction = Math.min(1, Math.max(0, (Date.now() - startAtMs) / (endAtMs - startAtMs)));
      const full = Math.round(fraction * BAR_CHARS);
      const bar = '█'.repeat(full) + '░'.repeat(BAR_CHARS - full);
      this.out.write(`\r${label.padEnd(22)} [${bar}] ${(fraction * totalS).toFixed(1)}/${totalS.toFixed(1)} s`);
    };
    draw();
    this.timer = setInterval(draw, REDRAW_MS);
  }

  /** A one-off status line (starting, waiting for the tree to exit). */
  note(text: string): void {
    this.end();
    this.out.write(`${text}\n`);
  }

  end(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      if (this.tty) this.out.write('\n');
    }
  }
}
