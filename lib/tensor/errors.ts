/** Errors thrown by rfho. Every message names the argument and, where relevant, the shapes. */
export class RfhoError extends Error {
  constructor(message: string) {
    super(message);
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
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
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

/**
 * A value as an error message shows it: short whatever it is (a 300-digit number, a megabyte
 * string or a huge array would drown the message that names the argument).
 */
export function show(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
  }
  if (typeof v === 'bigint') return `${v.toString().slice(0, 20)}${v.toString().length > 20 ? '…' : ''}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (Array.isArray(v)) {
    const items = v.slice(0, 8).map((x) => (typeof x === 'number' ? show(x) : Array.isArray(x) ? '[…]' : typeof x));
    return `[${items.join(', ')}${v.length > 8 ? `, … (${v.length} entries)` : ''}]`;
  }
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as { length?: number }).length ?? v.byteLength} entries`;
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}
