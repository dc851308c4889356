import { PerformanceObserver } from 'node:perf_hooks';

/**
 * Counts GC events. Node delivers them to observers from the event loop, so a count is only complete after
 * the loop has turned: call settle() before reading.
 */
export class GcEvents {
  count = 0;
  private readonly observer = new PerformanceObserver((list) => {
    this.count += list.getEntries().length;
  });

  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  async settle(): Promise<number> {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    return this.count;
  }

  close(): void {
    this.observer.disconnect();
  }
}
