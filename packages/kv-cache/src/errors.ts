/**
 * The cache's own typed errors (all FlexAttnErrors, so one `instanceof` catches every flexattn
 * error). Shape and dtype mismatches of appended K/V use ir's ShapeError / OptionError. Every error
 * is raised before anything changes: a failed call leaves the cache as it was.
 */
import { FlexAttnError } from '@flexattn/ir';

/** Misuse of the cache itself: a batch index out of range, an append still in flight… */
export class KvCacheError extends FlexAttnError {
  static {
    this.prototype.name = 'KvCacheError'; // survives minification (see ir's FlexAttnError)
  }
}

/** A batch index outside [0, maxBatch). */
export class BatchIndexError extends KvCacheError {
  static {
    this.prototype.name = 'BatchIndexError'; // survives minification (see ir's FlexAttnError)
  }
}

/** `reserve` asked for more pages than are free. */
export class OutOfPagesError extends KvCacheError {
  static {
    this.prototype.name = 'OutOfPagesError';
  }
  constructor(
    readonly requested: number,
    readonly available: number,
    message: string,
  ) {
    super(message);
  }
}

/** `append` would write past what `reserve` allocated for the sequence. */
export class ReservationExceededError extends KvCacheError {
  static {
    this.prototype.name = 'ReservationExceededError';
  }
  constructor(
    readonly batchIdx: number,
    readonly needed: number,
    readonly reserved: number,
    message: string,
  ) {
    super(message);
  }
}
