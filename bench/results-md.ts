/**
 * Makes bench/RESULTS.md from bench/results/*.json: for every benchmark, the rows of the newest
 * results file that has it, with that file's machine and date. `node dist/bench/results-md.js`
 * after a benchmark run; the page is never edited by hand, so it always shows current figures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

type Row = Record<string, unknown> & { bench: string };
interface ResultsFile {
  file: string;
  machine: string;
  date: string;
  results: Row[];
}

/** What each benchmark measures, how to run it, and the project's goal for it. */
const ABOUT: Record<string, { title: string; text: string }> = {
  gemm: { title: 'Matrix products', text: 'GFLOP/s of rfho against numpy\'s OpenBLAS on the same machine, in one run (`node dist/bench/kernels.js`). Goal: at least 90 % of numpy.' },
  bandwidth: { title: 'Memory bandwidth', text: 'The STREAM add kernel (c = a + b: two reads and a write) through rfho\'s elementwise add on every core, operands in cache and from memory (`node dist/bench/kernels.js`), and the floor that sets under a hyper-cleaning Reverse-HG step on dense data, whose two fused passes read the row panels of Fashion-MNIST\'s 5000×784 float32 matrix once each (2 × 15.7 MB); the step\'s own time is in the HC table (seconds ÷ T). Where the time of a step goes: `docs/PERFORMANCE.md`.' },
  'tiny-op': { title: 'Small operations', text: 'One small elementwise op end to end, allocation included, as a kernel call and as a differentiable op (`node dist/bench/kernels.js`). Goal: under 2 µs.' },
  hc: { title: 'Data hyper-cleaning, Reverse-HG', text: 'Seconds per hypergradient and peak resident memory against JAX and PyTorch, alternated A B A B, each peer\'s value and hypergradient checked against rfho\'s before its time counts, both sides timed after two seconds of warm-up runs (`npm run bench -- --only hc`). `data`: none — the embedded digits (80 % zeros, kept sparse); `dense (RFHO_SPARSE_DATA=0)` — the same digits as a dense matrix; `fashion` — the first 10 000 Fashion-MNIST training images (about half the pixels non-zero); `gaussian-300` — a standardized Gaussian 5000×300 matrix, labels from a random linear teacher. Goal: at least 2.5× JAX\'s speed at no more than half its memory, on every kind of data and in float64 too.' },
  'linear-modes': { title: 'The linear model\'s fused passes in Forward-HG, truncated Reverse-HG and with kept logits', text: 'Each hypergradient with the fused linear softmax passes against the same computed without them, alternated in one process, on a dense standardized Gaussian 5000×784 matrix (`node dist/bench/linearModes.js`, or `npm run bench -- --only linear`): Forward-HG of four group loss weights (one fused pass carries the four directions with the weights\' tangents) and truncated Reverse-HG against the composite ops; Reverse-HG with its forward steps\' logits kept for its reverse steps (`rf.config.keptLogitsBytes`) against none kept, bit for bit the same hypergradient. `rel_diff`: the largest difference of the two hypergradients over their largest entry.' },
  hvp: { title: 'Hessian-vector products of the FR MLP', text: 'Time per direction for k directions at once, against JAX (`npm run bench -- --only hvp`).' },
  fr: { title: 'The FR MLP: reverse, checkpointed and forward hypergradients', text: 'Against JAX\'s unrolled `grad`, its √T rematerialisation and `jacfwd` (`npm run bench -- --only fr,slope`); method `forward-slope` is Forward-HG\'s cost per extra hyperparameter in training steps. Goals: Reverse-HG at least 2× JAX at no more than half its memory; checkpointed within 1/20 of JAX\'s unrolled memory; Forward-HG at least JAX\'s speed; a slope under one training step.' },
  'loop-delay': { title: 'The event loop while hypergradients run', text: 'Delay of a 1 ms timer in the same process, in-process (asynchronous forms, 2 ms slices, yielding inside each step\'s reverse sweep) and with the work in a job\'s worker thread (`node dist/bench/service.js`). Goal: p99 under 20 ms.' },
  jobs: { title: 'Jobs side by side', text: 'Two jobs at once against the same two in a row, and a job against the CLI (`node dist/bench/service.js`). Goal: two at once within 1.15× of back to back.' },
  serve: { title: 'The HTTP service under load', text: 'Latency of `GET /jobs` while jobs run (`node dist/bench/serve.js`, autocannon).' },
  'queue-overhead': { title: 'Jobs over BullMQ: overhead', text: 'A job\'s round trip through Redis against the same work in a worker thread (`node dist/bench/queue.js`, a Redis at RFHO_TEST_REDIS).' },
  'queue-sweep': { title: 'Jobs over BullMQ: a sweep on one and two workers', text: '(`node dist/bench/queue.js`).' },
  'queue-forward-sharded': { title: 'Jobs over BullMQ: Forward-HG sharded by columns', text: '(`node dist/bench/queue.js`).' },
  'portable-build': { title: 'The portable build against the previous one', text: 'The addon built per x86-64 level (here x86-64-v4) with OpenBLAS loaded at run time, against the previous single `-march=native` build linked to OpenBLAS (commit 97af4bc), the two alternated in one session; `same_value`: the validation value agreed bit for bit. Seconds are medians; speed > 1 means the portable build is faster.' },
  'revolve-plan': { title: 'Revolve planning', text: 'The schedule from the closed form against the dynamic programme it replaced, kept in the benchmark as the reference; both must recompute the same steps before a time counts. The first row is the first plan of a fresh process (`node dist/bench/revolve.js`). Goal: T = 10 000 with 100 slots under 50 ms.' },
};

/** What the first GPU run (bench/gpu/run.sh) measures, shown until its results are here. */
const GPU_PENDING = 'Not yet run: no GPU has been at hand. `bench/gpu/run.sh` (on a lent machine, from the repository root) will record: the CUDA kernels\' softmax cross-entropy rows against the CPU backend (`rfho_xent_rows_test`); every op\'s parity with the CPU (`bench/gpu/parity.ts`), once as is and once with `RFHO_CUDA_SYNC=1`, and under `compute-sanitizer` memcheck and racecheck where installed; HC Reverse-HG (T = 100 and 1000) on the GPU against the CPU; batched gemm TFLOP/s at three shapes in float32 and float64. Each step\'s output and exit status goes to its own file in `$OUT`; its `BENCH` lines go into a date-named results file here.';

function format(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v).replace(/\|/g, '\\|');
}

function table(rows: Row[]): string {
  // scalar fields only (per-run arrays and nested objects stay in the results file), in first-seen order
  const columns: string[] = [];
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (!columns.includes(k) && k !== 'bench' && k !== 'date' && (v === null || typeof v !== 'object')) columns.push(k);
  const constant = columns.filter((c) => c === 'impl' && rows.every((r) => r[c] === rows[0][c]));
  const shown = columns.filter((c) => !constant.includes(c));
  return [`| ${shown.join(' | ')} |`, `|${shown.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${shown.map((c) => format(r[c])).join(' | ')} |`)].join('\n');
}

export function resultsMarkdown(dir: string): string {
  const files: ResultsFile[] = fs.readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}-.*\.json$/.test(f)).map((f) => {
    const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    return { file: f, machine: d.machine, date: String(d.date), results: d.results as Row[] };
  });
  // newest first: by the run's own timestamp, then by file name
  files.sort((a, b) => (a.date === b.date ? b.file.localeCompare(a.file) : b.date.localeCompare(a.date)));
  const benches = Array.from(new Set(files.flatMap((f) => f.results.map((r) => r.bench))));
  const order = Object.keys(ABOUT);
  benches.sort((a, b) => (order.includes(a) ? order.indexOf(a) : 99) - (order.includes(b) ? order.indexOf(b) : 99));
  const out = [
    '# Benchmark results',
    '',
    'Made by `node dist/bench/results-md.js` from the newest results file of each benchmark in',
    '`bench/results/` (named by date; older ones are in git\'s history). Every figure is a median,',
    'and every ratio compares two implementations measured side by side in the same run. Why the',
    'figures are what they are: `docs/PERFORMANCE.md`.',
    '',
  ];
  for (const bench of benches) {
    const source = files.find((f) => f.results.some((r) => r.bench === bench))!;
    const about = ABOUT[bench] ?? { title: bench, text: '' };
    out.push(`## ${about.title}`, '', about.text, '', `\`bench/results/${source.file}\` — ${source.machine}, ${source.date.slice(0, 10)}.`, '', table(source.results.filter((r) => r.bench === bench)), '');
  }
  if (!benches.some((b) => b.startsWith('gpu'))) out.push('## On a GPU', '', GPU_PENDING, '');
  return out.join('\n');
}

if (require.main === module) {
  const root = path.resolve(__dirname, '..', '..');
  const file = path.join(root, 'bench', 'RESULTS.md');
  fs.writeFileSync(file, resultsMarkdown(path.join(root, 'bench', 'results')));
  console.log(`wrote ${file}`);
}
