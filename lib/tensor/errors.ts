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
