/**
 * Typed errors. Every error flexattn raises for bad input is one of these, and its message names
 * the fix, so users can `instanceof`-check and read what to do.
 */
export class FlexAttnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A mod used JS operators/`if` on traced values, or broke a dtype rule while tracing. */
export class TraceError extends FlexAttnError {}

/** Tensor shapes, lengths, head dims or block sizes that do not fit together. */
export class ShapeError extends FlexAttnError {}

/** Wrong dtype, non-finite scale, or another option outside what the API allows. */
export class OptionError extends FlexAttnError {}

/** A valid request that this backend cannot run (e.g. a head dim above its limit). */
export class UnsupportedError extends FlexAttnError {}

/** A kernel failed to compile; `log` holds the compiler's full output. */
export class CompileError extends FlexAttnError {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(`${message}\n--- compiler log ---\n${log}`);
  }
}

/** The backend cannot run on this machine (no GPU, driver, adapter or addon); `tried` lists what was attempted. */
export class BackendUnavailableError extends FlexAttnError {
  constructor(
    message: string,
    readonly tried: readonly string[] = [],
  ) {
    super(tried.length ? `${message}\ntried:\n${tried.map((t) => `  - ${t}`).join('\n')}` : message);
  }
}

/** A call on a backend after its `dispose()`: create a new backend. */
export class BackendDisposedError extends FlexAttnError {
  constructor(backend: string, create: string) {
    super(`this ${backend} backend was disposed; create a new one with ${create}`);
  }
}
