// The Rules page: every rule group with its rules' health, last evaluation and errors,
// from /api/v1/rules.
"use strict";
const $ = (id) => document.getElementById(id);
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}
function ago(iso) {
  const t = Date.parse(iso);
  if (!t || t < 0) return "never";
  return `${((Date.now() - t) / 1000).toFixed(1)}s ago`;
}
async function load() {
  const body = await (await fetch("api/v1/rules")).json();
  if (body.status !== "success") { $("groups").innerHTML = `<div class="error">${esc(body.error)}</div>`; return; }
  let html = "", n = 0, bad = 0;
  for (const g of body.data.groups) {
    const rows = g.rules.map((r) => {
      n++;
      if (r.health === "err") bad++;
      const def = r.type === "alerting" ? `alert: ${r.name}\nexpr: ${r.query}` : `record: ${r.name}\nexpr: ${r.query}`;
      return `<tr><td><pre class="mono">${esc(def)}</pre>${r.lastError ? `<div class="error">${esc(r.lastError)}</div>` : ""}</td>
        <td class="${r.health === "ok" ? "up" : r.health === "err" ? "down" : "unknown"}">${esc(r.health.toUpperCase())}</td>
        <td>${ago(r.lastEvaluation)}</td><td>${(r.evaluationTime * 1000).toFixed(2)} ms</td></tr>`;
    }).join("");
    html += `<div class="card"><h3>${esc(g.name)} <span class="muted">${esc(g.file)} · every ${g.interval}s · last ${ago(g.lastEvaluation)}</span></h3>
      <table><tr><th>Rule</th><th>State</th><th>Last evaluation</th><th>Evaluation time</th></tr>${rows}</table></div>`;
  }
  $("groups").innerHTML = html || `<span class="muted">No rule groups.</span>`;
  $("summary").textContent = `${body.data.groups.length} groups, ${n} rules, ${bad} with errors`;
}
load();
setInterval(load, 15000);
