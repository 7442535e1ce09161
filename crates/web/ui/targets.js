// The Targets page: every scrape pool with its targets' health, labels, last scrape and
// error, from /api/v1/targets — the first place to look when a series is missing.
"use strict";
const $ = (id) => document.getElementById(id);
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}
function labels(l) {
  return Object.keys(l).sort().map((k) => `<span class="label">${esc(k)}="${esc(l[k])}"</span>`).join("");
}
function ago(iso) {
  const t = Date.parse(iso);
  if (!t || t < 0) return "never";
  return `${((Date.now() - t) / 1000).toFixed(1)}s ago`;
}
async function load() {
  const res = await fetch("/api/v1/targets?state=any");
  const body = await res.json();
  if (body.status !== "success") { $("pools").innerHTML = `<div class="error">${esc(body.error)}</div>`; return; }
  const only = $("unhealthy").checked;
  const pools = {};
  for (const t of body.data.activeTargets) (pools[t.scrapePool] ||= []).push(t);
  let html = "", up = 0, all = 0;
  for (const name of Object.keys(pools).sort()) {
    const ts = pools[name];
    const healthy = ts.filter((t) => t.health === "up").length;
    up += healthy; all += ts.length;
    const rows = ts.filter((t) => !only || t.health !== "up").map((t) => `<tr>
      <td class="mono">${esc(t.scrapeUrl)}</td>
      <td class="${esc(t.health)}">${esc(t.health.toUpperCase())}</td>
      <td>${labels(t.labels)}</td>
      <td>${ago(t.lastScrape)}</td>
      <td>${(t.lastScrapeDuration * 1000).toFixed(1)} ms</td>
      <td class="error">${esc(t.lastError || "")}</td></tr>`).join("");
    if (only && !rows) continue;
    html += `<div class="card"><h3>${esc(name)} <span class="muted">(${healthy}/${ts.length} up)</span></h3>
      <table><tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th><th>Duration</th><th>Error</th></tr>${rows}</table></div>`;
  }
  $("pools").innerHTML = html || `<span class="muted">No targets.</span>`;
  $("summary").textContent = `${up}/${all} targets up; ${body.data.droppedTargets.length} dropped by relabeling`;
}
$("unhealthy").onchange = load;
load();
setInterval(load, 15000);
