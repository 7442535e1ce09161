// The Query page: instant queries as a table, range queries as an SVG graph, both
// through promlite's own HTTP API (the same one Grafana uses).
"use strict";
const $ = (id) => document.getElementById(id);
let mode = "table";

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function metricName(m) {
  const name = m.__name__ || "";
  const labels = Object.keys(m).filter((k) => k !== "__name__").sort()
    .map((k) => `${esc(k)}="${esc(m[k])}"`).join(", ");
  return `${esc(name)}{${labels}}`;
}

async function api(path, params) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params),
  });
  const body = await res.json();
  if (body.status !== "success") throw new Error(`${body.errorType}: ${body.error}`);
  return body;
}

function renderTable(data) {
  const r = data.result;
  if (data.resultType === "scalar" || data.resultType === "string") {
    return `<table><tr><th>${data.resultType}</th></tr><tr><td class="mono">${esc(r[1])}</td></tr></table>`;
  }
  if (!r.length) return `<span class="muted">Empty query result.</span>`;
  const rows = r.map((s) => {
    let v;
    if (s.value) v = esc(s.value[1]);
    else if (s.histogram) v = `histogram: count ${esc(s.histogram[1].count)}, sum ${esc(s.histogram[1].sum)}`;
    else if (s.values) v = s.values.map((p) => `${esc(p[1])} @${p[0]}`).join("<br>");
    else v = "";
    return `<tr><td class="mono">${metricName(s.metric)}</td><td class="mono">${v}</td></tr>`;
  }).join("");
  return `<table><tr><th>Series</th><th>Value</th></tr>${rows}</table>`;
}

const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#ea580c"];

function renderGraph(data, start, end) {
  if (data.resultType !== "matrix" || !data.result.length) return `<span class="muted">Empty query result.</span>`;
  const W = 1000, H = 360, P = 40;
  let lo = Infinity, hi = -Infinity;
  for (const s of data.result) for (const p of s.values || []) {
    const v = parseFloat(p[1]);
    if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!isFinite(lo)) return `<span class="muted">No finite values to plot.</span>`;
  if (lo === hi) { lo -= 1; hi += 1; }
  const x = (t) => P + ((t - start) / (end - start)) * (W - 2 * P);
  const y = (v) => H - P - ((v - lo) / (hi - lo)) * (H - 2 * P);
  let svg = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">`;
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4, yy = y(v);
    svg += `<line x1="${P}" x2="${W - P}" y1="${yy}" y2="${yy}" stroke="#e4e7eb"/>`;
    svg += `<text x="2" y="${yy + 4}" font-size="11" fill="#7b8794">${esc(+v.toPrecision(4))}</text>`;
  }
  let legend = "";
  data.result.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = (s.values || []).filter((p) => isFinite(parseFloat(p[1])))
      .map((p) => `${x(p[0]).toFixed(1)},${y(parseFloat(p[1])).toFixed(1)}`).join(" ");
    svg += `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts}"/>`;
    // A lone sample has no line to draw: mark it with a dot.
    if (pts && !pts.includes(" ")) {
      const [cx, cy] = pts.split(",");
      svg += `<circle cx="${cx}" cy="${cy}" r="3" fill="${c}"/>`;
    }
    legend += `<div><span class="sw" style="background:${c}"></span>${metricName(s.metric)}</div>`;
  });
  svg += `</svg>`;
  return svg + `<div class="legend">${legend}</div>`;
}

async function run() {
  const expr = $("expr").value.trim();
  if (!expr) return;
  const url = new URL(location);
  url.searchParams.set("expr", expr);
  url.searchParams.set("tab", mode);
  url.searchParams.set("range", $("range").value);
  history.replaceState(null, "", url);
  $("out").innerHTML = `<span class="muted">Loading…</span>`;
  const t0 = performance.now();
  try {
    let html;
    if (mode === "table") {
      const body = await api("api/v1/query", { query: expr });
      html = renderTable(body.data);
    } else {
      const end = Date.now() / 1000, range = parseInt($("range").value, 10), start = end - range;
      const step = Math.max(1, Math.ceil(range / 250));
      const body = await api("api/v1/query_range", { query: expr, start, end, step });
      html = renderGraph(body.data, start, end);
    }
    $("out").innerHTML = html;
    $("meta").textContent = `${Math.round(performance.now() - t0)} ms`;
  } catch (e) {
    $("out").innerHTML = `<div class="error">${esc(e.message)}</div>`;
  }
}

function setMode(m) {
  mode = m;
  $("tab-table").classList.toggle("on", m === "table");
  $("tab-graph").classList.toggle("on", m === "graph");
  run();
}

$("run").onclick = run;
$("tab-table").onclick = () => setMode("table");
$("tab-graph").onclick = () => setMode("graph");
$("range").onchange = () => mode === "graph" && run();
$("expr").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); run(); }
});
const params = new URLSearchParams(location.search);
if (params.get("range") && [...$("range").options].some((o) => o.value === params.get("range"))) {
  $("range").value = params.get("range");
}
if (params.get("expr")) {
  $("expr").value = params.get("expr");
  setMode(params.get("tab") === "graph" ? "graph" : "table");
}
