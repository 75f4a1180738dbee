// banditbot dashboard: plain JavaScript and <canvas>, no CDN, no build step.
"use strict";

const COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860",
                "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"];
const REFRESH_MS = 5000;
const state = { key: localStorage.getItem("banditbot-key") || "", experiment: null,
                role: null, timer: null };

function api(path, options = {}) {
  const headers = Object.assign({ "Authorization": "Bearer " + state.key },
                                options.body ? { "Content-Type": "application/json" } : {});
  return fetch(path, Object.assign({}, options, { headers })).then(async (res) => {
    const type = res.headers.get("content-type") || "";
    const body = type.includes("json") && !type.includes("ndjson") ? await res.json()
                                                                  : await res.text();
    if (!res.ok) { throw new Error((body && body.detail) || res.statusText); }
    return body;
  });
}

function text(el, value) { el.textContent = value; return el; }
function fmt(x, digits = 3) { return x === null || x === undefined ? "–" : x.toFixed(digits); }
function pct(x) { return (100 * x).toFixed(0) + "%"; }

function clear(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px system-ui, sans-serif";
  return ctx;
}

function axes(ctx, canvas, pad, yMax, yLabel) {
  ctx.strokeStyle = "#c8ccd6"; ctx.fillStyle = "#6b7385";
  ctx.beginPath(); ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, canvas.height - pad.b);
  ctx.lineTo(canvas.width - pad.r, canvas.height - pad.b); ctx.stroke();
  ctx.fillText(yLabel(yMax), 2, pad.t + 8);
  ctx.fillText(yLabel(0), 2, canvas.height - pad.b);
}

function legend(ctx, canvas, arms) {
  arms.forEach((arm, i) => {
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.fillRect(50 + 90 * (i % 5), canvas.height - 14 + 0 * i, 10, 10);
    ctx.fillStyle = "#1d2330";
    ctx.fillText(arm, 64 + 90 * (i % 5), canvas.height - 5);
  });
}

function drawAllocation(canvas, timeline) {
  const ctx = clear(canvas);
  const pad = { l: 40, r: 10, t: 10, b: 30 };
  const bins = timeline.edges.length - 1;
  if (bins < 1) { ctx.fillText("no decisions yet", 60, 100); return; }
  const w = (canvas.width - pad.l - pad.r) / bins, h = canvas.height - pad.t - pad.b;
  const totals = new Array(bins).fill(0);
  timeline.arms.forEach((a) => timeline.counts[a].forEach((c, j) => { totals[j] += c; }));
  const base = new Array(bins).fill(0);
  timeline.arms.forEach((arm, i) => {
    ctx.fillStyle = COLORS[i % COLORS.length];
    timeline.counts[arm].forEach((c, j) => {
      const share = totals[j] ? c / totals[j] : 0;
      const y = pad.t + h * (1 - base[j] - share);
      ctx.fillRect(pad.l + j * w, y, Math.ceil(w), h * share);
      base[j] += share;
    });
  });
  axes(ctx, canvas, pad, 1, (v) => pct(v));
  legend(ctx, canvas, timeline.arms);
}

function drawCumulative(canvas, timeline) {
  const ctx = clear(canvas);
  const pad = { l: 40, r: 10, t: 10, b: 30 };
  const bins = timeline.edges.length - 1;
  if (bins < 1 || !timeline.rewards) { ctx.fillText("no rewards yet", 60, 100); return; }
  const series = timeline.arms.map((arm) => {
    let run = 0; return timeline.rewards[arm].map((r) => (run += r));
  });
  let total = 0;
  const overall = new Array(bins).fill(0).map((_, j) => {
    timeline.arms.forEach((arm) => { total += timeline.rewards[arm][j]; }); return total;
  });
  const yMax = Math.max(1, overall[bins - 1]);
  const w = (canvas.width - pad.l - pad.r) / Math.max(1, bins - 1);
  const h = canvas.height - pad.t - pad.b;
  const line = (values, color, width) => {
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
    values.forEach((v, j) => {
      const x = pad.l + j * w, y = pad.t + h * (1 - v / yMax);
      if (j) { ctx.lineTo(x, y); } else { ctx.moveTo(x, y); }
    });
    ctx.stroke(); ctx.lineWidth = 1;
  };
  series.forEach((s, i) => line(s, COLORS[i % COLORS.length], 1.5));
  line(overall, "#1d2330", 2.5);
  axes(ctx, canvas, pad, yMax, (v) => v.toFixed(0));
  legend(ctx, canvas, timeline.arms);
}

function drawIntervals(canvas, report) {
  const ctx = clear(canvas);
  const pad = { l: 90, r: 20, t: 10, b: 20 };
  const arms = report.arms;
  const lows = arms.map((a) => a.low).filter((v) => v !== null);
  const highs = arms.map((a) => a.high).filter((v) => v !== null);
  if (!lows.length) { ctx.fillText("no rewards yet", 60, 100); return; }
  const lo = Math.min(...lows), hi = Math.max(...highs), span = Math.max(hi - lo, 1e-9);
  const x = (v) => pad.l + (canvas.width - pad.l - pad.r) * (v - lo) / span;
  const step = (canvas.height - pad.t - pad.b) / arms.length;
  arms.forEach((a, i) => {
    const y = pad.t + step * (i + 0.5);
    ctx.fillStyle = "#1d2330"; ctx.fillText(a.arm, 4, y + 4);
    const color = COLORS[i % COLORS.length];
    if (a.low !== null && a.high !== null) {
      ctx.strokeStyle = color; ctx.lineWidth = 4; ctx.beginPath();
      ctx.moveTo(x(a.low), y); ctx.lineTo(x(a.high), y); ctx.stroke(); ctx.lineWidth = 1;
    }
    if (a.mean !== null) {
      ctx.fillStyle = color; ctx.beginPath(); ctx.arc(x(a.mean), y, 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  });
  ctx.fillStyle = "#6b7385";
  ctx.fillText(fmt(lo), pad.l, canvas.height - 4);
  ctx.fillText(fmt(hi), canvas.width - pad.r - 30, canvas.height - 4);
}

function renderReport(report) {
  text(document.getElementById("exp-title"), report.experiment);
  text(document.getElementById("exp-policy"), report.policy);
  const sums = {chat: " · every chat's bandit summed", subject: " · every user's bandit summed"};
  text(document.getElementById("exp-description"),
       `${report.description || ""}${sums[report.per] || ""} · ${report.total_pulls} ` +
       `decisions, ${report.total_answered} rewards · ${report.interval_kind}`);
  text(document.getElementById("verdict"), report.verdict || "");
  const body = document.querySelector("#arms tbody");
  body.replaceChildren(...report.arms.map((a) => {
    const tr = document.createElement("tr");
    [a.arm + (a.active ? "" : " (retired)"), a.pulls, a.answered, fmt(a.mean),
     a.low === null ? "–" : `${fmt(a.low, 2)}–${fmt(a.high, 2)}`, pct(a.p_best),
     pct(a.allocation)].forEach((v) => tr.appendChild(text(document.createElement("td"), v)));
    return tr;
  }));
  text(document.getElementById("notes"), Object.values(report.notes || {}).join(" · "));
  drawIntervals(document.getElementById("intervals"), report);
}

function renderRecent(jsonl) {
  const rows = jsonl.trim() ? jsonl.trim().split("\n").map((l) => JSON.parse(l)) : [];
  const body = document.querySelector("#recent tbody");
  body.replaceChildren(...rows.slice(-15).reverse().map((r) => {
    const tr = document.createElement("tr");
    [r.created_at.replace("T", " ").slice(0, 19), r.arm, fmt(r.propensity),
     r.reward === null ? "–" : r.reward, r.kind]
      .forEach((v) => tr.appendChild(text(document.createElement("td"), v)));
    return tr;
  }));
}

async function refresh() {
  if (!state.experiment) { return; }
  const id = encodeURIComponent(state.experiment);
  try {
    const [report, timeline, recent] = await Promise.all([
      api(`/v1/experiments/${id}/report`), api(`/v1/experiments/${id}/timeline?bins=40`),
      api(`/v1/experiments/${id}/decisions?limit=10000`)]);
    renderReport(report);
    drawAllocation(document.getElementById("allocation"), timeline);
    drawCumulative(document.getElementById("cumulative"), timeline);
    renderRecent(recent);
    text(document.getElementById("updated"), "updated " + new Date().toLocaleTimeString());
  } catch (err) {
    text(document.getElementById("updated"), "could not refresh: " + err.message);
  }
}

function select(id) {
  state.experiment = id;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active",
                                                                       a.dataset.id === id));
  document.getElementById("detail").hidden = false;
  document.getElementById("admin").hidden = state.role !== "admin";
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, REFRESH_MS);
}

async function start() {
  if (!state.key) { return; }
  try {
    const who = await api("/v1/whoami");
    state.role = who.role;
    text(document.getElementById("who"), `${who.name} (${who.role})`);
    const list = await api("/v1/experiments");
    const nav = document.getElementById("experiments");
    nav.replaceChildren(...list.map((e) => {
      const a = document.createElement("a");
      a.href = "#" + e.id; a.dataset.id = e.id;
      a.appendChild(text(document.createElement("strong"), e.id));
      a.appendChild(text(document.createElement("small"), `${e.arms.length} arms · ${e.policy}`));
      a.addEventListener("click", (ev) => { ev.preventDefault(); select(e.id); });
      return a;
    }));
    const wanted = decodeURIComponent(location.hash.slice(1));
    select(list.some((e) => e.id === wanted) ? wanted : list[0].id);
  } catch (err) {
    text(document.getElementById("who"), "key not accepted: " + err.message);
  }
}

document.getElementById("keyform").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.key = document.getElementById("key").value.trim();
  localStorage.setItem("banditbot-key", state.key);
  start();
});

document.querySelectorAll("#admin form").forEach((form) => {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const id = encodeURIComponent(state.experiment);
    const action = form.dataset.action;
    const out = document.getElementById("admin-result");
    try {
      let result;
      if (action === "cheat") {
        result = await api(`/v1/experiments/${id}/cheat`, { method: "POST",
          body: JSON.stringify({ arm: data.arm, rewards: data.rewards }) });
      } else if (action === "prior") {
        result = await api(`/v1/experiments/${id}/arms/${encodeURIComponent(data.arm)}/prior`,
          { method: "PUT", body: JSON.stringify({ alpha: +data.alpha, beta: +data.beta }) });
      } else if (action === "policy") {
        result = await api(`/v1/experiments/${id}/policy`, { method: "PUT",
          body: JSON.stringify({ name: data.name, params: {} }) });
      } else if (action === "arm") {
        const op = ev.submitter ? ev.submitter.value : "add";
        result = op === "retire"
          ? await api(`/v1/experiments/${id}/arms/${encodeURIComponent(data.id)}`,
                      { method: "DELETE" })
          : await api(`/v1/experiments/${id}/arms`, { method: "POST",
                      body: JSON.stringify({ id: data.id, content: data.content || "" }) });
      } else if (action === "reset") {
        if (!confirm(`Reset ${state.experiment}? Its statistics start from zero.`)) { return; }
        result = await api(`/v1/experiments/${id}/reset`, { method: "POST",
          body: JSON.stringify({ keep_priors: true }) });
      }
      text(out, result.detail);
      refresh();
    } catch (err) { text(out, "not done: " + err.message); }
  });
});

if (state.key) { document.getElementById("key").value = state.key; start(); }
