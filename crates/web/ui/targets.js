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
  const res = await fetch("api/v1/targets?state=any");
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
  const dropped = body.data.droppedTargets;
  if (dropped.length && !only) {
    const rows = dropped.map((t, i) => `<tr><td class="mono">${esc(t.scrapePool)}</td><td>${labels(t.discoveredLabels)}</td>
      <td><button class="explain" data-i="${i}">Why dropped?</button><div id="why-${i}"></div></td></tr>`).join("");
    html += `<div class="card"><h3>Dropped targets <span class="muted">(${dropped.length}, by relabeling)</span></h3>
      <table><tr><th>Job</th><th>Discovered labels</th><th>Relabeling</th></tr>${rows}</table></div>`;
  }
  $("pools").innerHTML = html || `<span class="muted">No targets.</span>`;
  for (const b of document.querySelectorAll("button.explain")) {
    b.onclick = () => explain(dropped[Number(b.dataset.i)], $(`why-${b.dataset.i}`));
  }
  $("summary").textContent = `${up}/${all} targets up; ${body.data.droppedTargets.length} dropped by relabeling`;
}
// The relabel steps of a dropped target: each rule, the labels after it, and the rule
// that dropped the target highlighted.
async function explain(t, el) {
  const q = new URLSearchParams({ scrapePool: t.scrapePool, labels: JSON.stringify(t.discoveredLabels) });
  const body = await (await fetch(`api/v1/targets/relabel_steps?${q}`)).json();
  if (body.status !== "success") { el.innerHTML = `<div class="error">${esc(body.error)}</div>`; return; }
  let kept = true;
  el.innerHTML = `<table class="steps">${body.data.steps.map((s, i) => {
    const dropper = kept && !s.keep;
    kept = s.keep;
    const r = s.rule;
    const rule = [`action: ${r.action}`, r.sourceLabels ? `source_labels: [${r.sourceLabels.join(", ")}]` : "",
      r.regex ? `regex: ${r.regex}` : "", r.targetLabel ? `target_label: ${r.targetLabel}` : ""].filter(Boolean).join("\n");
    return `<tr class="${dropper ? "dropper" : ""}"><td>${i + 1}</td><td><pre class="mono">${esc(rule)}</pre></td>
      <td>${dropper ? "<b class=\"down\">dropped here</b>" : s.keep ? labels(s.output) : "<span class=\"muted\">—</span>"}</td></tr>`;
  }).join("")}</table>`;
}
$("unhealthy").onchange = load;
load();
setInterval(load, 15000);
