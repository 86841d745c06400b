/** Shared benchmark helpers: timing, medians, machine description, JSON result lines. */
import * as os from 'node:os';

export function nowSeconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

/** Median wall time of fn over reps runs (after one warm-up). */
export function timeMedian(fn: () => void, reps: number): number {
  fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = nowSeconds();
    fn();
    ts.push(nowSeconds() - t0);
  }
  return median(ts);
}

export function machine(): string {
  return `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

/** One machine-readable result line: `BENCH {json}`. */
export function emit(result: Record<string, unknown>): void {
  process.stdout.write(`BENCH ${JSON.stringify({ ...result, date: new Date().toISOString().slice(0, 10) })}\n`);
}
