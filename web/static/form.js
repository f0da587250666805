// The self-service form (/form) and the status page (/status): plain DOM, no external code.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function clearErrors(form) {
    form.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  }

  // errors next to their fields; focus the first one
  function showErrors(form, errors) {
    let first = null;
    Object.keys(errors).forEach((name) => {
      const box = $(name + "-error");
      if (!box) return;
      box.textContent = errors[name];
      const input = form.querySelector('[name="' + name + '"]');
      if (input) {
        input.setAttribute("aria-invalid", "true");
        if (!first) first = input;
      }
    });
    if (first) first.focus();
  }

  function showResult(html, bad) {
    const box = $("result");
    box.className = "result" + (bad ? " bad" : "");
    box.innerHTML = html;
    box.focus();
  }

  function escape(text) {
    const d = document.createElement("div");
    d.textContent = text;
    return d.innerHTML;
  }

  async function post(url, body, headers) {
    const resp = await fetch(url, {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    return { status: resp.status, data: data };
  }

  // ---- /form ---------------------------------------------------------------
  async function setupForm(form) {
    let key = newKey(); // one key per filled form: a double submit files one ticket
    const resp = await fetch("/api/form/options");
    const opts = await resp.json();
    const types = $("request_type-choices");
    opts.request_types.forEach((t, i) => {
      const label = document.createElement("label");
      label.innerHTML = '<input type="radio" name="request_type" value="' + t.value + '"' +
        (i === 0 ? ' aria-describedby="request_type-error"' : "") + "> " + escape(t.label);
      types.appendChild(label);
    });
    const category = $("category");
    opts.categories.forEach((c) => category.add(new Option(c, c)));
    const district = $("district");
    const street = $("street");
    const streets = {};
    opts.districts.forEach((d) => { streets[d.name] = d.streets; district.add(new Option(d.name, d.name)); });
    district.addEventListener("change", () => {
      street.length = 0;
      const list = streets[district.value] || [];
      street.add(new Option(list.length ? "请选择街道（乡镇）" : "请先选择区", ""));
      list.forEach((s) => street.add(new Option(s, s)));
      street.disabled = !list.length;
    });
    form.addEventListener("input", () => { key = key || newKey(); });

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = $("submit");
      if (button.disabled) return;
      clearErrors(form);
      const data = new FormData(form);
      const body = {};
      ["request_type", "category", "description", "district", "street", "address", "occurred_at",
        "contact_name", "phone"].forEach((n) => { body[n] = (data.get(n) || "").toString(); });
      body.confidential = data.get("confidential") === "true";
      button.disabled = true;
      button.textContent = "正在提交…";
      try {
        const r = await post("/api/requests", body, { "Idempotency-Key": key });
        if (r.status === 201) {
          showResult("<p>提交成功！您的工单编号是</p><p class=\"ticket-no\" id=\"ticket-no\">" +
            escape(r.data.ticket_no) + "</p><p>" + escape(r.data.message || "") +
            '</p><p><a href="/status">查询办理进度</a></p>', false);
          key = null; // the next request is a new one
          form.querySelectorAll("input[type=text], input[type=tel], input[type=datetime-local], textarea")
            .forEach((e) => { e.value = ""; });
        } else if (r.status === 422) {
          showResult(escape(r.data.error || "请修改标出的内容后再提交。"), true);
          showErrors(form, r.data.errors || {});
        } else {
          showResult(escape(r.data.error || "提交失败，请稍后再试。"), true);
        }
      } catch (e) {
        showResult("网络连接失败，您填写的内容仍在页面上，请稍后再试。", true);
      } finally {
        button.disabled = false;
        button.textContent = "提交诉求";
        if (!key) key = newKey();
      }
    });
  }

  // ---- /status -------------------------------------------------------------
  function setupStatus(form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const body = { ticket_no: $("ticket_no").value, phone: $("phone").value };
      const button = $("submit");
      button.disabled = true;
      try {
        const r = await post("/api/status", body);
        if (r.status === 200) {
          showResult("<p id=\"status-text\">" + escape(r.data.text) + "</p>", false);
        } else {
          if (r.data.errors) showErrors(form, r.data.errors);
          showResult(escape(r.data.error || "查询失败，请稍后再试。"), true);
        }
      } catch (e) {
        showResult("网络连接失败，请稍后再试。", true);
      } finally {
        button.disabled = false;
      }
    });
  }

  const form = $("request-form");
  if (form) setupForm(form);
  const status = $("status-form");
  if (status) setupStatus(status);
})();
