/** Differentiable elementwise ops: unary maps and broadcasting binary maps (tensor or number). */
import * as K from '../kernels';
import { NEEDS_NOTHING, NEEDS_OUTPUT, markLinear, record, setVjpReads } from '../autodiff/engine';
import { ArgumentError, RfhoError } from '../errors/errors';
import { Tensor } from '../tensor/tensor';
import { assertTensor, sameShape } from '../tensor/validate';
import { liftTangent } from './lift';
import { broadcastTo, sumTo } from './broadcast';

type Operand = Tensor | number;

/** Adds two tangents where either may be null. */
export function addTangents(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (!a) return b;
  if (!b) return a;
  return add(a, b);
}

/** Brings a tangent to exactly [k, ...outShape] (expanding broadcast dims). */
function fitTangent(t: Tensor | null, outShape: readonly number[]): Tensor | null {
  if (!t) return null;
  const want = [t.shape[0], ...outShape];
  return sameShape(t.shape, want) ? t : broadcastTo(liftTangent(t, outShape.length), want);
}

function defineUnary(name: K.UnaryName, derivative: (x: Tensor, out: Tensor) => Tensor) {
  return (x: Tensor): Tensor => {
    assertTensor(x, 'x');
    const out = K.unary(name, x);
    // The factor is rebuilt in each rule, not cached: built inside the JVP rule it carries no
    // tangent, and the VJP rule needs one for forward-over-reverse.
    return record(out, [x], name, (g) => [mul(g, derivative(x, out))], ([t]) => (t ? mul(t, derivative(x, out)) : null));
  };
}

/** Non-differentiable elementwise maps (derivative zero almost everywhere). */
function defineFlat(name: K.UnaryName) {
  return (x: Tensor): Tensor => {
    assertTensor(x, 'x');
    return K.unary(name, x);
  };
}

export const neg = (x: Tensor): Tensor => {
  assertTensor(x, 'x');
  return record(K.unary('neg', x), [x], 'neg', (g) => [neg(g)], ([t]) => (t ? neg(t) : null));
};
export const exp = defineUnary('exp', (_x, out) => out);
export const log = defineUnary('log', (x) => reciprocal(x));
export const tanh = (x: Tensor): Tensor => {
  assertTensor(x, 'x');
  const out = K.unary('tanh', x);
  return setVjpReads(record(out, [x], 'tanh', (g) => [tanhGrad(g, out)], ([t]) => (t ? tanhGrad(t, out) : null)), NEEDS_OUTPUT);
};

/**
 * g ⊙ (1 − y²), the cotangent through tanh at its output y (g: y's shape, or with leading dims),
 * as one kernel, and its tangent as another: an MLP's backward pass under forward-mode tangents
 * (Forward-HG, Hessian-vector products) otherwise made six passes over the k-fold tangents.
 */
export function tanhGrad(g: Tensor, y: Tensor): Tensor {
  if (!K.provides(y.device, 'tanhGrad')) return mul(g, rsubScalar(1, square(y)));
  const out = K.tanhGrad(y, g);
  return record(out, [g, y], 'tanhGrad',
    (gb) => [tanhGrad(gb, y), sumTo(mul(mul(gb, g), mul(y, -2)), y.shape)],
    ([tg, ty]) => {
      if (ty && sameShape(g.shape, y.shape) && K.provides(y.device, 'tanhGradJvp')) return tanhGradTangent(g, y, ty, tg);
      return addTangents(tg && tanhGrad(tg, y), ty && mul(liftTangent(ty, out.rank), mul(mul(g, y), -2)));
    });
}

/** tg ⊙ (1 − y²) − 2 g ⊙ y ⊙ ty: tanhGrad's tangent for g of y's shape and tangents [k, ...]. */
function tanhGradTangent(g: Tensor, y: Tensor, ty: Tensor, tg: Tensor | null): Tensor {
  const out = K.tanhGradJvp(y, g, ty, tg);
  const inputs = tg ? [g, y, ty, tg] : [g, y, ty];
  return record(out, inputs, 'tanhGradTangent',
    (gb) => {
      const gy = mul(mul(g, y), -2);
      const dy = mul(mul(gb, ty), mul(g, -2));
      return [
        sumTo(mul(gb, mul(ty, mul(y, -2))), g.shape),
        sumTo(tg ? add(dy, mul(mul(gb, tg), mul(y, -2))) : dy, y.shape),
        mul(gb, gy),
        ...(tg ? [tanhGrad(gb, y)] : []),
      ];
    },
    () => {
      throw new RfhoError('fourth derivatives through tanh are not supported');
    });
}
export const sigmoid = defineUnary('sigmoid', (_x, out) => mul(out, rsubScalar(1, out)));
export const relu = defineUnary('relu', (x) => step(x));
export const square = defineUnary('square', (x) => mul(x, 2));
export const sqrt = defineUnary('sqrt', (_x, out) => div(0.5, out));
export const abs = defineUnary('abs', (x) => sign(x));
export const reciprocal = defineUnary('reciprocal', (_x, out) => neg(square(out)));
export const softplus = defineUnary('softplus', (x) => sigmoid(x));
/** 1 where x > 0, else 0 (derivative zero). */
export const step = defineFlat('step');
/** −1, 0 or 1 (derivative zero). */
export const sign = defineFlat('sign');

function rsubScalar(s: number, x: Tensor): Tensor {
  return sub(s, x);
}

function checkOperands(a: Operand, b: Operand, op: string): void {
  const okA = typeof a === 'number' || a instanceof Tensor;
  const okB = typeof b === 'number' || b instanceof Tensor;
  if (!okA) throw new ArgumentError(`${op}: argument 'a' must be a Tensor or a number, got ${a === null ? 'null' : typeof a}`);
  if (!okB) throw new ArgumentError(`${op}: argument 'b' must be a Tensor or a number, got ${b === null ? 'null' : typeof b}`);
  if (typeof a === 'number' && typeof b === 'number') throw new ArgumentError(`${op}: at least one argument must be a Tensor`);
  if (a instanceof Tensor) assertTensor(a, 'a');
  if (b instanceof Tensor) assertTensor(b, 'b');
}

export function add(a: Operand, b: Operand): Tensor {
  checkOperands(a, b, 'add');
  if (typeof b === 'number') {
    const x = a as Tensor;
    return setVjpReads(record(K.binaryScalar('add', x, b), [x], 'addScalar', (g) => [g], ([t]) => t), NEEDS_NOTHING);
  }
  if (typeof a === 'number') return add(b, a);
  const out = K.binary('add', a, b);
  return setVjpReads(markLinear(record(out, [a, b], 'add',
    (g) => [sumTo(g, a.shape), sumTo(g, b.shape)],
    ([ta, tb]) => fitTangent(addTangents(ta && liftTangent(ta, out.rank), tb && liftTangent(tb, out.rank)), out.shape))), NEEDS_NOTHING);
}

export function sub(a: Operand, b: Operand): Tensor {
  checkOperands(a, b, 'sub');
  if (typeof b === 'number') return add(a as Tensor, -b);
  if (typeof a === 'number') {
    return record(K.binaryScalar('sub', b, a, true), [b], 'rsubScalar', (g) => [neg(g)], ([t]) => (t ? neg(t) : null));
  }
  const out = K.binary('sub', a, b);
  return setVjpReads(markLinear(record(out, [a, b], 'sub',
    (g) => [sumTo(g, a.shape), sumTo(neg(g), b.shape)],
    ([ta, tb]) => fitTangent(addTangents(ta && liftTangent(ta, out.rank), tb && neg(liftTangent(tb, out.rank))), out.shape))), NEEDS_NOTHING);
}

export function mul(a: Operand, b: Operand): Tensor {
  checkOperands(a, b, 'mul');
  if (typeof b === 'number') {
    const x = a as Tensor;
    return record(K.binaryScalar('mul', x, b), [x], 'mulScalar', (g) => [mul(g, b)], ([t]) => (t ? mul(t, b) : null));
  }
  if (typeof a === 'number') return mul(b, a);
  const out = K.binary('mul', a, b);
  return record(out, [a, b], 'mul',
    (g) => [a.requiresGrad ? sumTo(mul(g, b), a.shape) : null, b.requiresGrad ? sumTo(mul(g, a), b.shape) : null],
    ([ta, tb]) => fitTangent(addTangents(ta && mul(liftTangent(ta, out.rank), b), tb && mul(a, liftTangent(tb, out.rank))), out.shape));
}

export function div(a: Operand, b: Operand): Tensor {
  checkOperands(a, b, 'div');
  if (typeof b === 'number') return mul(a as Tensor, 1 / b);
  if (typeof a === 'number') {
    const out = K.binaryScalar('div', b, a, true);
    // d(s/x) = −(s/x)/x dx
    const fac = () => neg(div(out, b));
    return record(out, [b], 'rdivScalar', (g) => [mul(g, fac())], ([t]) => (t ? mul(t, fac()) : null));
  }
  const out = K.binary('div', a, b);
  return record(out, [a, b], 'div',
    (g) => [a.requiresGrad ? sumTo(div(g, b), a.shape) : null, b.requiresGrad ? sumTo(neg(div(mul(g, out), b)), b.shape) : null],
    ([ta, tb]) => fitTangent(addTangents(
      ta && div(liftTangent(ta, out.rank), b),
      tb && neg(div(mul(liftTangent(tb, out.rank), out), b))), out.shape));
}

/** x^p for a number p. */
export function pow(x: Tensor, p: number): Tensor {
  assertTensor(x, 'x');
  if (typeof p !== 'number') throw new ArgumentError(`pow: argument 'p' must be a number, got ${typeof p}`);
  if (p === 2) return square(x);
  const out = K.binaryScalar('pow', x, p);
  const fac = () => mul(pow(x, p - 1), p);
  return record(out, [x], 'pow', (g) => [mul(g, fac())], ([t]) => (t ? mul(t, fac()) : null));
}

function defineMinMax(name: 'maximum' | 'minimum') {
  return (a: Operand, b: Operand): Tensor => {
    checkOperands(a, b, name);
    // A number becomes a rank-0 tensor: it broadcasts without adding an axis to the result.
    const ta = typeof a === 'number' ? K.fullLike(b as Tensor, a, []) : a;
    const tb = typeof b === 'number' ? K.fullLike(a as Tensor, b, []) : b;
    const out = K.binary(name, ta, tb);
    // Where a wins (strictly), the gradient goes to a; ties go to b, as the kernel picks b.
    const diff = name === 'maximum' ? K.binary('sub', ta, tb) : K.binary('sub', tb, ta);
    const maskA = K.unary('step', diff);
    const maskB = K.binaryScalar('sub', maskA, 1, true);
    const inputs = [ta, tb];
    return record(out, inputs, name,
      (g) => [sumTo(mul(g, maskA), ta.shape), sumTo(mul(g, maskB), tb.shape)],
      ([da, db]) => fitTangent(addTangents(
        da && mul(liftTangent(da, out.rank), maskA), db && mul(liftTangent(db, out.rank), maskB)), out.shape));
  };
}
export const maximum = defineMinMax('maximum');
export const minimum = defineMinMax('minimum');

/** A view of x through which no derivative flows. */
export function stopGradient(x: Tensor): Tensor {
  assertTensor(x, 'x');
  return new Tensor(x.storage, x.shape);
}
