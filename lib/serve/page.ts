/**
 * The service's page: start a job of any kind, watch the list, follow one job live (its records
 * as Server-Sent Events, the report's Vega-Lite charts redrawn as records arrive), cancel it, open
 * its report's files. Plain HTML and script, no build step; Vega, Vega-Lite and vega-embed come
 * from the service itself (/vendor), so it works with no network beyond the server.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rfho jobs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 72rem; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  section { border: 1px solid #ddd; border-radius: 6px; padding: 0.8rem 1rem; margin-bottom: 1rem; }
  label { display: inline-block; margin: 0.2rem 0.8rem 0.2rem 0; font-size: 0.85rem; }
  label input, label select { display: block; width: 9rem; }
  table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
  td, th { border-bottom: 1px solid #eee; padding: 0.3rem 0.5rem; text-align: left; }
  .status-running { color: #0a6; } .status-failed { color: #c00; } .status-cancelled { color: #a60; }
  #error { color: #c00; min-height: 1.2em; }
  #charts > div { display: inline-block; margin: 0.5rem; }
  button { cursor: pointer; }
</style>
</head>
<body>
<h1>rfho — hyper-optimization jobs</h1>
<section id="auth" hidden>
  <label>Token <input id="token" type="password" autocomplete="off"></label>
  <button id="save-token">Use token</button>
</section>
<section>
  <form id="start">
    <label>Kind <select id="kind"></select></label>
    <div id="fields"></div>
    <button id="submit" type="submit">Start job</button>
    <div id="error"></div>
  </form>
</section>
<section>
  <table><thead><tr><th>job</th><th>kind</th><th>status</th><th>records</th><th></th></tr></thead><tbody id="jobs"></tbody></table>
</section>
<section id="detail" hidden>
  <div><strong id="detail-id"></strong> — status <span id="status"></span> · records <span id="records">0</span>
    <button id="cancel">Cancel</button></div>
  <div id="latest"></div>
  <div id="charts"></div>
  <div id="files"></div>
</section>
<script src="/vendor/vega.js"></script>
<script src="/vendor/vega-lite.js"></script>
<script src="/vendor/vega-embed.js"></script>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('rfho-token') || new URLSearchParams(location.hash.slice(1)).get('token') || '';
let kinds = [], current = null, stream = null, chartTimer = null;

async function api(path, init = {}) {
  const headers = { ...(init.headers || {}), ...(token ? { authorization: 'Bearer ' + token } : {}) };
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) { $('auth').hidden = false; throw new Error('this service needs a token'); }
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error(body && body.error ? body.error : res.status + ' ' + res.statusText);
  return body;
}

function field(name, value) {
  const l = document.createElement('label');
  l.textContent = name;
  const i = document.createElement('input');
  i.name = name;
  i.value = Array.isArray(value) ? value.join(',') : String(value);
  i.dataset.type = Array.isArray(value) ? 'array' : typeof value;
  l.appendChild(i);
  return l;
}

function showFields() {
  const k = kinds.find((x) => x.name === $('kind').value);
  $('fields').replaceChildren(...Object.entries(k ? k.defaults : {}).map(([n, v]) => field(n, v)));
}

function readOptions() {
  const k = kinds.find((x) => x.name === $('kind').value);
  const out = {};
  for (const i of $('fields').querySelectorAll('input')) {
    if (String(k.defaults[i.name]) === i.value || (Array.isArray(k.defaults[i.name]) && k.defaults[i.name].join(',') === i.value)) continue;
    out[i.name] = i.dataset.type === 'number' ? Number(i.value) : i.dataset.type === 'array' ? i.value.split(',').map(Number) : i.value;
  }
  return out;
}

async function refreshJobs() {
  try {
    const jobs = await api('/jobs');
    $('jobs').replaceChildren(...jobs.slice().reverse().map((j) => {
      const tr = document.createElement('tr');
      tr.dataset.id = j.id;
      tr.innerHTML = '<td></td><td></td><td></td><td></td><td><button class="view">view</button></td>';
      tr.children[0].textContent = j.id;
      tr.children[1].textContent = j.kind;
      tr.children[2].textContent = j.status;
      tr.children[2].className = 'status-' + j.status;
      tr.children[3].textContent = j.records;
      tr.querySelector('.view').onclick = () => follow(j.id);
      return tr;
    }));
  } catch (e) { $('error').textContent = e.message; }
}

async function drawCharts() {
  if (!current) return;
  const specs = await api('/jobs/' + current + '/charts');
  const boxes = specs.map((c) => { const d = document.createElement('div'); d.className = 'chart chart-' + c.name; return d; });
  $('charts').replaceChildren(...boxes);
  await Promise.all(specs.map((c, i) => vegaEmbed(boxes[i], c.spec, { actions: false, renderer: 'svg' })));
}

function scheduleCharts() {
  if (chartTimer) return;
  chartTimer = setTimeout(() => { chartTimer = null; drawCharts().catch(() => {}); }, 400);
}

function showRecord(r) {
  $('records').textContent = String(r.iteration);
  const parts = ['validation ' + Number(r.validation).toFixed(4)];
  if (r.f1 !== undefined) parts.push('F1 ' + Number(r.f1).toFixed(3));
  if (r.testAccuracy !== undefined) parts.push('test accuracy ' + (100 * r.testAccuracy).toFixed(2) + ' %');
  if (r.lr !== undefined) parts.push('lr ' + Number(r.lr).toPrecision(3));
  $('latest').textContent = 'iteration ' + r.iteration + ': ' + parts.join(' · ');
  scheduleCharts();
}

async function showFiles(id) {
  const j = await api('/jobs/' + id);
  $('status').textContent = j.status;
  $('files').replaceChildren(...j.files.map((f) => {
    const a = document.createElement('a');
    a.textContent = f;
    a.href = '#';
    a.onclick = async (ev) => {
      ev.preventDefault();
      const res = await fetch('/jobs/' + id + '/files/' + f, { headers: token ? { authorization: 'Bearer ' + token } : {} });
      const url = URL.createObjectURL(await res.blob());
      window.open(url, '_blank');
    };
    const s = document.createElement('span');
    s.append(a, ' ');
    return s;
  }));
}

/** Follows a job: its records as Server-Sent Events (read with fetch, which can send the token). */
async function follow(id) {
  if (stream) stream.abort();
  current = id;
  $('detail').hidden = false;
  $('detail-id').textContent = id;
  $('latest').textContent = '';
  $('charts').replaceChildren();
  await showFiles(id);
  stream = new AbortController();
  const res = await fetch('/jobs/' + id + '/events', { signal: stream.signal, headers: token ? { authorization: 'Bearer ' + token } : {} });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = (/^event: (.*)$/m.exec(block) || [])[1];
        const data = (/^data: (.*)$/m.exec(block) || [])[1];
        if (!event || !data || current !== id) continue;
        const payload = JSON.parse(data);
        if (event === 'record') showRecord(payload);
        else if (event === 'end') { $('status').textContent = payload.status; await showFiles(id); scheduleCharts(); }
      }
    }
  } catch (e) { if (e.name !== 'AbortError') $('error').textContent = e.message; }
  if (current === id) $('status').textContent = (await api('/jobs/' + id)).status;
}

$('cancel').onclick = async () => {
  if (!current) return;
  try { const r = await api('/jobs/' + current, { method: 'DELETE' }); $('status').textContent = r.status; } catch (e) { $('error').textContent = e.message; }
};

$('start').onsubmit = async (ev) => {
  ev.preventDefault();
  $('error').textContent = '';
  try {
    const { id } = await api('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: $('kind').value, options: readOptions() }) });
    await refreshJobs();
    follow(id);
  } catch (e) { $('error').textContent = e.message; }
};

$('save-token').onclick = () => { token = $('token').value; sessionStorage.setItem('rfho-token', token); $('auth').hidden = true; init(); };
$('kind').onchange = showFields;

async function init() {
  try {
    kinds = await api('/kinds');
    $('kind').replaceChildren(...kinds.map((k) => { const o = document.createElement('option'); o.value = k.name; o.textContent = k.name; return o; }));
    showFields();
    await refreshJobs();
  } catch (e) { $('error').textContent = e.message; }
}
init();
setInterval(refreshJobs, 2000);
</script>
</body>
</html>
`;
