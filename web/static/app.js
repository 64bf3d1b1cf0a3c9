// Settings › General: polls /api/status every 2 s so each database's buttons follow its job,
// and keeps the Web API Log fresh while a job runs. Text only ever goes in via textContent.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const POLL_MS = 2000;
const KIND_LABELS = {
  "sync-from-payroll": "Sync from Payroll",
  "sync-leave-balances": "Leave-balance sync",
  "reconcile": "Check against payroll",
};
const FAILED = new Set(["failed", "timed_out", "abandoned"]);

const $ = (id) => document.getElementById(id);
const state = { clicked: new Set(), wasBusy: new Set(), logPage: 1, logTicket: 0, action: null };

async function api(path, options = {}) {
  const headers = { "X-CSRF-Token": CSRF, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "same-origin",
    });
  } catch (err) {
    return { ok: false, status: 0, data: { error: "The ESS server did not answer." } };
  }
  if (response.status === 401) {
    window.location.assign("/login");
  }
  let data = {};
  try {
    data = await response.json();
  } catch (err) {
    data = { error: `Unexpected answer (${response.status}).` };
  }
  return { ok: response.ok, status: response.status, data };
}

function say(message, isError) {
  const line = $("status-line");
  line.textContent = message;
  line.classList.toggle("error", Boolean(isError));
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function jobText(db) {
  if (db.running) {
    const label = KIND_LABELS[db.running.kind] || db.running.kind;
    const step = db.running.step ? ` · ${db.running.step}` : "";
    return [`${label} running since ${db.running.started}${step}`, "running"];
  }
  if (db.starting) return [`Starting ${KIND_LABELS[db.starting] || db.starting}…`, "running"];
  if (!db.last_job) return ["No job yet", ""];
  const job = db.last_job;
  const label = KIND_LABELS[job.kind] || job.kind;
  const text = `Last: ${label} ${job.status.replace("_", " ")} ${job.finished || ""}`.trim();
  if (FAILED.has(job.status)) return [`${text} · ${job.message || ""}`, "failed"];
  return [text, ""];
}

function newRow(db) {
  const row = el("tr");
  row.dataset.database = db.name;
  const name = el("td", "name");
  name.append(el("strong", "", db.name), el("div", "muted conn", db.connection));
  const actions = el("td", "actions");
  const sync = el("button", "primary sync", "Sync");
  sync.dataset.kind = "sync-from-payroll";
  const leave = el("button", "sync", "Sync leave balances");
  leave.dataset.kind = "sync-leave-balances";
  const check = el("button", "sync", "Check against payroll");
  check.dataset.kind = "reconcile";
  for (const button of [sync, leave, check]) button.type = "button";
  actions.append(sync, leave, check);
  row.append(name, el("td", "last-sync"), el("td", "last-leave"), el("td", "job"), actions);
  return row;
}

function renderDatabases(databases) {
  const body = $("databases");
  const names = new Set(databases.map((db) => db.name));
  for (const row of body.querySelectorAll("tr")) {
    if (!names.has(row.dataset.database)) row.remove();
  }
  for (const db of databases) {
    let row = body.querySelector(`tr[data-database="${CSS.escape(db.name)}"]`);
    if (!row) {
      row = newRow(db);
      body.append(row);
    }
    const lastSync = row.querySelector(".last-sync");
    lastSync.textContent = db.last_sync_from_payroll || "Never";
    if (db.next_run) lastSync.append(el("div", "muted next-run", `Next: ${db.next_run}`));
    const lastLeave = row.querySelector(".last-leave");
    lastLeave.textContent = db.last_leave_balance_sync || "Never";
    lastLeave.append(el("div", "muted reconciled",
      `Checked against payroll: ${db.last_reconciled || "never"}`));
    const [text, cls] = jobText(db);
    const cell = row.querySelector(".job");
    cell.textContent = text;
    cell.className = `job ${cls}`;
    if (db.run_url) {
      // Built by the server from a run id it checked; still set as an attribute, never HTML.
      const link = el("a", "run-link", "Prefect run");
      link.href = db.run_url;
      link.target = "_blank";
      link.rel = "noopener";
      cell.append(" · ", link);
    }
    row.classList.toggle("busy", db.busy);
    const disabled = db.busy || state.clicked.has(db.name);
    for (const button of row.querySelectorAll("button.sync")) button.disabled = disabled;
  }
}

async function pollStatus() {
  const answer = await api("/api/status");
  if (answer.ok) {
    const databases = answer.data.databases;
    renderDatabases(databases);
    const busy = new Set(databases.filter((db) => db.busy).map((db) => db.name));
    const changed = [...state.wasBusy].some((n) => !busy.has(n)) || [...busy].some((n) => !state.wasBusy.has(n));
    state.wasBusy = busy;
    // Only page 1 refreshes by itself: a reader paging back keeps the rows they are reading.
    if ((busy.size > 0 || changed) && state.logPage === 1) loadLog();
    if (changed) loadJobs();
  }
  window.setTimeout(pollStatus, POLL_MS);
}

async function loadLog() {
  // Polls and clicks overlap: only the newest request may draw, or a stale page wins.
  const ticket = ++state.logTicket;
  const params = new URLSearchParams({ page: String(state.logPage) });
  if ($("log-database").value) params.set("database", $("log-database").value);
  if ($("log-job").value) params.set("job", $("log-job").value);
  const answer = await api(`/api/log?${params}`);
  if (ticket !== state.logTicket) return;
  const error = $("log-error");
  error.hidden = answer.ok;
  if (!answer.ok) {
    error.textContent = answer.data.error || "The log could not be read.";
    return;
  }
  const body = $("log-rows");
  body.replaceChildren();
  for (const entry of answer.data.rows) {
    const row = el("tr", `level-${entry.level}${entry.failed ? " failed" : ""}`);
    row.dataset.job = entry.job || "";
    const job = el("td", "job-id");
    if (entry.job) {
      const link = el("button", "link", `#${entry.job}`);
      link.type = "button";
      link.title = "Show only this job";
      link.addEventListener("click", () => filterJob(entry.job));
      job.append(link);
    }
    row.append(el("td", "when", entry.logged), el("td", "", entry.database || ""), job,
      el("td", "level", entry.level), el("td", "message", entry.message));
    body.append(row);
  }
  if (!answer.data.rows.length) {
    const empty = el("td", "muted", "No entries.");
    empty.colSpan = 5;
    const row = el("tr");
    row.append(empty);
    body.append(row);
  }
  state.logPage = answer.data.page;
  $("log-page").textContent = `Page ${answer.data.page} of ${answer.data.pages} (${answer.data.total} entries)`;
  $("log-newer").disabled = answer.data.page <= 1;
  $("log-older").disabled = answer.data.page >= answer.data.pages;
}

async function loadJobs() {
  const select = $("log-job");
  const chosen = select.value;
  const params = new URLSearchParams();
  if ($("log-database").value) params.set("database", $("log-database").value);
  const answer = await api(`/api/jobs?${params}`);
  if (!answer.ok) return;
  select.replaceChildren(new Option("All jobs", ""));
  for (const job of answer.data.jobs) {
    const label = `#${job.id} ${job.database} ${KIND_LABELS[job.kind] || job.kind}, ${job.status.replace("_", " ")} (${job.started})`;
    select.append(new Option(label, String(job.id)));
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

async function filterJob(jobId) {
  $("log-database").value = "";
  await loadJobs();
  $("log-job").value = String(jobId);
  state.logPage = 1;
  loadLog();
}

function lockRow(name, locked) {
  if (locked) state.clicked.add(name);
  else state.clicked.delete(name);
  const row = $("databases").querySelector(`tr[data-database="${CSS.escape(name)}"]`);
  if (row && locked) for (const button of row.querySelectorAll("button.sync")) button.disabled = true;
}

function openDialog(title, text) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("preview-rows").replaceChildren();
  $("preview-table").hidden = true;
  $("confirm-error").hidden = true;
  $("confirm-yes").disabled = true;
  $("confirm").showModal();
}

function dialogError(message) {
  $("confirm-error").textContent = message;
  $("confirm-error").hidden = false;
}

async function askToSync(name) {
  state.action = { name, kind: "sync-from-payroll" };
  lockRow(name, true);
  openDialog(`Sync ${name}`, "Working out what a sync would change… nothing is changed yet.");
  $("confirm-yes").textContent = "Yes, sync changes";
  const answer = await api(`/api/databases/${encodeURIComponent(name)}/preview`, { method: "POST", body: {} });
  if (state.logPage === 1) loadLog(); // the preview's one row: "Preview only: …"
  if (!state.action || state.action.name !== name) return;
  if (!answer.ok) {
    $("confirm-text").textContent = "The preview did not complete; nothing was changed.";
    dialogError(answer.data.error || "The preview failed.");
    return;
  }
  $("confirm-text").textContent = `Preview of ${name}: nothing has changed yet. Sync these changes?`;
  for (const step of answer.data.steps) {
    const row = el("tr");
    row.append(el("td", "", step.step), el("td", "", step.counts));
    $("preview-rows").append(row);
  }
  $("preview-table").hidden = false;
  $("confirm-yes").disabled = false;
  $("confirm-yes").focus();
}

function askToSyncLeave(name) {
  state.action = { name, kind: "sync-leave-balances" };
  lockRow(name, true);
  openDialog(`Sync leave balances of ${name}`,
    "This refreshes leave types, leave reasons and every employee's leave balances.");
  $("confirm-yes").textContent = "Yes, sync leave balances";
  $("confirm-yes").disabled = false;
}

async function checkAgainstPayroll(name) {
  // Read-only on both sides: nothing to confirm. The job takes the database like a sync.
  lockRow(name, true);
  const answer = await api(`/api/databases/${encodeURIComponent(name)}/jobs`,
    { method: "POST", body: { kind: "reconcile" } });
  lockRow(name, false);
  say(answer.ok ? answer.data.message : answer.data.error || "The job did not start.", !answer.ok);
  await refreshNow();
}

async function confirmYes() {
  const action = state.action;
  if (!action) return;
  $("confirm-yes").disabled = true;
  const answer = await api(`/api/databases/${encodeURIComponent(action.name)}/jobs`,
    { method: "POST", body: { kind: action.kind } });
  state.action = null;
  $("confirm").close();
  lockRow(action.name, false);
  say(answer.ok ? answer.data.message : answer.data.error || "The job did not start.", !answer.ok);
  await refreshNow();
}

function cancelDialog() {
  if (state.action) lockRow(state.action.name, false);
  state.action = null;
  if ($("confirm").open) $("confirm").close();
  refreshNow();
}

async function refreshNow() {
  const answer = await api("/api/status");
  if (answer.ok) renderDatabases(answer.data.databases);
  if (state.logPage === 1) loadLog();
}

$("databases").addEventListener("click", (event) => {
  const button = event.target.closest("button.sync");
  if (!button || button.disabled) return;
  const name = button.closest("tr").dataset.database;
  if (button.dataset.kind === "sync-from-payroll") askToSync(name);
  else if (button.dataset.kind === "reconcile") checkAgainstPayroll(name);
  else askToSyncLeave(name);
});
$("confirm-yes").addEventListener("click", confirmYes);
$("confirm-no").addEventListener("click", cancelDialog);
$("confirm").addEventListener("cancel", (event) => { event.preventDefault(); cancelDialog(); });
$("refresh-log").addEventListener("click", () => { loadJobs(); loadLog(); });
$("log-database").addEventListener("change", () => { state.logPage = 1; $("log-job").value = ""; loadJobs(); loadLog(); });
$("log-job").addEventListener("change", () => { state.logPage = 1; loadLog(); });
$("log-newer").addEventListener("click", () => { state.logPage -= 1; loadLog(); });
$("log-older").addEventListener("click", () => { state.logPage += 1; loadLog(); });

loadJobs();
loadLog();
pollStatus();
