// CMTM.NET `cmtm serve` page: plain JavaScript, no build step.
'use strict';
const $ = id => document.getElementById(id);
const jobs = new Map();
let info = null, viewing = null, frame = 0, timer = null, mine = new Set();

function fmtBytes(b) { return b >= 1048576 ? (b / 1048576).toFixed(0) + ' MB' : (b / 1024).toFixed(0) + ' KB'; }
function fmtSec(s) { return s == null ? '' : s >= 60 ? (s / 60).toFixed(1) + ' min' : s.toFixed(1) + ' s'; }
function say(text, error) { const m = $('message'); m.textContent = text; m.className = error ? 'error' : ''; }
function option(select, value, text) { const o = document.createElement('option'); o.value = value; o.textContent = text ?? value; select.appendChild(o); }

async function init() {
  info = await (await fetch('/api/info')).json();
  $('model').textContent = info.model;
  $('limit').textContent = fmtBytes(info.maxUploadBytes);
  info.flows.forEach(f => option($('flow'), f));
  info.precisions.forEach(p => option($('precision'), p));
  info.backgrounds.forEach(b => option($('background'), b));
  info.samples.forEach(s => option($('sample'), s.id, s.title));
  const es = new EventSource('/api/events');
  es.addEventListener('jobs', e => { jobs.clear(); JSON.parse(e.data).forEach(j => jobs.set(j.id, j)); render(); });
  es.addEventListener('job', e => { const j = JSON.parse(e.data); jobs.set(j.id, j); render(); });
  es.addEventListener('removed', e => { jobs.delete(JSON.parse(e.data).id); render(); });
  // a dropped stream reconnects by itself (EventSource) and starts again with the 'jobs' snapshot
}

function settingsText(s) { return `${s.flow}, ${s.precision}, ${s.background}` + (s.feather ? `, feather ${s.feather}` : ''); }

function render() {
  const body = $('jobs').querySelector('tbody');
  body.textContent = '';
  const list = [...jobs.values()].sort((a, b) => b.created.localeCompare(a.created));
  for (const j of list) {
    const tr = body.insertRow();
    tr.dataset.id = j.id;
    tr.insertCell().textContent = j.name;
    tr.insertCell().textContent = settingsText(j.settings);
    const st = tr.insertCell();
    st.className = 'state state-' + j.state;
    st.textContent = j.state === 'Queued' ? `Queued (#${(j.queuePosition ?? 0) + 1})` : j.state === 'Failed' ? `Failed: ${j.error}` : j.state;
    tr.insertCell().textContent = j.state === 'Done' ? j.frames : j.progress ? `${j.progress.done}/${j.progress.total ?? '?'}` : (j.totalFrames ?? '');
    tr.insertCell().textContent = j.endToEndFps != null ? j.endToEndFps.toFixed(2) + ' (model ' + j.modelFps.toFixed(2) + ')' : '';
    tr.insertCell().textContent = fmtSec(j.seconds);
    const act = tr.insertCell();
    if (j.state === 'Queued' || j.state === 'Running') act.appendChild(button('Cancel', () => cancel(j.id), 'cancel'));
    if (j.state === 'Done') act.appendChild(button('View', () => view(j.id), 'view'));
  }
  const running = list.find(j => j.state === 'Running');
  $('progress-panel').hidden = !running;
  if (running) {
    $('run-name').textContent = running.name;
    const p = running.progress;
    const total = p?.total ?? running.totalFrames;
    $('run-bar').max = total || 1;
    $('run-bar').value = p ? p.done : 0;
    $('run-text').textContent = p ? `${p.done}${total ? ' / ' + total : ''} frames · ${p.rate.toFixed(2)} frames/s` + (p.etaSeconds != null ? ` · ETA ${fmtSec(p.etaSeconds)}` : '') : 'loading the model…';
    $('cancel-run').onclick = () => cancel(running.id);
  }
  // open the viewer on a job submitted from this page when it finishes
  for (const id of mine) {
    const j = jobs.get(id);
    if (j && j.state === 'Done') { mine.delete(id); say(`${j.name}: done`); view(id); }
    else if (j && (j.state === 'Failed' || j.state === 'Cancelled')) { mine.delete(id); say(`${j.name}: ${j.state.toLowerCase()}${j.error ? ': ' + j.error : ''}`, j.state === 'Failed'); }
  }
  if (viewing && !jobs.has(viewing)) { $('viewer').hidden = true; viewing = null; }
}

function button(text, onclick, cls) { const b = document.createElement('button'); b.type = 'button'; b.textContent = text; b.className = cls; b.onclick = onclick; return b; }

async function cancel(id) {
  const r = await fetch(`/api/jobs/${id}/cancel`, { method: 'POST' });
  if (!r.ok) say((await r.json()).error, true);
}

function view(id) {
  const j = jobs.get(id);
  viewing = id;
  stop();
  $('viewer').hidden = false;
  $('viewer').dataset.job = id;
  $('view-name').textContent = `${j.name} (${j.frames} frames, ${j.width}x${j.height}; ${settingsText(j.settings)})`;
  $('scrub').max = j.frames - 1;
  for (const [a, name] of [['dl-masks', 'masks.zip'], ['dl-overlay', 'overlay.mp4'], ['dl-cutout', 'cutout.zip'], ['dl-composite', 'composite.mp4']]) {
    const el = $(a);
    el.hidden = !(j.downloads || []).includes(name);
    el.href = `/api/jobs/${id}/download/${name}`;
  }
  show(0);
}

function show(i) {
  const j = jobs.get(viewing);
  if (!j) return;
  frame = Math.max(0, Math.min(i, j.frames - 1));
  $('scrub').value = frame;
  $('frame-label').textContent = `frame ${frame + 1} / ${j.frames} (${j.stems[frame]})`;
  for (const kind of ['original', 'overlay', 'cutout']) $('img-' + kind).src = `/api/jobs/${viewing}/frames/${kind}/${frame}`;
  $('viewer').dataset.frame = frame;
}

function stop() { if (timer) { clearInterval(timer); timer = null; } $('play').textContent = 'Play'; }
function play() {
  if (timer) return stop();
  const j = jobs.get(viewing);
  $('play').textContent = 'Pause';
  timer = setInterval(() => show(frame + 1 >= j.frames ? 0 : frame + 1), 1000 / Math.min(j.fps || 12, 24));
}

async function submit(ev) {
  ev.preventDefault();
  const file = $('file').files[0];
  const data = new FormData();
  if (file) {
    if (file.size > info.maxUploadBytes) { say(`${file.name}: larger than this server's upload limit of ${fmtBytes(info.maxUploadBytes)}`, true); return; }
    data.append('file', file, file.name);
  } else if ($('sample').value) data.append('sample', $('sample').value);
  else { say('choose a video file or a sample', true); return; }
  for (const k of ['flow', 'precision', 'background', 'feather']) data.append(k, $(k).value);
  $('submit').disabled = true;
  say(file ? `uploading ${file.name}…` : 'queueing the sample…');
  try {
    const r = await fetch('/api/jobs', { method: 'POST', body: data });
    const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) { say(body.error || `HTTP ${r.status}`, true); return; }
    mine.add(body.id);
    // the job's own events may have come before this response (a short job can be done by now): never go back to
    // the state the POST saw over a newer one from the stream
    if (!jobs.has(body.id)) jobs.set(body.id, body);
    say(`${body.name}: queued`);
    render();
  } catch (e) { say(String(e), true); }
  finally { $('submit').disabled = false; $('file').value = ''; }
}

$('job-form').addEventListener('submit', submit);
$('scrub').addEventListener('input', () => { stop(); show(+$('scrub').value); });
$('play').addEventListener('click', play);
const drop = $('drop');
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files.length) { $('file').files = e.dataTransfer.files; } });
init();
