// rfho in a server: hyper-cleaning jobs run in worker threads while the server keeps answering.
//   node examples/server.js
//   curl -X POST localhost:8080/jobs -d '{"hyperIterations": 30}'     → 201 {"id": ...}
//   curl localhost:8080/jobs/ID                                        → status, latest record, summary
//   curl -X DELETE localhost:8080/jobs/ID                              → cancels within one inner step
const http = require('node:http');
const rf = require('rfho');

// Two kernel threads a job, as many jobs at once as the cores allow; the rest wait in order.
const runner = new rf.JobRunner({ dataDir: 'runs' });

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const [, collection, id] = new URL(req.url, 'http://localhost').pathname.split('/');
  if (collection !== 'jobs') return reply(res, 404, { error: 'not found' });
  if (req.method === 'POST' && !id) {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      try {
        // The options are checked here (names, types, ranges): a bad one is an rf.ArgumentError.
        const job = runner.submit({ kind: 'hyper-cleaning', options: JSON.parse(body || '{}') });
        job.on('record', (r) => console.log(`${job.id}: iteration ${r.iteration}, validation ${r.validation.toFixed(4)}`));
        reply(res, 201, { id: job.id });
      } catch (e) {
        reply(res, 400, { error: e.message });
      }
    });
    return;
  }
  const job = id && runner.get(id);
  if (!job) return reply(res, 404, { error: `no job '${id}'` });
  if (req.method === 'GET') return reply(res, 200, job.toJSON());
  if (req.method === 'DELETE') {
    job.cancel(); // the job's promise then rejects with an AbortError
    return reply(res, 202, { id: job.id, status: job.status });
  }
  reply(res, 405, { error: 'method not allowed' });
});

server.listen(8080, '127.0.0.1', () => console.log('listening on http://127.0.0.1:8080'));
process.on('SIGINT', async () => {
  server.close();
  await runner.close(); // cancels what runs and waits for it
  process.exit(0);
});
