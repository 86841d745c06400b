/**
 * The worker thread of one job: sets its kernel thread budget, runs the job's kind in its folder,
 * and reports records, phases and the outcome to the runner. A 'cancel' message ends the job
 * within one inner step; 'stop' ends its hyper-iterations and still writes the report.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { releaseCachedMemory } from '../kernels/creation';
import { setThreads } from '../kernels/threads';
import { RunFolder } from '../report/output';
import { resolveKind } from './kinds';
import { FromWorker, ToWorker, WorkerInput } from './protocol';

const input = workerData as WorkerInput;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const cancel = new AbortController();
const stop = new AbortController();

port.on('message', (m: ToWorker) => {
  if (m?.type === 'cancel') cancel.abort();
  else if (m?.type === 'stop') stop.abort();
});

async function main(): Promise<void> {
  try {
    setThreads(input.threads);
    const kind = resolveKind(input.spec.kind, input.modules);
    const folder = RunFolder.open(input.folder); // made (or found, to resume) by the runner
    const summary = await kind.run(input.spec.options, {
      folder,
      resume: input.resume,
      stop: stop.signal,
      cancel: cancel.signal,
      onRecord: (record) => send({ type: 'record', record }),
      onPhase: (phase) => send({ type: 'phase', phase }),
    });
    send({ type: 'done', summary });
  } catch (e) {
    const err = e as Error;
    send({ type: 'failed', error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), stack: err?.stack } });
  } finally {
    releaseCachedMemory();
    port.close(); // nothing else keeps the thread alive: it ends, and its isolate's memory with it
  }
}

void main();
