/** Errors thrown by rfho. Every message names the argument and, where relevant, the shapes. */
export class RfhoError extends Error {
  constructor(message: string) {
    // (a message that is not a string, even a symbol, still makes an error rather than a TypeError)
    super(typeof message === 'string' ? message : typeof message === 'symbol' ? (message as symbol).toString() : String(message));
    this.name = new.target.name;
  }
}
/** A shape that does not fit: mismatched, non-broadcastable, wrong rank. */
export class ShapeError extends RfhoError {}
/** A dtype that does not fit the operation or the other operands. */
export class DTypeError extends RfhoError {}
/** An argument of the wrong type or out of range. */
export class ArgumentError extends RfhoError {}
/** A tensor used after dispose(). */
export class DisposedError extends RfhoError {}
/** NaN or Inf detected where a finite value is required. */
export class DivergenceError extends RfhoError {
  constructor(message: string, readonly step?: number, readonly quantity?: string) {
    super(message);
  }
}
/** Work stopped by an AbortSignal (named 'AbortError', as fetch's rejection is); `cause` is the signal's reason. */
export class AbortError extends RfhoError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message);
    if (options !== null && typeof options === 'object' && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}
/** Memory could not be allocated (the machine's, a ulimit, or the device's): nothing was changed. */
export class OutOfMemoryError extends RfhoError {}
/** A check in the native layer failed: the TypeScript checks let something through (a bug to report). */
export class NativeError extends RfhoError {}
/** A stored file (checkpoint, snapshot) that cannot be used: truncated, damaged, another version or other settings. */
export class StateFileError extends RfhoError {
  constructor(message: string, readonly file?: string) {
    super(message);
  }
}

