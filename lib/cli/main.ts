#!/usr/bin/env node
/**
 * rfho command line (commander): the paper's experiments as runnable programs, the service, queue
 * workers and submissions. Every command has --help with its defaults; exit codes follow one
 * convention (options.ts, EXIT), whichever layer found the problem.
 */
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { availableDevices } from '../kernels/creation';
import { downloadMnist, defaultCacheDir } from '../data/download';
import { HC_DEFAULTS, HC_PAPER } from '../experiments/hyperCleaning';
import { TUNE_DEFAULTS, TUNE_PAPER } from '../experiments/tune';
import { EXIT, UsageError, integer, integerList, json, number, oneOf, positiveInteger } from './options';
import { hyperCleaning, taskInteractions, tune } from './experiments';
import { TI_DEFAULTS, TI_PAPER } from '../experiments/taskInteractions';
import { serve, submit, worker } from './cluster';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const VERSION = (require(path.join(__dirname, '..', '..', '..', 'package.json')) as { version: string }).version;

const EXIT_CODES = `
exit codes: 0 done, 1 failed (the error is printed), 2 usage error (this help says how), 130 interrupted (Ctrl-C; the report of what was computed is still written)`;

/** Options every experiment takes (data, output, sizes, length); each shows the experiment's own default. */
function runOptions(cmd: Command, d: { dataset: string; trainSize: number; validSize: number; testSize: number; hyperIterations: number; outerLr: number }): Command {
  return cmd
    .option('--dataset <name>', `embedded (the package's digits) | fashion-mnist (Debian package) | mnist | a folder of IDX files (default: ${d.dataset})`)
    .option('--seed <n>', 'random seed (default: 0)', integer)
    .addOption(new Option('--dtype <dtype>', 'float32 | float64 (default: float32)').argParser(oneOf('float32', 'float64')))
    .option('--out <dir>', 'output folder, new or empty (default: a new runs/<command>-<time>-<random>)')
    .option('--json', 'print one machine-readable summary line on stdout')
    .option('--quiet', 'no progress output')
    .option('--train-size <n>', `training examples (default: ${d.trainSize})`, positiveInteger)
    .option('--valid-size <n>', `validation examples (default: ${d.validSize})`, positiveInteger)
    .option('--test-size <n>', `test examples (default: ${d.testSize})`, positiveInteger)
    .option('--iterations <n>', `hyper-iterations (default: ${d.hyperIterations})`, positiveInteger)
    .option('--outer-lr <x>', `the outer (hyperparameter) learning rate (default: ${d.outerLr})`, number);
}

/** Options of the experiments that pick a device, a hypergradient method and an evaluation schedule. */
function commonOptions(cmd: Command, d: Parameters<typeof runOptions>[1] & { evalEvery: number; K?: number }, methods: string[], defaultMethod: string): Command {
  return runOptions(cmd, d)
    .addOption(new Option('--device <device>', 'cpu | cuda (default: cpu)').argParser(oneOf('cpu', 'cuda')))
    .addOption(new Option('--method <method>', `${methods.join(' | ')} (default: ${defaultMethod})`).argParser(oneOf(...methods)))
    .option('--K <n>', `steps between hyperparameter updates (rtho, trho) or reversed steps (truncated)${d.K ? ` (default: ${d.K})` : ''}`, positiveInteger)
    .option('--eval-every <n>', `test accuracy every n hyper-iterations (default: ${d.evalEvery})`, positiveInteger);
}

export function program(setCode: (code: number) => void): Command {
  const root = new Command('rfho')
    .description('gradient-based hyperparameter optimization: the paper\'s experiments, a service and queue workers')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES)
    .exitOverride();

  commonOptions(root.command('hyper-cleaning'), HC_DEFAULTS, ['reverse', 'forward', 'rtho', 'truncated', 'implicit'], HC_DEFAULTS.method)
    .description('learn per-example weights that find corrupted labels (paper §5.1); the defaults are a reduced run of a minute or so on two cores')
    .option('--paper', `the paper's protocol: ${HC_PAPER.dataset}, ${HC_PAPER.trainSize}/${HC_PAPER.validSize}/${HC_PAPER.testSize}, ${HC_PAPER.corrupted} corrupted, R=${HC_PAPER.R}, T=${HC_PAPER.T}, ${HC_PAPER.hyperIterations} iterations`)
    .option('--corrupted <n>', `training labels corrupted (default: ${HC_DEFAULTS.corrupted})`, integer)
    .option('--R <x>', `the budget Σλ ≤ R of the example weights (default: ${HC_DEFAULTS.R})`, number)
    .option('--T <n>', `training steps per hypergradient (default: ${HC_DEFAULTS.T})`, positiveInteger)
    .option('--inner-lr <x>', 'the training learning rate (default: 0.1 · train size / R)', number)
    .option('--resume <dir>', 'continue the run in <dir> from its last hyper-iteration (same settings; --iterations may extend it); the result equals an uninterrupted run\'s')
    .addHelpText('after', EXIT_CODES)
    .action(async (o) => setCode(await hyperCleaning(o)));

  commonOptions(root.command('tune'), TUNE_DEFAULTS, ['rtho', 'trho'], TUNE_DEFAULTS.method)
    .description('real-time tuning (RTHO) of an MLP\'s learning rate, momentum and L2 (paper §5.3), against the untuned model and a random search with the same training steps')
    .option('--paper', `the paper's scale on the data here: ${TUNE_PAPER.dataset}, ${TUNE_PAPER.trainSize}/${TUNE_PAPER.validSize}/${TUNE_PAPER.testSize}, MLP ${TUNE_PAPER.hidden!.join('-')}, ${TUNE_PAPER.hyperIterations! * TUNE_PAPER.K!} steps`)
    .option('--hidden <widths>', `hidden layer widths, comma-separated (default: ${TUNE_DEFAULTS.hidden.join(',')})`, integerList)
    .option('--batch-size <n>', `minibatch size (default: ${TUNE_DEFAULTS.batchSize})`, positiveInteger)
    .option('--lr <x>', `initial learning rate (default: ${TUNE_DEFAULTS.lr})`, number)
    .option('--momentum <x>', `initial momentum (default: ${TUNE_DEFAULTS.momentum})`, number)
    .option('--l2 <x>', `initial L2 coefficient (default: ${TUNE_DEFAULTS.l2})`, number)
    .option('--search-trials <n>', `random-search trials sharing RTHO's training steps, for the baseline (default: ${TUNE_DEFAULTS.searchTrials})`, positiveInteger)
    .addHelpText('after', EXIT_CODES)
    .action(async (o) => setCode(await tune(o)));

  runOptions(root.command('task-interactions'), TI_DEFAULTS)
    .description('learn the interactions between tasks (classes) of a multi-task linear model with their L2 coefficient (paper §5.2), against single-task and naive multi-task baselines')
    .option('--paper', `the paper's setting on the data here: ${TI_PAPER.dataset}, ${TI_PAPER.trainSize}/${TI_PAPER.validSize}/${TI_PAPER.testSize}, T=${TI_PAPER.T}, ${TI_PAPER.hyperIterations} iterations`)
    .addOption(new Option('--features <kind>', `raw pixels, or tanh of a fixed random projection (default: ${TI_DEFAULTS.features})`).argParser(oneOf('raw', 'projection')))
    .option('--projection-dim <n>', `features of the projection (default: ${TI_DEFAULTS.projectionDim})`, positiveInteger)
    .option('--T <n>', `training steps per hypergradient and per final model (default: ${TI_DEFAULTS.T})`, positiveInteger)
    .option('--lr <x>', `initial learning rate (default: ${TI_DEFAULTS.lr})`, number)
    .option('--momentum <x>', `initial momentum (default: ${TI_DEFAULTS.momentum})`, number)
    .option('--rho <x>', `initial L2 coefficient ρ (default: ${TI_DEFAULTS.rho})`, number)
    .option('--a <x>', `initial off-diagonal interaction (default: ${TI_DEFAULTS.a})`, number)
    .addHelpText('after', EXIT_CODES)
    .action(async (o) => setCode(await taskInteractions(o)));

  root.command('serve')
    .description('an HTTP service and a live page for jobs')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one)', integer, 8080)
    .option('--data <dir>', 'the jobs\' folders', 'runs')
    .option('--jobs <n>', 'jobs at once (default: the cores / --threads)', positiveInteger)
    .option('--threads <n>', 'kernel threads per job (default: 2)', positiveInteger)
    .option('--token <token>', 'every API request needs "Authorization: Bearer <token>" (or RFHO_TOKEN)')
    .option('--kinds <dir>', 'each NAME.js there is a job kind: a problem module exporting createJob(options)')
    .option('--redis <url>', 'a front end to the cluster: jobs run on `rfho worker`s sharing --data')
    .option('--prefix <p>', 'Redis key prefix (default: rfho)')
    .addHelpText('after', EXIT_CODES)
    .action(async (o) => setCode(await serve(o)));

  root.command('worker')
    .description('run queued jobs from Redis (BullMQ), on as many machines as you like; every worker sees the same --data folder')
    .requiredOption('--redis <url>', 'redis://HOST:PORT')
    .option('--data <dir>', 'the jobs\' folders', 'runs')
    .option('--concurrency <n>', 'jobs at once (default: 1)', positiveInteger)
    .option('--threads <n>', 'kernel threads per job (default: 2)', positiveInteger)
    .option('--kinds <dir>', 'folder of problem modules (job kinds)')
    .option('--lock-duration <ms>', 'how soon a dead worker\'s job is taken up (default: 30000)', positiveInteger)
    .option('--prefix <p>', 'Redis key prefix (default: rfho)')
    .addHelpText('after', EXIT_CODES)
    .action(async (o) => setCode(await worker(o)));

  root.command('submit')
    .description('queue a job (or a sweep) in Redis and, with --follow, print its records and result')
    .requiredOption('--redis <url>', 'redis://HOST:PORT')
    .requiredOption('--kind <name>', 'hyper-cleaning, tune, or a problem module\'s name')
    .option('--options <json>', 'the job\'s options (default: {})', json)
    .option('--id <id>', 'the job\'s id (default: kind-time-random; submitting an id twice queues it once)')
    .option('--sweep <json>', 'a grid such as {"seed":[0,1],"R":[100,200]}: one job per combination, gathered in one table', json)
    .option('--forward-shards <n>', 'Forward-HG of the problem module --kind, its columns split over n jobs and put back together (needs --T)', positiveInteger)
    .option('--T <n>', 'training steps, with --forward-shards', positiveInteger)
    .option('--follow', 'print each record and the result; exit code 1 if the job fails')
    .option('--prefix <p>', 'Redis key prefix (default: rfho)')
    .option('--kinds <dir>', 'folder of problem modules, to check --kind against')
    .addHelpText('after', EXIT_CODES)
    .action(async (o) => setCode(await submit(o)));

  root.command('download-mnist')
    .description('download standard MNIST (needs a network)')
    .option('--cache <dir>', 'where to keep it', defaultCacheDir())
    .action(async (o: { cache: string }) => {
      console.log(`MNIST is in ${await downloadMnist(o.cache)}`);
      setCode(EXIT.ok);
    });

  root.command('devices')
    .description('the devices this build and machine can use')
    .action(() => {
      console.log(JSON.stringify(availableDevices()));
      setCode(EXIT.ok);
    });

  // every command shows the exit codes and rejects what it does not know
  for (const c of root.commands) c.exitOverride().showHelpAfterError('(add --help for usage)');
  return root;
}

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const root = program((c) => (code = c));
  if (argv.length === 0) {
    root.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await root.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with their own success code
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`rfho: ${e.message}\n(add --help for usage)\n`);
      return EXIT.usage;
    }
    process.stderr.write(`rfho: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  // exit after the pending ticks: warnings emitted at the end of a run (plots skipped) still print
  main(process.argv.slice(2)).then((code) => setImmediate(() => process.exit(code)));
}
