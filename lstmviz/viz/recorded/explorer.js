// lstmviz recorded explorer (written by lstmviz.viz.export_html): no kernel, no network.
// The data block holds every recorded value as one byte: q in 0..255 stands for
// lo + q * (hi - lo) / 255 on the name's range (each unit's own ±max|c| for the memory cell),
// laid out (layer, name, unit, step).
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("lstmviz-data").textContent);
  const root = document.getElementById("lx");
  const $ = (sel) => root.querySelector(sel);
  const SVG = "http://www.w3.org/2000/svg";
  const T = D.steps, H = D.hidden, LEVELS = D.levels;
  const bytes = Uint8Array.from(atob(D.data), (ch) => ch.charCodeAt(0));
  const SHOW = { "\n": "⏎", " ": " ", "\t": "⇥", "\r": "␍" };
  const state = Object.assign({}, D.start);

  // ------------------------------------------------------------------ values
  function block(layer, name) {
    const k = D.layers.indexOf(layer) * D.names.length + D.names.indexOf(name);
    return k * H * T;
  }
  function range(layer, name, unit) {
    if (name === "c") { const m = D.cell_scale[String(layer)][unit]; return [-m, m]; }
    return D.ranges[name];
  }
  function value(layer, name, unit, t) {
    const [lo, hi] = range(layer, name, unit);
    return lo + bytes[block(layer, name) + unit * T + t] * (hi - lo) / LEVELS;
  }
  function series(layer, name, unit) {
    const [lo, hi] = range(layer, name, unit), s = (hi - lo) / LEVELS;
    const start = block(layer, name) + unit * T, out = new Float64Array(T);
    for (let t = 0; t < T; t++) out[t] = lo + bytes[start + t] * s;
    return out;
  }
  // decimals that the 8-bit step supports: 2 for gates, fewer for a memory cell of a wide range
  function decimals(layer, name, unit) {
    const [lo, hi] = range(layer, name, unit);
    return Math.max(0, Math.min(3, Math.floor(-Math.log10((hi - lo) / LEVELS))));
  }
  function fmt(v, layer, name, unit) {
    const s = v.toFixed(decimals(layer, name, unit));
    return (/^-0\.?0*$/.test(s) ? s.slice(1) : s).replace("-", "−");
  }

  // ------------------------------------------------------------------ colours
  function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }
  function colour(scale, x) {  // x in [0, 1] on a plotly-style scale [[0, "#hex"], ...]
    x = Math.min(1, Math.max(0, x));
    for (let i = 1; i < scale.length; i++) {
      if (x <= scale[i][0] || i === scale.length - 1) {
        const [a, ca] = scale[i - 1], [b, cb] = scale[i];
        const f = b > a ? (x - a) / (b - a) : 0, A = hex(ca), B = hex(cb);
        return "rgb(" + A.map((v, j) => Math.round(v + f * (B[j] - v))).join(",") + ")";
      }
    }
    return scale[0][1];
  }
  function position01(v, lo, hi) { return (v - lo) / (hi - lo); }
  // Γ_f as Γ with a real subscript f, in text that is otherwise escaped
  function sub(text) {
    const esc = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    return esc.replace(/Γ_([ufo])/g, "Γ<sub>$1</sub>");
  }

  // ------------------------------------------------------------------ build the page
  $(".lx-title").textContent = D.title;
  $("#lx-wait").remove();
  $(".lx-controls").hidden = false;
  $(".lx-steps").hidden = false;
  const selLayer = $("select[name=layer]"), selName = $("select[name=name]");
  const inUnit = $("input[name=unit]"), inPos = $("input[name=position]");
  for (const x of D.layers) selLayer.add(new Option("layer " + x, x));
  for (const n of D.names) selName.add(new Option(D.labels[n], n));
  inUnit.max = H - 1;
  inPos.max = T - 1;
  $(".lx-foot").textContent =
    "Recorded by lstmviz: " + T + " characters, " + D.layers.length + " layer(s) of " + H +
    " units, names " + D.names.map((n) => D.symbols[n]).join(" ") + ". Each value is stored " +
    "as one of 256 steps of its range (gates [0, 1]: within ±0.002; ĉ and a [−1, 1]: ±0.004; " +
    "each unit's memory cell on ±its largest |c|), and shown to that precision.";

  const textBox = $(".lx-text"), spans = [];
  for (let t = 0; t < T; t++) {
    const ch = D.text[t], span = document.createElement("span");
    span.textContent = ch in SHOW ? SHOW[ch] : ch;
    if (ch === "\n") span.className = "lx-nl";
    span.dataset.t = t;
    textBox.appendChild(span);
    if (ch === "\n") textBox.appendChild(document.createTextNode("\n"));
    spans.push(span);
  }
  textBox.addEventListener("click", (e) => {
    const t = e.target.dataset && e.target.dataset.t;
    if (t !== undefined) set({ position: +t });
  });

  // the unit grid: every unit at the current step, click one to pick it
  const grid = $(".lx-grid"), COLS = Math.min(32, H), CELL = 14;
  const rows = Math.ceil(H / COLS);
  grid.setAttribute("viewBox", `0 0 ${COLS * CELL} ${rows * CELL}`);
  grid.setAttribute("width", COLS * CELL);
  grid.setAttribute("height", rows * CELL);
  const rects = [];
  for (let u = 0; u < H; u++) {
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", (u % COLS) * CELL + 0.5);
    r.setAttribute("y", Math.floor(u / COLS) * CELL + 0.5);
    r.setAttribute("width", CELL - 1);
    r.setAttribute("height", CELL - 1);
    r.dataset.unit = u;
    r.appendChild(document.createElementNS(SVG, "title"));
    grid.appendChild(r);
    rects.push(r);
  }
  grid.addEventListener("click", (e) => {
    const u = e.target.dataset && e.target.dataset.unit;
    if (u !== undefined) set({ unit: +u });
  });

  // ------------------------------------------------------------------ the line over the steps
  const line = $(".lx-line"), W = 800, HT = 170, M = { l: 46, r: 8, t: 8, b: 22 };
  const px = (t) => M.l + (T > 1 ? t / (T - 1) : 0.5) * (W - M.l - M.r);
  function drawLine() {
    const { layer, name, unit } = state, [lo, hi] = range(layer, name, unit);
    const py = (v) => M.t + (1 - position01(v, lo, hi)) * (HT - M.t - M.b);
    const s = series(layer, name, unit);
    let svg = "";
    for (const v of [lo, (lo + hi) / 2, hi]) {
      svg += `<line x1="${M.l}" x2="${W - M.r}" y1="${py(v)}" y2="${py(v)}" stroke="#d0d7de"` +
        ` stroke-width="${v === 0 ? 1.2 : 0.6}"/>` +
        `<text x="${M.l - 4}" y="${py(v) + 4}" text-anchor="end">${fmt(v, layer, name, unit)}</text>`;
    }
    const every = Math.max(1, Math.ceil(T / 10 / 10) * 10);
    for (let t = 0; t < T; t += every) {
      svg += `<text x="${px(t)}" y="${HT - 6}" text-anchor="middle">${t}</text>`;
    }
    const pts = Array.from(s, (v, t) => px(t).toFixed(1) + "," + py(v).toFixed(1)).join(" ");
    svg += `<polyline class="lx-series" points="${pts}" fill="none" stroke="#0969da"` +
      ` stroke-width="1.4" vector-effect="non-scaling-stroke"/>`;
    svg += `<line class="lx-now" y1="${M.t}" y2="${HT - M.b}" stroke="#111" stroke-width="1"/>` +
      `<circle class="lx-dot" r="3.5" fill="#111"/>`;
    line.innerHTML = svg;
    line.dataset.lo = lo;
    line.dataset.hi = hi;
    line._py = py;
    line._s = s;
  }
  function moveMarker() {
    const t = state.position, x = px(t), y = line._py(line._s[t]);
    const now = line.querySelector(".lx-now"), dot = line.querySelector(".lx-dot");
    now.setAttribute("x1", x); now.setAttribute("x2", x);
    dot.setAttribute("cx", x); dot.setAttribute("cy", y);
    const { layer, name, unit } = state, s = line._s;
    let lo = Infinity, hi = -Infinity;
    for (const v of s) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    line.setAttribute("aria-label",
      `${D.labels[name]} of unit ${unit}, layer ${layer}, over the ${T} characters: from ` +
      `${fmt(lo, layer, name, unit)} to ${fmt(hi, layer, name, unit)}; at character ${t} ` +
      `(${shown(D.text[t])}) ${fmt(s[t], layer, name, unit)}`);
  }
  function stepAt(clientX) {
    const box = line.getBoundingClientRect();
    const x = (clientX - box.left) / box.width * W;
    return Math.round(Math.min(1, Math.max(0, (x - M.l) / (W - M.l - M.r))) * (T - 1));
  }
  let dragging = false;
  line.addEventListener("pointerdown", (e) => { dragging = true; set({ position: stepAt(e.clientX) }); });
  line.addEventListener("pointermove", (e) => { if (dragging) set({ position: stepAt(e.clientX) }); });
  window.addEventListener("pointerup", () => { dragging = false; });

  // ------------------------------------------------------------------ text, table, grid
  function shown(ch) { return "'" + (ch in SHOW && ch !== " " ? SHOW[ch] : ch) + "'"; }
  function colourText() {
    const { layer, name, unit } = state, [lo, hi] = range(layer, name, unit);
    const s = series(layer, name, unit), scale = D.colors[name].soft;
    const d = decimals(layer, name, unit);
    for (let t = 0; t < T; t++) {
      spans[t].style.background = colour(scale, position01(s[t], lo, hi));
      spans[t].title = `character ${t} ${shown(D.text[t])}: ${D.symbols[name]} = ${s[t].toFixed(d)}`;
    }
  }
  function table() {
    const { layer, unit, position: t } = state;
    $(".lx-table-title").textContent =
      `unit ${unit} of layer ${layer} at character ${t} ${shown(D.text[t])}`;
    const body = $(".lx-table tbody");
    body.innerHTML = "";
    for (const n of D.names) {
      const v = value(layer, n, unit, t), [lo, hi] = range(layer, n, unit);
      const tr = body.insertRow();
      if (n === state.name) tr.className = "lx-on";
      tr.insertCell().innerHTML = sub(D.labels[n]);
      const num = tr.insertCell();
      num.className = "lx-num";
      num.textContent = fmt(v, layer, n, unit);
      const bar = document.createElement("span");
      bar.className = "lx-bar";
      bar.style.width = Math.round(4 + 70 * position01(v, lo, hi)) + "px";
      bar.style.background = colour(D.colors[n].strong, position01(v, lo, hi));
      tr.insertCell().appendChild(bar);
    }
    // the memory cell's update, worked out with the recorded values
    const need = ["i", "f", "g", "c"].every((n) => D.names.includes(n));
    const p = $(".lx-ledger");
    if (need && t > 0) {
      const f = value(layer, "f", unit, t), i = value(layer, "i", unit, t);
      const g = value(layer, "g", unit, t), cPrev = value(layer, "c", unit, t - 1);
      const c = value(layer, "c", unit, t), F = (v, n) => fmt(v, layer, n, unit);
      p.innerHTML = sub(`c⟨t⟩ = Γ_f·c⟨t−1⟩ + Γ_u·ĉ⟨t⟩ = ${F(f, "f")} × ${F(cPrev, "c")} + ` +
        `${F(i, "i")} × ${F(g, "g")} = ${F(f * cPrev + i * g, "c")} (recorded: ${F(c, "c")})`);
    } else {
      p.innerHTML = need ? sub("c⟨t⟩ = Γ_f·c⟨t−1⟩ + Γ_u·ĉ⟨t⟩ (move to a later character to see " +
        "it worked out)") : "";
    }
  }
  function colourGrid() {
    const { layer, name, position: t } = state;
    const scale = D.colors[name].strong, base = block(layer, name);
    for (let u = 0; u < H; u++) {
      const q = bytes[base + u * T + t];
      rects[u].setAttribute("fill", colour(scale, q / LEVELS));
      const [lo, hi] = range(layer, name, u);
      rects[u].firstChild.textContent =
        `unit ${u}: ${D.symbols[name]} = ${fmt(lo + q * (hi - lo) / LEVELS, layer, name, u)}`;
    }
    $(".lx-grid-title").innerHTML = sub(
      `all ${H} units of ${D.labels[name]}, layer ${layer}, at character ${t}: click one to pick it`);
    $(".lx-grid-note").textContent = name === "c"
      ? "Each memory cell is coloured on its own range, ±its largest |c| in this text."
      : "";
    grid.setAttribute("aria-label", $(".lx-grid-title").textContent);
  }
  function outlineUnit() {
    for (const r of grid.querySelectorAll(".lx-on")) r.classList.remove("lx-on");
    rects[state.unit].classList.add("lx-on");
    for (const b of root.querySelectorAll(".lx-try button")) {
      b.classList.toggle("lx-on", +b.dataset.unit === state.unit);
    }
  }
  function tryUnits() {  // the most variable units of this name and layer, as buttons
    const { layer, name } = state, sd = [];
    for (let u = 0; u < H; u++) {
      const s = series(layer, name, u);
      let m = 0, v = 0;
      for (const x of s) m += x / T;
      for (const x of s) v += (x - m) * (x - m) / T;
      sd.push([v, u]);
    }
    sd.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const box = $(".lx-try");
    for (const b of box.querySelectorAll("button")) b.remove();
    for (const [, u] of sd.slice(0, Math.min(6, H))) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = u;
      b.dataset.unit = u;
      b.title = `unit ${u}`;
      b.addEventListener("click", () => set({ unit: u }));
      box.appendChild(b);
    }
  }
  function where() {
    const t = state.position;
    $(".lx-where").textContent = `character ${t} of ${T - 1}: ${shown(D.text[t])}`;
    for (const s of textBox.querySelectorAll(".lx-cur")) s.classList.remove("lx-cur");
    const span = spans[t];
    span.classList.add("lx-cur");
    const top = span.offsetTop, h = textBox.clientHeight;
    if (top < textBox.scrollTop || top > textBox.scrollTop + h - 24) {
      textBox.scrollTop = Math.max(0, top - h / 2);  // never scrollIntoView: it scrolls the host page
    }
  }

  // ------------------------------------------------------------------ state changes
  function set(change) {
    const old = Object.assign({}, state);
    Object.assign(state, change);
    state.unit = Math.min(H - 1, Math.max(0, Math.round(state.unit) || 0));
    state.position = Math.min(T - 1, Math.max(0, Math.round(state.position) || 0));
    const lens = state.layer !== old.layer || state.name !== old.name;
    if (lens) tryUnits();
    if (lens || state.unit !== old.unit) { drawLine(); colourText(); outlineUnit(); }
    if (lens || state.position !== old.position) { colourGrid(); where(); }
    moveMarker();
    table();
    selLayer.value = state.layer;
    selName.value = state.name;
    inUnit.value = state.unit;
    inPos.value = state.position;
    Object.assign(root.dataset, {
      layer: state.layer, name: state.name, unit: state.unit, position: state.position,
    });
  }
  selLayer.addEventListener("change", () => set({ layer: +selLayer.value }));
  selName.addEventListener("change", () => set({ name: selName.value }));
  inUnit.addEventListener("change", () => set({ unit: +inUnit.value }));
  inPos.addEventListener("input", () => set({ position: +inPos.value }));
  $("button[name=unit-prev]").addEventListener("click", () => set({ unit: (state.unit + H - 1) % H }));
  $("button[name=unit-next]").addEventListener("click", () => set({ unit: (state.unit + 1) % H }));
  $("button[name=step-prev]").addEventListener("click", () => set({ position: state.position - 1 }));
  $("button[name=step-next]").addEventListener("click", () => set({ position: state.position + 1 }));

  tryUnits();
  drawLine();
  colourText();
  outlineUnit();
  colourGrid();
  where();
  set({});
  root.dataset.ready = "1";
})();
