// chip-ledger dashboard: reads only the public /v1 API, with the same auth.
// Each panel is one API call; money stays decimal strings (formatted, never floats) in
// tables; only the chart converts to numbers, for drawing.
"use strict";

const PAGE = 20;
const COMPACT = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const POLL_MS = 5000;
const ui = { fy: "", entity: "", currency: "USD", offset: 0, state: null };
const $ = (sel) => document.querySelector(sel);
const timing = (window.__dashboard = { start: performance.now() });

function token() { return localStorage.getItem("chip-ledger-token") || ""; }

async function api(path, accept = "application/json") {
  const headers = { Accept: accept };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { headers });
  if (response.status === 401 || response.status === 403) {
    $("#token-label").hidden = false;
    throw new Error(`${path}: ${response.status} (enter a read token)`);
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    const error = new Error(`${path}: ${problem.detail || response.status}`);
    error.status = response.status;
    throw error;
  }
  return accept === "application/json" ? response.json() : response.blob();
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.append(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// "1234567.50" -> "1,234,567.50": exact, on the decimal string
function grouped(decimal) {
  if (decimal == null) return "";
  const text = String(decimal);
  const negative = text.startsWith("-");
  const [whole, fraction] = (negative ? text.slice(1) : text).split(".");
  const withCommas = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (negative ? "-" : "") + withCommas + (fraction !== undefined ? `.${fraction}` : "");
}

function money(decimal, currency) { return decimal == null ? "" : `${grouped(decimal)} ${currency || ""}`.trim(); }
function percent(share) { return share == null ? "" : `${(Number(share) * 100).toFixed(1)}%`; }

function cell(row, text, value, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (value !== undefined) td.dataset.value = value;
  if (cls) td.className = cls;
  return td;
}

function bar(td, share, cls) {
  const outer = document.createElement("div");
  outer.className = `bar ${cls || ""}`;
  const inner = document.createElement("span");
  inner.style.width = `${Math.min(100, Math.max(0, Number(share) * 100))}%`;
  outer.append(inner);
  td.append(outer);
}

function fill(section, rows, build) {
  const body = $(`#${section} tbody`);
  body.replaceChildren();
  for (const r of rows) build(body.insertRow(), r);
  $(`#${section}`).dataset.rows = rows.length;
}

async function loadBudgets() {
  const url = `/v1/budgets${query({ fiscal_year: ui.fy, entity: ui.entity })}`;
  const answer = await api(url);
  fill("budgets", answer.rows, (tr, b) => {
    tr.dataset.key = `${b.entity}/${b.budget_code}/${b.fiscal_year}`;
    tr.className = `state-${b.state}`;
    cell(tr, b.entity); cell(tr, b.budget_code); cell(tr, String(b.fiscal_year));
    cell(tr, money(b.committed, b.currency), b.committed, "num committed");
    cell(tr, money(b.amount, b.currency), b.amount, "num amount");
    cell(tr, money(b.remaining, b.currency), b.remaining, "num remaining");
    bar(cell(tr, percent(b.utilization), b.utilization, "num"), b.utilization, b.state);
    cell(tr, b.state, b.state, "state");
  });
  return url;
}

async function loadSourcing() {
  const url = `/v1/sourcing${query({ fiscal_year: ui.fy, entity: ui.entity })}`;
  const answer = await api(url);
  fill("sourcing", answer.rows, (tr, s) => {
    tr.dataset.key = `${s.policy}/${s.entity}/${s.fiscal_year}`;
    tr.className = `status-${s.status}`;
    const unit = s.currency || s.metric;
    cell(tr, s.policy); cell(tr, s.entity); cell(tr, String(s.fiscal_year));
    bar(cell(tr, percent(s.share), s.share, "num share"), s.share, s.status);
    cell(tr, percent(s.min_share), s.min_share, "num");
    cell(tr, s.status, s.status, "state");
    cell(tr, s.shortfall == null ? "" : `${grouped(s.shortfall)} ${unit}`, s.shortfall ?? "", "num shortfall");
    const headroom = s.headroom;
    cell(tr, headroom == null ? "" : `${grouped(headroom)} ${unit}`, headroom ?? "", "num headroom");
  });
  return url;
}

function spendSeries(rows) {
  const months = [...new Set(rows.map((r) => r.month))].sort();
  const vendors = [...new Set(rows.map((r) => r.vendor))].sort();
  const cells = new Map(rows.map((r) => [`${r.month}|${r.vendor}`, Number(r.amount)]));
  let below = months.map(() => 0);
  const stacked = vendors.map((v) => {
    below = months.map((m, i) => below[i] + (cells.get(`${m}|${v}`) || 0));
    return below;
  });
  return { months, vendors, stacked };
}

let spendPlot = null;
async function loadSpend() {
  const url = `/v1/totals${query({ by: "month,vendor", currency: ui.currency, fiscal_year: ui.fy, entity: ui.entity })}`;
  const answer = await api(url);
  const { months, vendors, stacked } = spendSeries(answer.rows);
  const box = $("#spend-chart");
  box.dataset.total = answer.total.amount;
  box.dataset.months = months.join(",");
  box.dataset.vendors = vendors.join(",");
  const colours = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2"];
  // the tallest stack (the last vendor's cumulative sum) is drawn first, so each vendor's
  // own layer stays visible on top of it
  const order = vendors.map((_, k) => k).reverse();
  const series = [{ label: "month" }].concat(order.map((k) => ({
    label: vendors[k], fill: colours[k % colours.length], stroke: colours[k % colours.length],
    paths: uPlot.paths.bars({ size: [0.8] }), points: { show: false },
  })));
  const opts = {
    width: Math.max(320, box.clientWidth || 800), height: 260, series,
    axes: [{ values: (u, ticks) => ticks.map((t) => months[t] || "") },
      { size: 70, values: (u, ticks) => ticks.map((t) => COMPACT.format(t)) }],
    scales: { x: { time: false } }, legend: { show: true },
  };
  // later series drawn first so every stack's top layer stays visible
  const data = [months.map((_, i) => i), ...order.map((k) => stacked[k])];
  if (spendPlot) spendPlot.destroy();
  box.replaceChildren();
  if (months.length) spendPlot = new uPlot(opts, data, box);
  $("#spend .unit").textContent = `(${ui.currency}, total ${money(answer.total.amount, ui.currency)})`;
  return url;
}

async function loadSuppliers() {
  const url = `/v1/totals${query({ by: "supplier", currency: ui.currency, fiscal_year: ui.fy, entity: ui.entity })}`;
  const answer = await api(url);
  const top = [...answer.rows].sort((a, b) => b.amount_minor - a.amount_minor).slice(0, 10);
  fill("suppliers", top, (tr, r) => {
    tr.dataset.key = r.supplier;
    cell(tr, r.supplier);
    cell(tr, grouped(String(r.lines)), String(r.lines), "num");
    cell(tr, grouped(String(r.quantity)), String(r.quantity), "num");
    cell(tr, money(r.amount, ui.currency), r.amount, "num amount");
  });
  $("#suppliers .unit").textContent = `(${ui.currency})`;
  return url;
}

function evidenceText(line) {
  if (!line.evidence) return "";
  return Object.entries(line.evidence).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
}

async function loadScreening() {
  const url = `/v1/compliance${query({ fiscal_year: ui.fy, limit: PAGE, offset: ui.offset })}`;
  const answer = await api(url);
  const counts = $("#rule-counts");
  counts.replaceChildren();
  for (const c of answer.counts) {
    const li = document.createElement("li");
    li.dataset.rule = c.rule_id;
    li.dataset.value = c.lines;
    li.className = `severity-${c.severity}`;
    li.textContent = `${c.rule_id} (${c.kind}): ${grouped(String(c.lines))}`;
    counts.append(li);
  }
  fill("screening", answer.lines, (tr, l) => {
    tr.dataset.key = `${l.order_id}/${l.line_no}/${l.rule_id}`;
    cell(tr, l.order_id); cell(tr, String(l.line_no)); cell(tr, l.order_date); cell(tr, l.chip_model);
    cell(tr, l.destination); cell(tr, l.rule_id); cell(tr, l.severity);
    const reason = cell(tr, l.reason);
    const detail = evidenceText(l);
    if (detail) reason.title = detail;
  });
  $("#screening").dataset.total = answer.total;
  $("#page").textContent = answer.total
    ? `${ui.offset + 1}-${ui.offset + answer.lines.length} of ${grouped(String(answer.total))}` : "none";
  $("#prev").disabled = ui.offset === 0;
  $("#next").disabled = ui.offset + PAGE >= answer.total;
  return url;
}

async function loadLicences() {
  if (!(ui.features || []).includes("licences")) {
    $("#licences .empty").hidden = false;  // this service has no licence register
    return null;
  }
  const url = `/v1/licences${query({})}`;
  const answer = await api(url);
  fill("licences", answer.rows || [], (tr, l) => {
    tr.dataset.key = l.licence_id;
    tr.className = `state-${l.state}`;
    cell(tr, l.licence_id); cell(tr, l.holder || "");
    const share = l.max_quantity ? Number(l.used_quantity) / Number(l.max_quantity) : Number(l.used_share || 0);
    bar(cell(tr, `${grouped(String(l.used_quantity ?? ""))} / ${grouped(String(l.max_quantity ?? "-"))}`, String(l.used_quantity ?? ""), "num"), share, l.state);
    cell(tr, l.state, l.state, "state");
  });
  return url;
}

const PANELS = { budgets: loadBudgets, sourcing: loadSourcing, spend: loadSpend,
  suppliers: loadSuppliers, screening: loadScreening, licences: loadLicences };
const lastUrl = {};

async function refresh() {
  $("#status").textContent = "loading…";
  const results = await Promise.allSettled(Object.entries(PANELS).map(async ([name, load]) => {
    lastUrl[name] = await load();
    if (timing.firstPanel === undefined) timing.firstPanel = performance.now() - timing.start;
  }));
  const failed = results.filter((r) => r.status === "rejected");
  for (const f of failed) console.warn(f.reason.message);
  timing.allPanels = performance.now() - timing.start;
  document.body.dataset.ready = String(Date.now());
  $("#status").textContent = failed.length ? `${failed.length} panel(s) failed` : "";
}

async function download(name, kind) {
  const url = lastUrl[name];
  if (!url) return;
  const accept = kind === "xlsx"
    ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
  const blob = await api(url, accept);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${name}.${kind}`;
  a.click();
  URL.revokeObjectURL(a.href);
}

async function options() {
  const [years, entities, currencies] = await Promise.all([
    api("/v1/totals?by=fiscal_year"), api("/v1/totals?by=entity"), api("/v1/totals?by=line_currency"),
  ]);
  const add = (select, values) => { for (const v of values) select.add(new Option(v, v)); };
  add($("#fiscal-year"), years.rows.map((r) => String(r.fiscal_year)).sort().reverse());
  add($("#entity"), entities.rows.map((r) => r.entity).sort());
  add($("#currency"), [...new Set(["USD", ...currencies.rows.map((r) => r.line_currency)])].sort());
  $("#currency").value = ui.currency;
}

async function poll() {
  try {
    const state = await api("/v1/state");
    const key = `${state.entries}/${state.generation}`;
    if (ui.state !== null && key !== ui.state) await refresh();
    ui.state = key;
  } catch (e) { console.warn(e.message); }
  setTimeout(poll, POLL_MS);
}

function wire() {
  $("#fiscal-year").onchange = (e) => { ui.fy = e.target.value; ui.offset = 0; refresh(); };
  $("#entity").onchange = (e) => { ui.entity = e.target.value; refresh(); };
  $("#currency").onchange = (e) => { ui.currency = e.target.value; refresh(); };
  $("#token").onchange = (e) => { localStorage.setItem("chip-ledger-token", e.target.value); start(); };
  $("#prev").onclick = () => { ui.offset = Math.max(0, ui.offset - PAGE); loadScreening(); };
  $("#next").onclick = () => { ui.offset += PAGE; loadScreening(); };
  for (const box of document.querySelectorAll(".downloads")) {
    for (const kind of ["csv", "xlsx"]) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = kind.toUpperCase(); b.className = `download-${kind}`;
      b.onclick = () => download(box.dataset.for, kind).catch((e) => console.warn(e.message));
      box.append(b);
    }
  }
}

async function start() {
  try {
    ui.features = (await api("/v1/state")).features;
    await options();
    await refresh();
    timing.firstRender = timing.firstPanel;
  } catch (e) {
    $("#status").textContent = e.message;
    console.warn(e.message);
  }
}

wire();
start();
poll();
