// The Alerts page: every alerting rule with its state and active alerts, from
// /api/v1/rules?type=alert — what fires, since when, with which labels and annotations.
"use strict";
const $ = (id) => document.getElementById(id);
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}
function labels(l) {
  return Object.keys(l || {}).sort().map((k) => `<span class="label">${esc(k)}="${esc(l[k])}"</span>`).join("");
}
function since(iso) {
  const t = Date.parse(iso);
  return t > 0 ? new Date(t).toISOString() : "";
}
async function load() {
  const body = await (await fetch("api/v1/rules?type=alert")).json();
  if (body.status !== "success") { $("rules").innerHTML = `<div class="error">${esc(body.error)}</div>`; return; }
  const show = { inactive: $("show-inactive").checked, pending: $("show-pending").checked, firing: $("show-firing").checked };
  const counts = { inactive: 0, pending: 0, firing: 0 };
  let html = "";
  for (const g of body.data.groups) {
    const rules = g.rules.filter((r) => { counts[r.state]++; return show[r.state]; });
    if (!rules.length) continue;
    html += `<div class="card"><h3>${esc(g.file)} &gt; ${esc(g.name)}</h3>`;
    for (const r of rules) {
      const alerts = (r.alerts || []).map((a) => `<tr><td>${labels(a.labels)}</td>
        <td class="${esc(a.state)}">${esc(a.state.toUpperCase())}</td><td>${esc(since(a.activeAt))}</td>
        <td class="mono">${esc(a.value)}</td><td>${labels(a.annotations)}</td></tr>`).join("");
      html += `<details class="alert-rule" data-state="${esc(r.state)}"${r.state === "inactive" ? "" : " open"}>
        <summary><span class="${esc(r.state)}">${esc(r.state.toUpperCase())}</span> <b>${esc(r.name)}</b>
        <span class="muted">(${(r.alerts || []).length} active)</span></summary>
        <pre class="mono">alert: ${esc(r.name)}\nexpr: ${esc(r.query)}${r.duration ? `\nfor: ${r.duration}s` : ""}</pre>
        ${r.lastError ? `<div class="error">${esc(r.lastError)}</div>` : ""}
        ${alerts ? `<table><tr><th>Labels</th><th>State</th><th>Active since</th><th>Value</th><th>Annotations</th></tr>${alerts}</table>` : ""}
      </details>`;
    }
    html += "</div>";
  }
  $("rules").innerHTML = html || `<span class="muted">No alerting rules.</span>`;
  $("summary").textContent = `${counts.firing} firing, ${counts.pending} pending, ${counts.inactive} inactive`;
}
for (const id of ["show-inactive", "show-pending", "show-firing"]) $(id).onchange = load;
load();
setInterval(load, 15000);
