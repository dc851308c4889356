/**
 * Thrown for programming errors only: a bad size or alignment, a pointer the arena never returned, an
 * interior pointer, a double free, a broken invariant found by check(). Running out of memory is not an
 * error: alloc returns 0 and counts a failed allocation.
 *
 * Every call that throws validates before it mutates, so the arena is unchanged after the throw.
 */
export class ArenaError extends Error {
  /** The offset the call was given, or -1 when the error is not about one offset. */
  readonly offset: number;

  constructor(message: string, offset = -1) {
    super(message);
    this.name = 'ArenaError';
    this.offset = offset;
  }
}
