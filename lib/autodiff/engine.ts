/**
 * The autodiff engine. Every differentiable op calls `record` with its output, its inputs and two
 * rules written with differentiable ops:
 *   - vjp(g): cotangents of the inputs given the output's cotangent g (reverse mode);
 *   - jvp(ts): the output's batched tangent [k, ...out.shape] given the inputs' tangents
 *     ([k, ...in.shape], or null where an input carries none) (forward mode).
 * Because the rules are written with ops, they are themselves differentiated when they run inside
 * another transformation: reverse-over-reverse records the backward pass, and forward-over-reverse
 * (hvp) carries tangents through it. One forward level at a time; any number of reverse levels.
 */
import { RfhoError } from '../errors/errors';
import { GradNode, Tensor } from '../tensor/tensor';
import { registerSuspendableState } from '../util/stepwise';

/** A VJP rule (see GradNode.vjp): what the sweep asks of it comes as `primalUnused`. */
export type VjpRule = (g: Tensor, primalUnused: readonly boolean[] | null) => (Tensor | null)[];
export type JvpRule = (tangents: (Tensor | null)[]) => Tensor | null;

interface EngineState {
  /** number of reverse transformations (grad/vjp) in progress */
  reverseDepth: number;
  /** when true, ops record no reverse nodes (a backward pass with no enclosing grad) */
  reversePaused: boolean;
  /** batch size of the active forward transformation, 0 when none */
  forwardK: number;
  /** true while a JVP rule runs: its own ops must not compute level-1 tangents again */
  inJvpRule: boolean;
  /**
   * reverse depth when the forward transformation began: reverse levels opened inside it
   * (forward-over-reverse) never differentiate tangents, levels around it (reverse-over-forward) do
   */
  forwardBaseDepth: number;
}

const IDLE: Readonly<EngineState> = { reverseDepth: 0, reversePaused: false, forwardK: 0, inJvpRule: false, forwardBaseDepth: 0 };

export const engine: EngineState = { ...IDLE };

function isIdle(): boolean {
  return (Object.keys(IDLE) as (keyof EngineState)[]).every((k) => engine[k] === IDLE[k]);
}

// A transformation suspended mid-way (a reverse sweep yielding between nodes in a stepwise
// computation) takes its flags with it: ops run meanwhile by other code see no transformation.
registerSuspendableState<EngineState>({
  name: 'autodiff engine',
  suspend: () => {
    const saved = { ...engine };
    Object.assign(engine, IDLE);
    return saved;
  },
  resume: (saved) => {
    if (!isIdle()) throw new RfhoError('internal: a computation resumed while another transformation was in progress');
    Object.assign(engine, saved);
  },
});

const never = () => false;

/** Marks out's reverse node as linear: its VJP's tangents never read the primal cotangent. */
export function markLinear(out: Tensor): Tensor {
  return setTangentReadsPrimal(out, never);
}

/** Sets `tangentReadsPrimal` on out's reverse node (a node `record` just made: set in place). */
export function setTangentReadsPrimal(out: Tensor, reads: () => boolean): Tensor {
  if (out.node) (out.node as { tangentReadsPrimal?: () => boolean }).tangentReadsPrimal = reads;
  return out;
}

/** What a VJP rule reads of the forward pass (GradNode.vjpReads): shapes only, its output, its inputs. */
export const NEEDS_NOTHING = { inputs: false, output: false } as const;
export const NEEDS_OUTPUT = { inputs: false, output: true } as const;
export const NEEDS_INPUTS = { inputs: true, output: false } as const;

/** Says which forward values out's VJP rule reads (see `GradNode.vjpReads`), in place. */
export function setVjpReads(out: Tensor, reads: { inputs: boolean; output: boolean }): Tensor {
  if (out.node) (out.node as { vjpReads?: typeof reads }).vjpReads = reads;
  return out;
}

/** Marks out's reverse node as a slice (see `GradNode.slice`), in place. */
export function setSlice(out: Tensor, slice: { axis: number; start: number; length: number }): Tensor {
  if (out.node) (out.node as { slice?: typeof slice }).slice = slice;
  return out;
}

/**
 * A reverse node with every optional field present (undefined), so that all nodes share one shape
 * and the fields set later in place (`slice`, `tangentReadsPrimal`) do not change it: the reverse
 * sweep's property reads stay monomorphic (spread copies with extra fields measured ~30 % slower
 * on a small Reverse-HG step).
 */
export function makeNode(name: string, inputs: readonly Tensor[], vjp: VjpRule): GradNode {
  return { name, inputs, vjp, slice: undefined, tangentReadsPrimal: undefined, vjpReads: undefined };
}

/** Gives `out` a reverse node when a reverse transformation is recording and an input needs it. */
function attachNode(out: Tensor, inputs: readonly Tensor[], name: string, vjp: VjpRule): void {
  if (engine.reverseDepth > 0 && !engine.reversePaused) {
    for (const x of inputs) {
      if (x.requiresGrad) {
        out.requiresGrad = true;
        out.node = makeNode(name, inputs, vjp);
        return;
      }
    }
  }
}

/** Records out's reverse node (if needed) and sets a tangent computed by the caller. */
export function recordWithTangent(out: Tensor, inputs: readonly Tensor[], name: string, vjp: VjpRule, tangent: Tensor | null): Tensor {
  attachNode(out, inputs, name, vjp);
  out.tangent = tangent;
  return out;
}

export function record(out: Tensor, inputs: readonly Tensor[], name: string, vjp: VjpRule, jvp: JvpRule): Tensor {
  // The reverse node goes first: a JVP rule may use `out` (exp, tanh, ...), and the tangent it
  // builds must depend on `out` in the reverse graph for third-order derivatives.
  attachNode(out, inputs, name, vjp);
  if (engine.forwardK > 0 && !engine.inJvpRule) {
    let any = false;
    for (const x of inputs) if (x.tangent) any = true;
    if (any) out.tangent = withoutTangents(() => jvp(inputs.map((x) => x.tangent)));
  }
  return out;
}

/** Runs fn with one of the engine's flags set to `value`, restoring it afterwards. */
function withFlag<R>(flag: 'reversePaused' | 'inJvpRule', value: boolean, fn: () => R): R {
  const prev = engine[flag];
  engine[flag] = value;
  try {
    return fn();
  } finally {
    engine[flag] = prev;
  }
}

/** Runs fn with reverse recording paused or resumed. */
export function withReversePaused<R>(paused: boolean, fn: () => R): R {
  return withFlag('reversePaused', paused, fn);
}

/**
 * Runs fn with forward-mode tangents off: its ops record reverse nodes as usual but compute no
 * tangents. For an op that sets its result's tangent itself from one fused kernel (an
 * implementation chosen by `implement` only where nothing differentiates that tangent again).
 */
export function withoutTangents<R>(fn: () => R): R {
  return withFlag('inJvpRule', true, fn);
}
