"""The step-through page's template, style sheet and script (no network, no external files).

The page reads its steps from an inline JSON block and only ever sets ``textContent`` (and
attributes), so user labels are never parsed as HTML.  The drawing is an inline SVG whose
``viewBox`` the script moves: fit to the window, zoom (wheel, + and −), pan (drag), and
follow the current step at a readable size.
"""

CSS = """
:root { --ink: #2b2b2b; --muted: #6b6b6b; --accent: #e6550d; --panel: #f7f7f5;
        --bad: #d7301f; --good: #238b45; }
* { box-sizing: border-box; }
html, body { height: 100%; }
body { margin: 0; font-family: Helvetica, Arial, sans-serif; color: var(--ink);
       background: #ffffff; display: flex; flex-direction: column; }
header { padding: 10px 16px; border-bottom: 1px solid #e3e3de; display: flex;
         align-items: center; gap: 16px; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; }
main { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(0, 1fr) 440px; }
#drawing { position: relative; overflow: hidden; min-height: 0; background: #ffffff;
           touch-action: none; }
#drawing svg { display: block; width: 100%; height: 100%; cursor: grab; user-select: none; }
#drawing svg.dragging { cursor: grabbing; }
#viewbar { position: absolute; right: 10px; top: 10px; display: flex; gap: 4px;
           align-items: center; background: rgba(255, 255, 255, 0.9); padding: 4px;
           border: 1px solid #e3e3de; border-radius: 6px; font-size: 12px; }
#viewbar label { color: var(--muted); margin-left: 4px; }
#zoomlevel { min-width: 42px; text-align: right; color: var(--muted);
             font-variant-numeric: tabular-nums; }
aside { background: var(--panel); border-left: 1px solid #e3e3de; padding: 12px 14px;
        overflow-y: auto; min-height: 0; }
.controls { display: flex; gap: 6px; align-items: center; margin-bottom: 8px; }
button { font: inherit; padding: 4px 11px; border: 1px solid #bdbdb6; border-radius: 5px;
         background: #ffffff; cursor: pointer; }
#viewbar button { padding: 2px 8px; }
button:disabled { opacity: 0.4; cursor: default; }
.note { font-size: 12px; color: var(--muted); margin: 0 0 10px; line-height: 1.4; }
#counter { margin-left: auto; color: var(--muted); font-variant-numeric: tabular-nums; }
#phase { text-transform: uppercase; font-size: 11px; letter-spacing: 0.08em;
         color: var(--muted); }
#title { font-size: 15px; margin: 4px 0 8px; font-weight: 600; overflow-wrap: anywhere; }
#product { font-family: Menlo, Consolas, monospace; font-size: 13px; background: #ffffff;
           padding: 8px; border: 1px solid #e3e3de; border-radius: 5px; margin-bottom: 10px;
           white-space: pre-wrap; overflow-wrap: anywhere; }
#lines { border-collapse: collapse; margin-bottom: 12px; width: 100%; font-size: 13px; }
#lines td { padding: 3px 6px; border-bottom: 1px solid #e3e3de; vertical-align: top; }
#lines td:first-child { color: var(--muted); width: 42%; overflow-wrap: anywhere; }
#lines td:last-child { font-family: Menlo, Consolas, monospace; overflow-wrap: anywhere; }
#quiz { display: none; background: #fff8f0; border: 1px solid #f3c9a4; border-radius: 5px;
        padding: 8px; margin-bottom: 10px; font-size: 13px; }
#quiz input { font: inherit; width: 130px; padding: 3px 6px; margin: 0 4px; }
#verdict { margin-top: 6px; min-height: 1em; }
#verdict.right { color: var(--good); font-weight: 600; }
#verdict.wrong { color: var(--bad); font-weight: 600; }
#score { font-size: 13px; font-weight: 600; }
#values { border-collapse: collapse; width: 100%; font-size: 12px; }
#values th { text-align: left; color: var(--muted); font-weight: normal;
             border-bottom: 1px solid #cfcfc8; padding: 3px 4px; }
#values td { padding: 2px 4px; font-family: Menlo, Consolas, monospace;
             overflow-wrap: anywhere; }
#values td:nth-child(n+3) { white-space: nowrap; }
#values tr.current td { background: #fde7d8; }
#values td.bad { color: var(--bad); font-weight: 600; }
#values td.ok { color: var(--good); }
g.node, g.edge { transition: opacity 0.2s; }
g.dim { opacity: 0.15; }
g.focus polygon, g.focus path, g.focus ellipse { stroke: var(--accent); stroke-width: 3px; }
g.edge.focus path { stroke: var(--accent); stroke-width: 3px; }
g.edge.focus polygon { stroke: var(--accent); fill: var(--accent); }
g.fd-bad polygon, g.fd-bad path { stroke: var(--bad); stroke-width: 3px;
                                  stroke-dasharray: 5 3; }
text.fd-mark { fill: var(--bad); font-weight: bold; font-size: 12px; }
"""

JS = """
(function () {
  const DATA = JSON.parse(document.getElementById('chainrule-data').textContent);
  const steps = DATA.steps, values = DATA.values, colours = DATA.colours;
  const QUIZ = DATA.quiz, TOL = DATA.tolerance;
  const READABLE = 0.9, COMFORTABLE = 1.25;  // px per drawing unit (11 pt text: 10, 14 px)
  const SVGNS = 'http://www.w3.org/2000/svg';
  let current = -1, timer = null;
  const answers = {};  // backward step -> {value, right, skipped}
  const $ = (id) => document.getElementById(id);
  const view = $('drawing');
  const svg = view.querySelector('svg');
  const group = (id) => (svg && id) ? svg.querySelector('g[id="' + id + '"]') : null;

  // ---- the drawing: fit, zoom, pan, follow ------------------------------------------
  let box = null, full = null;
  if (svg) {
    const vb = svg.viewBox.baseVal;
    full = {x: vb.x, y: vb.y, w: vb.width, h: vb.height};
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    svg.setAttribute('preserveAspectRatio', 'xMinYMin meet');
  }
  function scale() { return box ? view.clientWidth / box.w : 1; }
  function setView(x, y, s) {
    if (!svg) return;
    s = Math.min(Math.max(s, 0.02), 8);
    box = {x: x, y: y, w: view.clientWidth / s, h: view.clientHeight / s};
    svg.setAttribute('viewBox', [box.x, box.y, box.w, box.h].join(' '));
    $('zoomlevel').textContent = Math.round(s * 100) + '%';
  }
  function fit() {
    if (!svg) return;
    const s = Math.min(view.clientWidth / full.w, view.clientHeight / full.h, COMFORTABLE);
    setView(full.x - (view.clientWidth / s - full.w) / 2,
            full.y - (view.clientHeight / s - full.h) / 2, s);
  }
  function zoomAt(factor, px, py) {
    const s = scale(), t = Math.min(Math.max(s * factor, 0.02), 8);
    setView(box.x + px / s - px / t, box.y + py / s - py / t, t);
  }
  function unitsOf(el) {  // an element's box in drawing units
    const r = el.getBoundingClientRect(), v = view.getBoundingClientRect(), s = scale();
    return {x: box.x + (r.left - v.left) / s, y: box.y + (r.top - v.top) / s,
            w: r.width / s, h: r.height / s};
  }
  function follow(ids) {
    if (!svg || !$('follow').checked) return;
    const els = ids.map(group).filter((g) => g);
    if (!els.length) return;
    let bs = els.map(unitsOf);
    let s = Math.max(scale(), READABLE);
    if (scale() < READABLE) s = COMFORTABLE;
    const w = view.clientWidth / s, h = view.clientHeight / s;
    const span = (list) => {
      const x0 = Math.min(...list.map((b) => b.x)), y0 = Math.min(...list.map((b) => b.y));
      return {x0: x0, y0: y0, x1: Math.max(...list.map((b) => b.x + b.w)),
              y1: Math.max(...list.map((b) => b.y + b.h))};
    };
    let t = span(bs);
    // Everything the step concerns when it fits; else the value it is about (the first).
    if (t.x1 - t.x0 > 0.9 * w || t.y1 - t.y0 > 0.9 * h) { bs = bs.slice(0, 1); t = span(bs); }
    const inside = t.x0 >= box.x && t.y0 >= box.y && t.x1 <= box.x + box.w &&
      t.y1 <= box.y + box.h;
    if (s === scale() && inside) return;
    setView((t.x0 + t.x1) / 2 - w / 2, (t.y0 + t.y1) / 2 - h / 2, s);
  }
  if (svg) {
    view.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = view.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    let drag = null;
    svg.addEventListener('pointerdown', (e) => {
      drag = {x: e.clientX, y: e.clientY, bx: box.x, by: box.y};
      svg.classList.add('dragging');
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const s = scale();
      setView(drag.bx - (e.clientX - drag.x) / s, drag.by - (e.clientY - drag.y) / s, s);
    });
    const end = () => { drag = null; svg.classList.remove('dragging'); };
    svg.addEventListener('pointerup', end);
    svg.addEventListener('pointercancel', end);
    window.addEventListener('resize', () => setView(box.x, box.y, scale()));
  }
  const centre = () => [view.clientWidth / 2, view.clientHeight / 2];
  $('zoomin').addEventListener('click', () => zoomAt(1.25, ...centre()));
  $('zoomout').addEventListener('click', () => zoomAt(1 / 1.25, ...centre()));
  $('fit').addEventListener('click', fit);

  // ---- the values table ---------------------------------------------------------------
  const tbody = $('values').querySelector('tbody');
  if (!DATA.checked || QUIZ) $('values').classList.add('nocheck');
  values.forEach((v, i) => {
    const tr = document.createElement('tr');
    tr.id = 'row' + i;
    const cells = [[v.name, v.name], [v.op, ''], [v.data, v.dataFull], ['\\u2014', '']];
    if (DATA.checked && !QUIZ) cells.push(['\\u2014', '']);
    for (const [text, full] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      if (full) td.title = full;
      tr.appendChild(td);
    }
    tr.children[3].className = 'grad';
    if (tr.children[4]) tr.children[4].className = 'check';
    tbody.appendChild(tr);
  });
  if (!DATA.checked || QUIZ) {
    const th = $('values').querySelector('th.check');
    if (th) th.remove();
  }
  if (!DATA.checked && !QUIZ) {
    $('checknote').textContent = 'Gradient check skipped: the graph has more than ' +
      DATA.checkLimit + ' values.';
  }

  function gradText(g) {
    for (const t of g.querySelectorAll('text')) {
      if (t.textContent.startsWith('grad ')) return t;
    }
    return null;
  }
  function paint(i, text) {
    const c = colours[i + ':' + text];
    const box = group(values[i].group);
    if (box && c) {  // a collapsed neuron or layer: its output's gradient
      for (const t of box.querySelectorAll('text')) {
        if (t.textContent.includes(' \u00b7 grad ')) {
          t.textContent = t.textContent.replace(/ \u00b7 grad .*/, ' \u00b7 grad ' + c[2]);
        }
      }
    }
    const g = group(values[i].box);
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
      const b = t.getBBox();
      t.setAttribute('x', String(b.x + b.width / 2));
      t.setAttribute('text-anchor', 'middle');
      t.textContent = 'grad \\u2014';
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
      g.classList.remove('focus', 'fd-bad');
      g.classList.add('dim');
      for (const [s, fill, text] of saved) {
        if (fill === null) s.removeAttribute('fill'); else s.setAttribute('fill', fill);
        if (s.tagName === 'text') s.textContent = text;
      }
    }
    if (svg) for (const m of svg.querySelectorAll('text.fd-mark')) m.remove();
    for (const td of tbody.querySelectorAll('td.grad, td.check')) {
      td.textContent = '\\u2014';
      td.title = '';
      td.classList.remove('bad', 'ok');
    }
  }

  // ---- the gradient check -------------------------------------------------------------
  function markCheck(k) {
    if (!DATA.checked || QUIZ) return;
    values.forEach((v, i) => {
      if (v.last < 0 || k < v.last) return;
      const td = $('row' + i).querySelector('td.check');
      if (v.fd === null) {
        td.textContent = 'n/a';
        td.title = 'the root cannot be recomputed from this value';
        return;
      }
      td.textContent = v.fd + (v.fdOk ? ' \\u2713' : ' \\u2717');
      td.title = 'central difference ' + v.fdFull + ', backpropagation ' + v.gradFull;
      td.classList.add(v.fdOk ? 'ok' : 'bad');
      const g = group(v.box);
      if (!v.fdOk && g) {
        g.classList.add('fd-bad');
        const b = g.getBBox();
        const mark = document.createElementNS(SVGNS, 'text');
        mark.setAttribute('class', 'fd-mark');
        mark.setAttribute('x', String(b.x + b.width + 2));
        mark.setAttribute('y', String(b.y + 10));
        mark.textContent = '\\u2260 ' + v.fd;
        g.appendChild(mark);
      }
    });
  }

  // ---- the quiz -----------------------------------------------------------------------
  const asks = (k) => QUIZ && k >= 0 && steps[k].phase === 'backward';
  const open = (k) => asks(k) && !answers[k];
  function score() {
    const done = Object.values(answers).filter((a) => !a.skipped);
    const right = done.filter((a) => a.right).length;
    const total = steps.filter((s) => s.phase === 'backward').length;
    let text = 'Score ' + right + ' / ' + done.length;
    if (current === steps.length - 1 && !open(current)) {
      text = 'Quiz finished: ' + right + ' of ' + done.length + ' right';
      const skipped = total - done.length;
      if (skipped) text += ' (' + skipped + ' skipped)';
    }
    $('score').textContent = text;
  }
  function verdict(k) {
    const a = answers[k], v = $('verdict');
    v.className = '';
    v.textContent = '';
    if (!a || a.skipped) return;
    const q = steps[k].question;
    if (a.right) {
      v.className = 'right';
      v.textContent = 'Right: ' + q.target + ' = ' + q.shown;
    } else {
      v.className = 'wrong';
      v.textContent = (a.value === null ? 'Answer shown: ' : 'Not quite (you typed ' +
        a.value + '): ') + q.target + ' = ' + q.shown + '. ' + steps[k].equation;
    }
  }
  function check(reveal) {
    const k = current;
    if (!open(k)) return;
    const q = steps[k].question, truth = Number(q.answer);
    let value = null;
    if (!reveal) {
      const text = $('answer').value.trim().replace('\\u2212', '-');
      value = text === '' ? NaN : Number(text);
      if (!Number.isFinite(value)) {
        $('verdict').className = 'wrong';
        $('verdict').textContent = 'Type a number, such as 0.25 or -1.5e-3.';
        return;
      }
    }
    const right = value !== null &&
      Math.abs(value - truth) <= Math.max(TOL[0], TOL[1] * Math.abs(truth));
    answers[k] = {value: value === null ? null : $('answer').value.trim(), right: right,
                  skipped: false};
    show(k);
  }
  $('check').addEventListener('click', () => check(false));
  $('reveal').addEventListener('click', () => check(true));
  $('answer').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); check(false); }
  });

  // ---- one step -----------------------------------------------------------------------
  function show(k) {
    reset();
    if (QUIZ) {  // steps jumped over are shown, not scored
      for (let s = 0; s < k; s++) if (asks(s) && !answers[s]) answers[s] = {skipped: true};
    }
    const grads = {};
    for (let s = 0; s <= k; s++) {
      const step = steps[s];
      if (step.phase === 'forward') {
        for (const id of step.focus.concat(step.edges)) {
          const g = group(id); if (g) g.classList.remove('dim');
        }
      }
      if (!open(s)) Object.assign(grads, step.grads);
    }
    if (k >= 0 && steps[k].phase !== 'forward') {
      for (const g of initial.keys()) g.classList.remove('dim');
    }
    for (const [i, text] of Object.entries(grads)) {
      paint(i, text);
      const td = $('row' + i).querySelector('td.grad');
      td.textContent = colours[i + ':' + text][2];
      td.title = text;
    }
    if (!open(k)) markCheck(k);
    for (const tr of tbody.querySelectorAll('tr')) tr.classList.remove('current');
    const lines = $('lines');
    lines.textContent = '';
    $('product').textContent = '';
    $('product').style.display = 'none';
    $('quiz').style.display = asks(k) ? 'block' : 'none';
    if (k < 0) {
      $('phase').textContent = 'start';
      $('title').textContent = 'The graph as built, every value already computed. ' +
        'Press Next to replay the forward pass, then the backward pass, step by step.';
    } else {
      const step = steps[k];
      for (const id of step.focus.concat(step.edges)) {
        const g = group(id); if (g) g.classList.add('focus');
      }
      $('row' + step.node).classList.add('current');
      $('phase').textContent = step.phase;
      $('title').textContent = step.title;
      const hidden = open(k) ? ['local', 'contribution', 'grad'] : [];
      for (const [key, label, text, full] of step.lines) {
        if (hidden.includes(key)) continue;
        const tr = document.createElement('tr');
        tr.dataset.name = key;
        const a = document.createElement('td'); a.textContent = label;
        const b = document.createElement('td'); b.textContent = text; b.title = full;
        tr.append(a, b); lines.appendChild(tr);
      }
      const v = values[step.node];
      if (step.phase === 'backward' && !open(k) && DATA.checked && !QUIZ && k === v.last) {
        const tr = document.createElement('tr');
        tr.dataset.name = 'check';
        const a = document.createElement('td');
        a.textContent = 'check: central difference';
        const b = document.createElement('td');
        b.textContent = v.fd === null ? 'n/a' :
          v.fd + (v.fdOk ? ' \\u2713 agrees' : ' \\u2717 disagrees');
        b.title = v.fdFull || '';
        if (v.fd !== null) b.className = v.fdOk ? 'ok' : 'bad';
        tr.append(a, b); lines.appendChild(tr);
      }
      const equation = open(k) ? step.question.equation : step.equation;
      $('product').textContent = equation || '';
      $('product').style.display = equation ? 'block' : 'none';
      if (asks(k)) {
        $('question').textContent = 'Type ' + step.question.target + ' after this step:';
        $('answer').disabled = !open(k);
        $('check').disabled = !open(k);
        $('reveal').disabled = !open(k);
        if (open(k)) $('answer').value = '';
        verdict(k);
      }
      follow(step.focus);
    }
    current = k;
    $('counter').textContent = (k + 1) + ' / ' + steps.length;
    $('prev').disabled = k < 0;
    $('next').disabled = k >= steps.length - 1 || open(k);
    if (QUIZ) score();
    try { history.replaceState(null, '', '#step=' + (k + 1)); } catch (e) { /* srcdoc */ }
    if (open(k)) $('answer').focus();
  }

  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    $('play').textContent = 'Play';
  }
  $('prev').addEventListener('click', () => { stop(); if (current >= 0) show(current - 1); });
  $('next').addEventListener('click', () => {
    stop();
    if (current < steps.length - 1 && !open(current)) show(current + 1);
  });
  $('play').addEventListener('click', () => {
    if (timer) { stop(); return; }
    if (current >= steps.length - 1) show(-1);
    $('play').textContent = 'Pause';
    timer = setInterval(() => {
      if (current >= steps.length - 1 || open(current)) { stop(); return; }
      show(current + 1);
    }, 700);
  });
  document.addEventListener('keydown', (e) => {
    if (e.target && e.target.tagName === 'INPUT') return;
    if (e.key === 'ArrowRight') $('next').click();
    if (e.key === 'ArrowLeft') $('prev').click();
    if (e.key === '+' || e.key === '=') $('zoomin').click();
    if (e.key === '-') $('zoomout').click();
  });
  function fromAddress() {
    const m = /step=(-?\\d+)/.exec(location.hash);
    if (!m) return -1;
    return Math.min(Math.max(parseInt(m[1], 10) - 1, -1), steps.length - 1);
  }
  window.addEventListener('hashchange', () => {
    const k = fromAddress();
    if (k !== current) { stop(); show(k); }
  });
  if (QUIZ) $('checknote').textContent = '';
  if (QUIZ) $('mode').textContent = 'Quiz: type each gradient. Answers within ' + TOL[0] +
    ' (or ' + (TOL[1] * 100) + '% of larger numbers) count as right. Nothing is sent anywhere.';
  fit();
  show(fromAddress());
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
<header><h1>{title}</h1><span class="note" id="mode"></span></header>
<main>
<section id="drawing">{svg}
<div id="viewbar">
<button id="zoomout" type="button" title="zoom out (-)">&minus;</button>
<span id="zoomlevel"></span>
<button id="zoomin" type="button" title="zoom in (+)">+</button>
<button id="fit" type="button" title="show the whole graph">Fit</button>
<label><input id="follow" type="checkbox" checked> follow the step</label>
</div>
</section>
<aside>
<div class="controls">
<button id="prev" type="button">Prev</button>
<button id="next" type="button">Next</button>
<button id="play" type="button">Play</button>
<span id="counter"></span>
</div>
<p class="note">Colour: the size of each gradient so far, one shade per factor of ten below
the largest final |grad|; grey: zero or vanishing. Keys: &larr; &rarr; to step, + &minus; to
zoom; drag to pan. Hover a number for all its digits; link to a step with #step=N.</p>
<div id="phase"></div>
<div id="title"></div>
<div id="product"></div>
<div id="quiz"><div id="question"></div>
<input id="answer" type="text" inputmode="decimal" autocomplete="off" aria-label="your answer">
<button id="check" type="button">Check</button>
<button id="reveal" type="button">Show answer</button>
<div id="verdict"></div>
<div id="score"></div></div>
<table id="lines"></table>
<p class="note" id="checknote">Check: each gradient beside a central-difference estimate
computed when the page was written; &#x2717; and a dashed red box mark a disagreement.</p>
<table id="values"><thead><tr><th>value</th><th>op</th><th>data</th><th>grad</th>
<th class="check">central diff.</th></tr></thead>
<tbody></tbody></table>
</aside>
</main>
<script type="application/json" id="chainrule-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""
