/**
 * Typed errors. Every error flexattn raises for bad input is one of these, and its message names
 * the fix, so users can `instanceof`-check and read what to do.
 */
export class FlexAttnError extends Error {
  // Each class states its name on its prototype: a minifier renames classes, so new.target.name
  // would make a bundled app print "r: …" instead of "TraceError: …". A subclass that states none
  // (a user's own) gets its class name.
  static {
    this.prototype.name = 'FlexAttnError';
  }
  constructor(message: string) {
    super(message);
    if (!Object.hasOwn(new.target.prototype, 'name')) this.name = new.target.name;
  }
}

/** A mod used JS operators/`if` on traced values, or broke a dtype rule while tracing. */
export class TraceError extends FlexAttnError {
  static {
    this.prototype.name = 'TraceError';
  }
}

/** Tensor shapes, lengths, head dims or block sizes that do not fit together. */
export class ShapeError extends FlexAttnError {
  static {
    this.prototype.name = 'ShapeError';
  }
}

/** Wrong dtype, non-finite scale, or another option outside what the API allows. */
export class OptionError extends FlexAttnError {
  static {
    this.prototype.name = 'OptionError';
  }
}

/** A valid request that this backend cannot run (e.g. a head dim above its limit). */
export class UnsupportedError extends FlexAttnError {
  static {
    this.prototype.name = 'UnsupportedError';
  }
}

/** A kernel failed to compile; `log` holds the compiler's full output. */
export class CompileError extends FlexAttnError {
  static {
    this.prototype.name = 'CompileError';
  }
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(`${message}\n--- compiler log ---\n${log}`);
  }
}

/** The backend cannot run on this machine (no GPU, driver, adapter or addon); `tried` lists what was attempted. */
export class BackendUnavailableError extends FlexAttnError {
  static {
    this.prototype.name = 'BackendUnavailableError';
  }
  constructor(
    message: string,
    readonly tried: readonly string[] = [],
  ) {
    super(tried.length ? `${message}\ntried:\n${tried.map((t) => `  - ${t}`).join('\n')}` : message);
  }
}

/** A call on a backend after its `dispose()`: create a new backend. */
export class BackendDisposedError extends FlexAttnError {
  static {
    this.prototype.name = 'BackendDisposedError';
  }
  constructor(backend: string, create: string) {
    super(`this ${backend} backend was disposed; create a new one with ${create}`);
  }
}
