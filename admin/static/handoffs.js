// Operator workspace (issue 16): live queue over server-sent events, take over a chat, phone pops, close.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const options = JSON.parse($("form-options").textContent);
  let activeId = null;
  let activeStatus = null;

  function showError(text) {
    const el = $("workspace-error");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function showResult(text) {
    const el = $("last-result");
    el.textContent = text;
    el.hidden = !text;
  }

  function node(tag, attrs, text) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== undefined && v !== null) el.setAttribute(k, v); });
    if (text !== undefined && text !== null) el.textContent = text;
    return el;
  }

  function minutes(seconds) {
    return seconds < 60 ? `${seconds}秒` : `${Math.floor(seconds / 60)}分${seconds % 60}秒`;
  }

  async function api(url, body) {
    const opts = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const resp = await adminFetch(url, opts);
    if (resp.status === 401) { location.href = "/login?next=/handoffs"; throw new Error("未登录"); }
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    return { ok: resp.ok, status: resp.status, data };
  }

  const FIELDS = [["request_type", "类型"], ["category", "类别"], ["district", "区"], ["street", "街道"],
    ["address", "地址"], ["contact_name", "称呼"], ["phone", "电话"], ["description", "描述"]];

  function summary(item) {
    const c = item.collected || {};
    return FIELDS.filter(([k]) => c[k]).map(([k, label]) => `${label}：${c[k]}`).join("；");
  }

  function renderQueue(items) {
    const list = $("queue");
    list.textContent = "";
    const waiting = items.filter((i) => i.status === "waiting").length;
    $("queue-count").textContent = `（等待 ${waiting}）`;
    if (!items.length) list.appendChild(node("li", { class: "empty" }, "暂无等待的市民"));
    for (const item of items) {
      const li = node("li", { class: `handoff ${item.status}`, "data-id": item.id, "data-status": item.status,
        "data-conversation": item.conversation_id, "data-call": item.call_id || "" });
      const head = node("div", { class: "head" });
      head.appendChild(node("strong", {}, `#${item.id} ${item.channel_label}`));
      head.appendChild(node("span", { class: "status" }, item.status_label +
        (item.claimed_by ? `（${item.claimed_by}）` : "") + (item.callback ? " · 已登记待回电" : "")));
      head.appendChild(node("span", { class: "reason" }, item.reason_label));
      head.appendChild(node("span", { class: "waited" }, `已等 ${minutes(item.waited_s)}`));
      if (item.call_id) head.appendChild(node("span", { class: "call" }, `通话 ${item.call_id}`));
      li.appendChild(head);
      li.appendChild(node("div", { class: "summary" }, summary(item)));
      if (item.status === "waiting") {
        const take = node("button", { type: "button", class: "claim", "data-id": item.id },
          item.phone_call ? "接听" : "接入");
        take.addEventListener("click", () => claim(item.id));
        li.appendChild(take);
      }
      if (item.status === "claimed" && item.claimed_by === currentUser() && activeId !== item.id) {
        const open = node("button", { type: "button", class: "open" }, "打开");
        open.addEventListener("click", () => openActive(item.id));
        li.appendChild(open);
      }
      list.appendChild(li);
    }
    const mine = items.find((i) => i.id === activeId);
    if (activeId !== null && !mine) closeActive();
  }

  function currentUser() {
    const who = document.querySelector(".who");
    return who ? who.textContent.split("（")[0].trim() : "";
  }

  function renderTurns(turns) {
    const box = $("transcript");
    box.textContent = "";
    for (const t of turns) {
      const label = t.speaker === "citizen" ? "市民" : t.speaker === "operator" ? `坐席 ${t.operator}` : "机器人";
      const row = node("div", { class: `turn ${t.speaker}` });
      row.appendChild(node("span", { class: "who" }, label));
      row.appendChild(node("span", { class: "text" }, t.text));
      box.appendChild(row);
    }
    box.scrollTop = box.scrollHeight;
  }

  function renderCollected(item) {
    const dl = $("collected");
    dl.textContent = "";
    const rows = [["渠道", item.channel_label], ["转人工原因", item.reason_label]];
    if (item.call_id) rows.push(["通话编号", item.call_id]);
    FIELDS.forEach(([k, label]) => rows.push([label, (item.collected || {})[k] || "—"]));
    for (const [k, v] of rows) {
      dl.appendChild(node("dt", {}, k));
      dl.appendChild(node("dd", { "data-field": k }, v));
    }
  }

  function fillStreets(district, chosen) {
    const select = document.querySelector("#ticket-form [name=street]");
    select.textContent = "";
    select.appendChild(node("option", { value: "" }, "请选择"));
    const found = options.districts.find((d) => d.name === district);
    for (const s of found ? found.streets : []) {
      const opt = node("option", {}, s);
      if (s === chosen) opt.selected = true;
      select.appendChild(opt);
    }
  }

  function prefill(values) {
    const form = $("ticket-form");
    form.reset();
    for (const [k, v] of Object.entries(values || {})) {
      const field = form.elements[k];
      if (!field || k === "street") continue;
      if (field.type === "checkbox") field.checked = !!v;
      else field.value = v;
    }
    fillStreets(values.district || "", values.street || "");
    $("ticket-errors").textContent = "";
  }

  function showActive(data) {
    activeId = data.id;
    activeStatus = data.status;
    $("active").hidden = false;
    $("active").dataset.id = data.id;
    $("active").dataset.phone = data.phone_call ? "1" : "0";
    $("active-title").textContent = `#${data.id} ${data.channel_label}`;
    $("chat-form").hidden = !!data.phone_call;
    renderCollected(data);
    renderTurns(data.turns || []);
    prefill(data.prefill || {});
  }

  function closeActive() {
    activeId = null;
    activeStatus = null;
    $("active").hidden = true;
    delete $("active").dataset.id;
  }

  async function openActive(id) {
    const r = await api(`/api/handoffs/${id}`);
    if (r.ok) showActive(r.data); else showError(r.data.error || "读取失败");
  }

  async function claim(id) {
    showError("");
    showResult("");
    const r = await api(`/api/handoffs/${id}/claim`, {});
    if (!r.ok) { showError(r.data.error || "接入失败"); return; }
    showActive(r.data);
  }

  $("chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text || activeId === null) return;
    const r = await api(`/api/handoffs/${activeId}/message`, { text });
    if (!r.ok) { showError(r.data.error || "发送失败"); return; }
    input.value = "";
    // kept in the transcript either way; say so when the citizen could not be reached right now
    showError(r.data.delivered === false ? "消息已记入对话，但未能即时送达市民（网页已关闭，或未配置微信客服消息）" : "");
  });

  $("leave").addEventListener("click", async () => {
    if (activeId === null) return;
    const r = await api(`/api/handoffs/${activeId}/release`, {});
    if (!r.ok) { showError(r.data.error || "操作失败"); return; }
    showResult(`#${activeId} 已放回队列`);
    closeActive();
  });

  $("resolve").addEventListener("click", async () => {
    if (activeId === null) return;
    const r = await api(`/api/handoffs/${activeId}/resolve`, {});
    if (!r.ok) { showError(r.data.error || "操作失败"); return; }
    showResult(`#${activeId} 已结束（无需工单）`);
    closeActive();
  });

  $("ticket-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (activeId === null) return;
    const form = ev.target;
    const body = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      body[el.name] = el.type === "checkbox" ? el.checked : el.value;
    }
    const r = await api(`/api/handoffs/${activeId}/ticket`, body);
    if (!r.ok) {
      const errors = r.data.errors || {};
      $("ticket-errors").textContent = [r.data.error, ...Object.values(errors)].filter(Boolean).join(" ");
      return;
    }
    showResult(`已登记工单 ${r.data.ticket_no}`);
    $("last-result").dataset.ticket = r.data.ticket_no;
    closeActive();
  });

  document.querySelector("#ticket-form [name=district]").addEventListener("change", (ev) => fillStreets(ev.target.value, ""));

  $("call-lookup").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const call = ev.target.elements.call_id.value.trim();
    const pop = $("call-pop");
    if (!call) return;
    const r = await api(`/api/handoffs/call/${encodeURIComponent(call)}`);
    pop.hidden = false;
    pop.textContent = "";
    if (!r.ok) { pop.appendChild(node("p", { class: "bad" }, r.data.error || "没有找到")); return; }
    const item = r.data;
    pop.dataset.id = item.id;
    pop.appendChild(node("p", {}, `#${item.id} ${item.channel_label} · ${item.status_label} · ${item.reason_label}`));
    pop.appendChild(node("p", { class: "summary" }, summary(item)));
    if (item.status === "waiting") {
      const take = node("button", { type: "button", class: "claim" }, "接听");
      take.addEventListener("click", () => claim(item.id));
      pop.appendChild(take);
    }
  });

  function connect() {
    const status = $("workspace-status");
    const source = new EventSource("/api/handoffs/stream");
    source.addEventListener("open", () => { status.textContent = "已连接，新的转人工会自动出现"; status.dataset.state = "live"; });
    source.addEventListener("queue", (ev) => renderQueue(JSON.parse(ev.data).items));
    source.addEventListener("turns", (ev) => {
      const data = JSON.parse(ev.data);
      if (data.id === activeId) renderTurns(data.turns);
    });
    source.addEventListener("error", () => { status.textContent = "连接中断，正在重连…"; status.dataset.state = "retrying"; });
  }

  connect();
})();
