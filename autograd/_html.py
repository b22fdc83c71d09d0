"""The step-through page's template, style sheet and script (no network, no external files).

The page reads its steps from an inline JSON block and only ever sets ``textContent``,
so user labels are never parsed as HTML.
"""

CSS = """
:root { --ink: #2b2b2b; --muted: #6b6b6b; --accent: #e6550d; --panel: #f7f7f5; }
* { box-sizing: border-box; }
body { margin: 0; font-family: Helvetica, Arial, sans-serif; color: var(--ink);
       background: #ffffff; }
header { padding: 12px 20px; border-bottom: 1px solid #e3e3de; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 430px; gap: 0; }
#drawing { padding: 12px; overflow: auto; }
#drawing svg { max-width: 100%; height: auto; }
aside { background: var(--panel); border-left: 1px solid #e3e3de; padding: 14px 16px;
        min-height: calc(100vh - 50px); }
.controls { display: flex; gap: 6px; align-items: center; margin-bottom: 10px; }
button { font: inherit; padding: 5px 12px; border: 1px solid #bdbdb6; border-radius: 5px;
         background: #ffffff; cursor: pointer; }
button:disabled { opacity: 0.4; cursor: default; }
.note { font-size: 12px; color: var(--muted); margin: 0 0 12px; line-height: 1.4; }
#counter { margin-left: auto; color: var(--muted); font-variant-numeric: tabular-nums; }
#phase { text-transform: uppercase; font-size: 11px; letter-spacing: 0.08em;
         color: var(--muted); }
#title { font-size: 15px; margin: 4px 0 10px; font-weight: 600; }
#lines { border-collapse: collapse; margin-bottom: 14px; width: 100%; }
#lines td { padding: 3px 6px; border-bottom: 1px solid #e3e3de; }
#lines td:first-child { color: var(--muted); width: 40%; }
#lines td:last-child { font-family: Menlo, Consolas, monospace; word-break: break-all; }
#product { font-family: Menlo, Consolas, monospace; background: #ffffff; padding: 8px;
           border: 1px solid #e3e3de; border-radius: 5px; margin-bottom: 12px;
           white-space: pre-wrap; }
#values { border-collapse: collapse; width: 100%; font-size: 12px; }
#values th { text-align: left; color: var(--muted); font-weight: normal;
             border-bottom: 1px solid #cfcfc8; padding: 3px 4px; }
#values td { padding: 2px 4px; font-family: Menlo, Consolas, monospace;
             word-break: break-all; }
#values tr.current td { background: #fde7d8; }
g.node, g.edge { transition: opacity 0.2s; }
g.dim { opacity: 0.15; }
g.focus polygon, g.focus path, g.focus ellipse { stroke: var(--accent); stroke-width: 3px; }
g.edge.focus path { stroke: var(--accent); stroke-width: 3px; }
g.edge.focus polygon { stroke: var(--accent); fill: var(--accent); }
"""

JS = """
(function () {
  const DATA = JSON.parse(document.getElementById('chainrule-data').textContent);
  const steps = DATA.steps, values = DATA.values, colours = DATA.colours;
  let current = -1, timer = null;
  const $ = (id) => document.getElementById(id);
  const svg = document.querySelector('#drawing svg');
  const group = (id) => svg ? svg.querySelector('g[id="' + id + '"]') : null;

  const tbody = $('values').querySelector('tbody');
  values.forEach((v, i) => {
    const tr = document.createElement('tr');
    tr.id = 'row' + i;
    for (const text of [v.name, v.op, v.data, '\\u2014']) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.children[3].className = 'grad';
    tbody.appendChild(tr);
  });

  function gradText(g) {
    for (const t of g.querySelectorAll('text')) {
      if (t.textContent.startsWith('grad ')) return t;
    }
    return null;
  }
  function paint(i, text) {
    const g = group('v' + i);
    const c = colours[i + ':' + text];
    if (!g || !c) return;
    for (const shape of g.querySelectorAll('polygon, path, ellipse')) {
      if (shape.getAttribute('fill') !== 'none') shape.setAttribute('fill', c[0]);
    }
    for (const t of g.querySelectorAll('text')) t.setAttribute('fill', c[1]);
    const gt = gradText(g);
    if (gt) gt.textContent = 'grad ' + c[2];
  }

  // The boxes were sized for the final gradients: centre each grad line so that
  // shorter running values stay centred, and start from 'grad —'.
  if (svg) {
    for (const g of svg.querySelectorAll('g.node')) {
      const t = gradText(g);
      if (!t) continue;
      const box = t.getBBox();
      t.setAttribute('x', String(box.x + box.width / 2));
      t.setAttribute('text-anchor', 'middle');
      t.textContent = 'grad \u2014';
    }
  }
  const initial = new Map();
  if (svg) {
    for (const g of svg.querySelectorAll('g.node, g.edge')) {
      const shapes = [...g.querySelectorAll('polygon, path, ellipse, text')];
      initial.set(g, shapes.map((s) => [s, s.getAttribute('fill'), s.textContent]));
    }
  }
  function reset() {
    for (const [g, saved] of initial) {
      g.classList.remove('focus');
      g.classList.add('dim');
      for (const [s, fill, text] of saved) {
        if (fill === null) s.removeAttribute('fill'); else s.setAttribute('fill', fill);
        if (s.tagName === 'text') s.textContent = text;
      }
    }
    for (const td of tbody.querySelectorAll('td.grad')) td.textContent = '\\u2014';
  }

  function show(k) {
    reset();
    const grads = {};
    for (let s = 0; s <= k; s++) {
      const step = steps[s];
      if (step.phase === 'forward') {
        for (const id of step.focus.concat(step.edges)) {
          const g = group(id); if (g) g.classList.remove('dim');
        }
      }
      Object.assign(grads, step.grads);
    }
    if (k >= 0 && steps[k].phase !== 'forward') {
      for (const g of initial.keys()) g.classList.remove('dim');
    }
    for (const [i, text] of Object.entries(grads)) {
      paint(i, text);
      $('row' + i).querySelector('td.grad').textContent = text;
    }
    for (const tr of tbody.querySelectorAll('tr')) tr.classList.remove('current');
    const lines = $('lines');
    lines.textContent = '';
    $('product').textContent = '';
    $('product').style.display = 'none';
    if (k < 0) {
      $('phase').textContent = 'start';
      $('title').textContent = 'The graph as built. Press Next to run the forward pass.';
    } else {
      const step = steps[k];
      for (const id of step.focus.concat(step.edges)) {
        const g = group(id); if (g) g.classList.add('focus');
      }
      $('row' + step.node).classList.add('current');
      $('phase').textContent = step.phase;
      $('title').textContent = step.title;
      for (const [key, label, text] of step.lines) {
        const tr = document.createElement('tr');
        tr.dataset.name = key;
        const a = document.createElement('td'); a.textContent = label;
        const b = document.createElement('td'); b.textContent = text;
        tr.append(a, b); lines.appendChild(tr);
      }
      $('product').textContent = step.equation || '';
      $('product').style.display = step.equation ? 'block' : 'none';
    }
    current = k;
    $('counter').textContent = (k + 1) + ' / ' + steps.length;
    $('prev').disabled = k < 0;
    $('next').disabled = k >= steps.length - 1;
  }

  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    $('play').textContent = 'Play';
  }
  $('prev').addEventListener('click', () => { stop(); if (current >= 0) show(current - 1); });
  $('next').addEventListener('click', () => {
    stop();
    if (current < steps.length - 1) show(current + 1);
  });
  $('play').addEventListener('click', () => {
    if (timer) { stop(); return; }
    if (current >= steps.length - 1) show(-1);
    $('play').textContent = 'Pause';
    timer = setInterval(() => {
      if (current >= steps.length - 1) { stop(); return; }
      show(current + 1);
    }, 700);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight') $('next').click();
    if (e.key === 'ArrowLeft') $('prev').click();
  });
  show(-1);
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header><h1>{title}</h1></header>
<main>
<section id="drawing">{svg}</section>
<aside>
<div class="controls">
<button id="prev" type="button">Prev</button>
<button id="next" type="button">Next</button>
<button id="play" type="button">Play</button>
<span id="counter"></span>
</div>
<p class="note">Colour: the size of each gradient so far, one shade per factor of ten below
the largest final |grad|; grey: zero or vanishing. Keys: &larr; and &rarr;.</p>
<div id="phase"></div>
<div id="title"></div>
<table id="lines"></table>
<div id="product"></div>
<table id="values"><thead><tr><th>value</th><th>op</th><th>data</th><th>grad</th></tr></thead>
<tbody></tbody></table>
</aside>
</main>
<script type="application/json" id="chainrule-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""
