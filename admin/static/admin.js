// Admin console: CSRF header for fetch calls, live training log.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// fetch with the session's CSRF token (double submit: the server compares it with the session's).
function adminFetch(url, options) {
  const opts = Object.assign({ credentials: "same-origin" }, options || {});
  opts.headers = Object.assign({ "X-CSRF-Token": csrfToken() }, opts.headers || {});
  return fetch(url, opts);
}

function renderReport(report) {
  if (!report) return "";
  const parts = [];
  if (report.nlu && report.nlu.ok) {
    parts.push(`<span>NLU：准确率 ${(report.nlu.accuracy * 100).toFixed(1)}%，F1 ${report.nlu.f1.toFixed(3)}，` +
      `${report.nlu.errors}/${report.nlu.examples} 条识别错误</span>`);
  }
  if (report.nlu && !report.nlu.ok) parts.push('<span class="bad">NLU 测试失败</span>');
  if (report.core && !report.core.ok) parts.push('<span class="bad">故事测试失败</span>');
  if (report.core && report.core.ok) {
    parts.push(`<span class="${report.core.failed ? "bad" : ""}">故事：${report.core.passed}/${report.core.stories} 通过，` +
      `动作准确率 ${(report.core.action_accuracy * 100).toFixed(1)}%</span>`);
  }
  return parts.length ? `<div class="report">${parts.join("")}</div>` : "";
}

function followJob(log) {
  const id = log.dataset.job;
  let since = 0;
  let lines = [];
  async function poll() {
    let job;
    try {
      const resp = await adminFetch(`/api/train/${encodeURIComponent(id)}?since=${since}`);
      if (resp.status === 401) { location.href = "/login"; return; }
      job = await resp.json();
    } catch (e) {
      setTimeout(poll, 3000);
      return;
    }
    lines = lines.slice(0, since).concat(job.lines);
    since = job.next;
    log.textContent = lines.join("\n");
    log.scrollTop = log.scrollHeight;
    const state = document.getElementById("job-state");
    state.textContent = job.state;
    state.dataset.state = job.state;
    document.getElementById("job-phase").textContent = job.phase;
    document.getElementById("job-progress").value = job.percent;
    document.getElementById("job-percent").textContent = job.percent + "%";
    if (job.error) {
      const err = document.getElementById("job-error");
      err.textContent = job.error;
      err.hidden = false;
    }
    const report = renderReport(job.report);
    if (report) document.getElementById("job-report").innerHTML = report;
    if (job.state === "done") document.getElementById("job-done").hidden = false;
    if (job.state !== "done" && job.state !== "failed") setTimeout(poll, 1500);
  }
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("job-log");
  if (log) followJob(log);
});
