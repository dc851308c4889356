// Errors of the guest part meant for the user: one line that says what went wrong and what to do.

export class GuestError extends Error {
  override name = 'GuestError';
  /** The guest died while booting, before the command started: safe to boot again. */
  beforeCommand = false;
}
