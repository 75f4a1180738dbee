// banditbot dashboard: plain JavaScript and <canvas>, no CDN, no build step.
//
// Reads the report defensively: fields that newer servers add (status, burn_in, srm,
// control, uplift, estimate, ...) are shown when present and left out when not.
"use strict";

// Every colour has at least 3:1 contrast against white (WCAG 1.4.11) and they stay apart
// for the common colour-vision deficiencies (Okabe-Ito, darkened where needed).
const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC3399", "#7A5195", "#8C6D00",
                "#00798C", "#B8336A", "#5F6B7A", "#A05A2C"];
const INK = "#1d2330", TICK = "#4f5869", GRID = "#e3e6ec";
// More arms than colours (a trial had 40, its legends 40 entries long with colours repeating):
// the control and the arms with the most decisions keep a colour each, the rest are drawn together as "others"
// in this grey (one of COLORS, so never one of theirs)
const OTHERS = "#5F6B7A", TOP_COLORS = COLORS.filter((c) => c !== OTHERS);
const REFRESH_MS = 5000;
const PAGE = 20;
const KEY_STORE = "banditbot-key";

const state = {
  key: readKey(), role: null, experiments: [], id: null, scope: null, report: null,
  raw: null, series: null, config: null, policies: null, started: {}, seq: 0, latest: null,
  recent: { stack: [], next: null, generation: null }, timer: null,
  lastOk: null, downSince: null, missing: null,
};

const $ = (id) => document.getElementById(id);
function readKey() { try { return localStorage.getItem(KEY_STORE) || ""; } catch { return ""; } }
function writeKey(key) {
  try { if (key) { localStorage.setItem(KEY_STORE, key); } else { localStorage.removeItem(KEY_STORE); } }
  catch { /* private mode: the key lives for this page only */ }
}

// ---- talking to the server ------------------------------------------------------------
class ApiError extends Error {
  constructor(status, detail, hint) { super(detail); this.status = status; this.hint = hint; }
}
class ServerDown extends Error {
  // store: the server answered that its store (the database) does not
  constructor(message, store = false) { super(message); this.store = store; }
}

async function api(path, { method = "GET", body, key = state.key, text = false } = {}) {
  const headers = { "Authorization": "Bearer " + key };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; }
  let res;
  try {
    res = await fetch(path, { method, headers, cache: "no-store",
                              body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) { throw new ServerDown(err.message); }
  const type = res.headers.get("content-type") || "";
  const json = !text && type.includes("json") && !type.includes("ndjson");
  const payload = json ? await res.json() : await res.text();
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    throw new ServerDown(`HTTP ${res.status}`, !!(payload && payload.title === "store unavailable"));
  }
  if (!res.ok) {
    const detail = (payload && payload.detail) || res.statusText || `HTTP ${res.status}`;
    throw new ApiError(res.status, detail, payload && payload.hint);
  }
  return { body: payload, headers: res.headers };
}

function jsonLines(textBody) {
  return textBody.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// ---- formatting -----------------------------------------------------------------------
const enc = encodeURIComponent;
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) { continue; }
    if (k === "class") { node.className = v; } else if (k === "text") { node.textContent = v; }
    else { node.setAttribute(k, v === true ? "" : v); }
  }
  for (const c of children) { if (c !== null && c !== undefined) { node.append(c); } }
  return node;
}
function text(node, value) { node.textContent = value; return node; }
const has = (x) => x !== null && x !== undefined && !(typeof x === "number" && isNaN(x));
// The check's p-value as the CLI writes it: "anytime p" without periods (the log's test,
// valid at every look: the smallest so far), "p" with them.
const srmP = (srm) => `${srm.periods_tested ? "p" : "anytime p"} = ${has(srm.p_value) ? srm.p_value.toPrecision(2) : "?"}`;
function int(x) { return has(x) ? Math.round(x).toLocaleString("en-US") : "–"; }
// "1 decision", "2 decisions" (the chart's text said "the first 1 decisions")
function count(x, word) { return `${int(x)} ${word}${Math.round(x) === 1 ? "" : "s"}`; }
function num(x, digits = 3) {
  if (!has(x)) { return "–"; }
  if (Number.isInteger(x) && Math.abs(x) >= 10 && Math.abs(x) < 1e15) { return int(x); }
  if (Math.abs(x) >= 1e6) { return x.toPrecision(4); }  // 1.460e+10, not 14603606373.8500
  return x.toFixed(digits);
}
// a sum of rewards: a whole number as one, as the CLI shows it (a count of 👍 read "3.00"
// beside "555" in one column), else two decimals, grouped as the counts are ("2098.12"
// beside "2,636")
function amount(x) {
  if (has(x) && Math.abs(x) >= 1000 && Math.abs(x) < 1e6 && !Number.isInteger(x)) {
    return x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  return has(x) && Number.isInteger(x) && Math.abs(x) < 1e15 ? int(x) : num(x, 2);
}
function signed(x, digits = 3) { return has(x) ? (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(digits) : "–"; }
// exact = false: a belief that is never a certainty (a chance to beat the control, a P(best)
// among two or more arms), so 0 and 1 read "<0.1%" and ">99.9%" too
function pct(x, exact = true) {
  if (!has(x)) { return "–"; }
  if ((x > 0 || !exact) && x < 0.0005) { return "<0.1%"; }  // (as the CLI's table: never a certainty it is not)
  if ((x < 1 || !exact) && x >= 0.9995) { return ">99.9%"; }
  return (100 * x).toFixed((x < 0.1 && x > 0) || (x > 0.99 && x < 1) ? 1 : 0) + "%";  // 99.8%, not 100%
}
function range(lo, hi, digits = 3) { return has(lo) && has(hi) ? `${num(lo, digits)} – ${num(hi, digits)}` : "–"; }
function isoDate(seconds) {
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}
function duration(seconds) {
  if (!has(seconds)) { return "–"; }
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) { return `${d} d ${h} h`; }
  if (h) { return `${h} h ${m} min`; }
  if (m) { return `${m} min`; }
  return `${s} s`;
}
// the reader's time of day with its zone ("13:14:13 UTC"): the page's dates say UTC, and a
// bare time beside them read as UTC too
function clock(date) { return date.toLocaleTimeString("en-GB", { timeZoneName: "short" }); }

// ---- the report, read defensively ---------------------------------------------------------
function normalize(r) {
  // the estimate's columns whenever the server names one (before an arm's 10th answer: "–"
  // above its interval, as in the CLI's table; the page showed the posterior's mean instead)
  const hasEstimate = !!r.estimate_kind || r.arms.some((a) => has(a.estimate) || has(a.estimate_low));
  const arms = r.arms.map((a, i) => ({
    arm: a.arm, content: a.content || "", active: a.active !== false,
    // the arm's place in the experiment's arm list, which its colour follows (an older
    // server's report has none: the row's)
    position: Number.isInteger(a.position) ? a.position : i,
    // fewer answers than the report's minimum for a point: said in words beside the interval
    tooFew: a.too_few_answers === true,
    decisions: a.decisions ?? a.pulls ?? 0,
    answered: a.answered ?? a.rewards ?? 0,
    added: a.added ?? 0,
    rewardSum: a.reward_sum ?? a.total ?? 0,
    mean: a.mean ?? null,
    estimate: hasEstimate ? a.estimate ?? null : a.mean ?? null,
    low: hasEstimate ? a.estimate_low ?? null : a.low ?? null,
    high: hasEstimate ? a.estimate_high ?? null : a.high ?? null,
    anytimeLow: a.anytime_low ?? null,
    anytimeHigh: a.anytime_high ?? null,
    uplift: a.uplift ?? null,
    beat: a.chance_to_beat_control ?? null,
    loss: a.expected_loss ?? null,
    pBest: a.p_best ?? null,
    allocation: a.allocation ?? null,
    prior: a.prior ?? null,
  }));
  if (arms.length > COLORS.length) {
    // the rule of the report's PNG chart (Report.top_arms): the control and the leader (the
    // first highest P(best)), then active arms before retired ones, each by the most
    // decisions so far, then the largest share now, then table order (by current allocation
    // alone, an arm's colour changed between refreshes)
    const control = r.control ?? null;
    const leader = arms.reduce((best, a) => ((a.pBest ?? -1) > (best.pBest ?? -1) ? a : best));
    const first = (a) => a === leader || a.arm === control;
    const ranked = [...arms].sort((a, b) => (first(b) - first(a)) || (b.active - a.active) ||
                                            (b.decisions - a.decisions) ||
                                            ((b.allocation ?? 0) - (a.allocation ?? 0)) ||
                                            (arms.indexOf(a) - arms.indexOf(b)));
    const top = new Set(ranked.slice(0, TOP_COLORS.length).map((a) => a.arm));
    arms.forEach((a) => { if (!top.has(a.arm)) { a.color = OTHERS; a.other = true; } });
    paint(arms.filter((a) => !a.other), TOP_COLORS);
  } else {
    paint(arms, COLORS);
  }
  const decisions = r.decisions ?? r.total_pulls ?? arms.reduce((s, a) => s + a.decisions, 0);
  const kind = (hasEstimate ? r.estimate_kind : null) || r.interval_kind || "interval";
  return {
    id: r.experiment, description: r.description || "", policy: r.policy || "",
    status: r.status ?? null, winner: r.winner ?? null, control: r.control ?? null,
    burnIn: r.burn_in ?? null, srm: r.srm ?? null,
    startedAt: r.started_at ?? null, duration: r.duration_seconds ?? null,
    decisions, answered: r.total_answered ?? arms.reduce((s, a) => s + a.answered, 0),
    // answers added by hand or imported: answers without a decision
    added: arms.reduce((s, a) => s + a.added, 0),
    generation: r.generation ?? 0, per: r.per || "shared", scope: r.scope ?? null,
    kind, intervalKind: r.interval_kind || "", hasEstimate, verdict: r.verdict || "",
    // the answer in plain words first (the verdict under it is the stopping rule's)
    headline: r.headline || "", nextStep: r.next_step || "",
    posterior: (r.interval_kind || "").includes("posterior"),  // the mean column's kind
    notes: r.notes || {}, rewardType: r.reward_type || "", rewardMode: r.reward_mode || "",
    update: r.update || "", floor: r.floor ?? null, winnerRule: r.winner_rule || "",
    generatedAt: r.generated_at ?? null, arms, banditVsHoldout: r.bandit_vs_holdout ?? null,
    history: r.history || [], historyText: r.history_text || "",
    comparisonNotes: r.comparison_notes || [],
  };
}

// Colours by the arms' place in the experiment's arm list, not by the rows shown (a reset
// drops the rows of arms retired before it, and every arm after them took another's
// colour): an arm among the first ten keeps COLORS[position] (unless it is the grey of
// "others"); one further down takes a colour no arm shown holds, in list order. The
// report's PNG chart follows the same rule (_charts.arm_colors).
function paint(arms, palette) {
  const own = (a) => (a.position < COLORS.length && palette.includes(COLORS[a.position]) ? COLORS[a.position] : null);
  const held = new Set(arms.map(own).filter(Boolean));
  const free = palette.filter((c) => !held.has(c));
  let k = 0;
  [...arms].sort((a, b) => a.position - b.position).forEach((a) => {
    a.color = own(a) || free[k++] || palette[a.position % palette.length];
  });
}

function statusOf(rep) {
  const s = rep.status;
  if (s === "winner") { return { cls: "winner", label: rep.winner ? `winner: ${rep.winner}` : "winner" }; }
  if (s === "burn-in") { return { cls: "burn-in", label: "burn-in" }; }
  if (s === "stopped") { return { cls: "stopped", label: "stopped" }; }
  if (s === "running") { return { cls: "running", label: "running" }; }
  if (s) { return { cls: "running", label: String(s) }; }
  return rep.decisions ? { cls: "running", label: "running" } : { cls: "empty", label: "no decisions yet" };
}

// ---- rendering: status, facts, notices ---------------------------------------------------
function fact(label, value, sub) {
  return el("div", {}, el("dt", { text: label }), el("dd", {}, value,
            sub ? el("span", { class: "sub", text: sub }) : null));
}

function renderHead(rep) {
  text($("exp-title"), rep.id);
  const st = statusOf(rep);
  const badge = $("status");
  badge.className = "badge " + st.cls;
  text(badge, st.label);
  const per = { chat: "one bandit per chat", subject: "one bandit per user" }[rep.per];
  const showing = rep.scope ? `showing ${rep.scope.startsWith("chat:") ? "chat " + rep.scope.slice(5) : "one user"}`
                            : per ? "showing all of them summed" : "";
  text($("exp-description"), [rep.description, per, showing].filter(Boolean).join(" · "));

  const started = rep.startedAt ?? state.started[startedKey()] ?? null;
  const now = (rep.generatedAt ?? Date.now() / 1000);
  const length = rep.duration ?? (started ? now - started : null);
  // rewards added by hand or imported are answers without a decision: not in the share
  const added = rep.added;
  // (said beside the count: "73 (81% of decisions)" read as a mistake, 73 of 62 being 118%)
  const answeredShare = [rep.decisions ? `${pct((rep.answered - added) / rep.decisions)} of decisions answered` : "",
                         added ? `${int(added)} added by hand or imported` : ""].filter(Boolean).join(" · ");
  const facts = [
    fact("Status", st.label),
    fact("Started", started ? isoDate(started).slice(0, 10) : "–", started ? isoDate(started).slice(11) : null),
    fact("Duration", duration(length)),
    fact("Decisions", int(rep.decisions)),
    fact("Answered", int(rep.answered), answeredShare ? `(${answeredShare})` : null),
    fact("Policy", rep.policy.split("(")[0] || "–"),
  ];
  if (rep.generation) { facts.push(fact("Generation", String(rep.generation), `reset ${rep.generation}×`)); }
  if (rep.control) { facts.push(fact("Control", rep.control)); }
  $("facts").replaceChildren(...facts);
}

function renderNotices(rep) {
  const out = [];
  const note = (cls, title, body, extra) => el("div", { class: "notice " + cls, role: cls === "bad" ? "alert" : null },
                                               el("strong", { text: title }), body ? el("span", { text: body }) : null, extra || null);
  const waitingAnswers = rep.burnIn && has(rep.burnIn.answers_needed) && rep.burnIn.answers < rep.burnIn.answers_needed;
  if (rep.burnIn && has(rep.burnIn.needed) && (rep.burnIn.done < rep.burnIn.needed || waitingAnswers)) {
    const answers = has(rep.burnIn.answers_needed) && rep.burnIn.answers_needed > 0 ?
      `, ${int(rep.burnIn.answers)} of ${int(rep.burnIn.answers_needed)} answers` : "";
    const bar = el("progress", { max: rep.burnIn.needed, value: Math.min(rep.burnIn.done, rep.burnIn.needed),
                                 "aria-label": "burn-in progress" });
    // the counts are the fewest arm's (a trial read "0 of 10" on 3,010 decisions, after an
    // arm was added, as if no arm had data): named, and an added arm's restart said
    const active = rep.arms.filter((a) => a.active);
    const fewest = active.length ? active.reduce((x, a) => (a.decisions < x.decisions ? a : x)) : null;
    const whose = fewest && active.some((a) => a.decisions > fewest.decisions) ? ` (the fewest: ${fewest.arm})` : "";
    const started = rep.decisions > rep.burnIn.needed * active.length;
    out.push(note("warn", `Burn-in: ${int(rep.burnIn.done)} of ${int(rep.burnIn.needed)} decisions${answers} per arm${whose}`,
                  started
                    ? " Traffic is split equally until every arm has enough data: an arm added later starts the burn-in again."
                    : " Traffic is split equally until every arm has enough data; the estimates are not meaningful yet.", bar));
  }
  if (rep.srm && rep.srm.flagged) {
    const period = rep.srm.period ? ` in period ${rep.srm.period}` : "";
    out.push(note("bad", `Sample ratio mismatch (${srmP(rep.srm)})`,
                  ` The arms received a different share of decisions than the allocation asked for${period}. ` +
                  "Something between banditbot and your users drops or duplicates traffic for some arms: " +
                  "do not trust these results until that is explained."));
  }
  if (state.missing) {
    out.push(note("warn", `No experiment “${state.missing}” here`,
                  ` The link names an experiment this server does not have; showing ${rep.id} instead.`));
  }
  if (rep.status === "winner") {
    out.push(note("ok", `Winner: ${rep.winner || "decided"}`,
                  " The experiment's stopping rule has named a winner; see the estimate and its interval below."));
  } else if (rep.status === "stopped") {
    out.push(note("info", "Stopped", " The experiment no longer adapts; the results below are final."));
  }
  $("notices").replaceChildren(...out);
  text($("headline"), rep.headline);
  $("next-step").replaceChildren(...(rep.nextStep ? [el("strong", { text: "Next step: " }), rep.nextStep] : []));
  text($("verdict"), rep.verdict);
}

// ---- rendering: the arm table ------------------------------------------------------------
function armColumns(rep) {
  const cols = [
    { head: "arm", cell: (a) => armCell(a, rep) },
    { head: "decisions", cell: (a) => int(a.decisions) },
    { head: "answered", cell: (a) => int(a.answered) },
    { head: "reward sum", cell: (a) => amount(a.rewardSum) },
    { head: rep.hasEstimate ? "estimate" : "mean", cell: (a) => valueCell(point(a), range(a.low, a.high)) },
  ];
  if (rep.hasEstimate) {
    cols.push({ head: rep.posterior ? "posterior mean" : "pooled mean", cell: (a) => num(a.mean) });
  }
  if (rep.arms.some((a) => has(a.anytimeLow))) {
    cols.push({ head: "valid at every look", cell: (a) => range(a.anytimeLow, a.anytimeHigh) });
  }
  if (rep.control) {
    cols.push({ head: `uplift vs ${rep.control}`, cell: (a) => upliftCell(a, rep) });
  }
  if (rep.arms.some((a) => has(a.beat))) {
    cols.push({ head: "chance to beat control", cell: (a) => a.arm === rep.control ? "–" : pct(a.beat, false) });
  }
  if (rep.arms.some((a) => has(a.loss))) { cols.push({ head: "expected loss", cell: (a) => num(a.loss, 4) }); }
  const oneArm = rep.arms.filter((a) => a.active).length <= 1;  // (else P(best) is never a certainty)
  if (rep.arms.some((a) => has(a.pBest))) { cols.push({ head: "P(best)", cell: (a) => a.active ? pct(a.pBest, oneArm) : "–" }); }
  cols.push({ head: "allocation", cell: (a) => a.active ? pct(a.allocation) : valueCell("0%", "retired") });
  return cols;
}
// An arm's point, or why it has none yet: the server says when its estimate rests on too few
// answers (its interval then spans about the whole range, which alone read as noise)
const TOO_FEW = "too few answers yet";
function point(a) { return a.tooFew && !has(a.estimate) ? TOO_FEW : num(a.estimate); }
function valueCell(main, sub) { const f = document.createDocumentFragment(); f.append(main); if (sub) { f.append(el("span", { class: "sub", text: sub })); } return f; }
function armCell(a, rep) {
  const tags = [a.active ? null : "retired", a.arm === rep.control ? "control" : null,
                a.arm === rep.winner ? "winner" : null].filter(Boolean);
  return valueCell(a.arm, tags.join(" · ") || null);
}
function upliftCell(a, rep) {
  if (a.arm === rep.control) { return "control"; }
  const u = a.uplift;
  if (!u) { return "–"; }
  const rel = has(u.relative) ? ` (${u.relative >= 0 ? "+" : "−"}${Math.abs(100 * u.relative).toFixed(1)}%)` : "";
  return valueCell(signed(u.diff) + rel, has(u.low) ? `${signed(u.low)} – ${signed(u.high)}` : null);
}

function renderTable(rep) {
  const cols = armColumns(rep);
  $("arms").querySelector("thead tr").replaceChildren(...cols.map((c) => el("th", { scope: "col", text: c.head })));
  $("arms").querySelector("tbody").replaceChildren(...rep.arms.map((a) => {
    const tr = el("tr", { class: [a.active ? "" : "retired", a.arm === rep.winner ? "leader" : ""].join(" ").trim() || null });
    cols.forEach((c, i) => {
      const td = el("td", { "data-label": c.head, class: i === 0 ? "arm" : null });
      td.append(el("span", {}, c.cell(a)));  // one box: on a phone the label sits left of it
      tr.append(td);
    });
    return tr;
  }));
  tableScrolls();
  const upliftKind = (rep.arms.find((a) => a.uplift && a.uplift.kind) || { uplift: {} }).uplift.kind;
  const added = rep.added;
  text($("arms-caption"), `${count(rep.decisions, "decision")}, ${int(rep.answered)} answered` +
       (added ? ` (${int(added)} added by hand or imported). ` : ". ") +
       `${rep.hasEstimate ? "Estimate" : "Mean"} and interval: ${rep.kind}.` +
       (!rep.hasEstimate ? "" : rep.posterior
         ? " Posterior mean: the policy's posterior (priors included), which adaptive allocation can bias."
         : " Pooled mean: the plain average, which adaptive allocation can bias.") +
       (upliftKind ? ` Uplift vs ${rep.control}: the difference in the estimate` +
                     (rep.arms.some((a) => a.uplift && has(a.uplift.decisions)) ? " over the decisions that offered both" : "") +
                     " (relative change), " +
                     `under it its ${upliftKind}.` : ""));
  // why the columns differ: a chance to beat the control and an uplift only with a control
  // a reward without bounds has no interval valid at every look, and no corrected estimate
  // (the line said both were there, on a revenue experiment: a trial)
  if (rep.notes.unbounded) {
    $("reading").replaceChildren("Why the numbers differ: " + (rep.control
      ? "P(best) and the chance to beat the control are the model's belief at this look. "
      : "P(best) is the model's belief at this look. ") +
      "This reward has no min and max: no interval here holds at every look, and neither " +
      "the estimate nor the uplift corrects for the changing allocation (give the reward " +
      "bounds for ones that do; ", el("code", { text: "docs/results.md" }), ").");
  } else {
    $("reading").replaceChildren("Why the numbers differ: " + (rep.control
      ? "P(best) and the chance to beat the control are the model's belief at this look; an " +
        "interval of the uplift holds at every look, so it is usually wider"
      : "P(best) is the model's belief at this look; the interval valid at every look holds " +
        "however often you look, so it is usually wider than the one-look interval (not " +
        "always: the two come from different estimators)") +
      "; the estimate corrects for the changing allocation, the posterior and pooled means " +
      "do not (", el("code", { text: "docs/results.md" }), ").");
  }
  const priors = rep.arms.filter((a) => a.prior).map((a) => `prior on ${a.arm}: alpha=${a.prior[0]}, beta=${a.prior[1]}`);
  const h = rep.banditVsHoldout;
  const sign = (x) => (x >= 0 ? "+" : "") + x.toFixed(3);
  const holdout = h ? [`bandit vs holdout (${rep.control}): ${sign(h.diff)}, ${sign(h.low)} to ${sign(h.high)} (${h.kind})`] : [];
  text($("notes"), [...holdout, ...priors, ...rep.comparisonNotes,
                    ...Object.entries(rep.notes).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`)].join(" · "));
  // what admins changed and when, as the CLI's report says it under its table
  text($("history"), rep.historyText);
  $("history").hidden = !rep.historyText;
}

// a column out of view is said, not hidden silently
function tableScrolls() {
  const table = $("arms"), wrap = table.parentElement;
  const wide = () => wrap.scrollWidth > wrap.clientWidth + 1;
  table.classList.remove("tight");
  table.classList.toggle("tight", wide());  // long arm ids wrap: only when the table needs it
  $("arms-scroll").hidden = !wide();
}

// ---- charts ---------------------------------------------------------------------------------
function surface(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(canvas.clientWidth, 200), h = Math.max(canvas.clientHeight, 150);
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "12px system-ui, -apple-system, 'Segoe UI', sans-serif";
  ctx.textBaseline = "middle";
  return { ctx, w, h };
}
// Round ticks from at most lo to at least hi: the axis always covers the data.
function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / Math.max(count, 1), mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  const first = Math.floor(lo / step + 1e-9) * step, last = Math.ceil(hi / step - 1e-9) * step;
  for (let i = 0, v = first; v <= last + step * 1e-6; i++, v = first + i * step) { ticks.push(+v.toFixed(10)); }
  return ticks;
}
// the decimals a step needs (0.25: 2), at most 8
function stepDecimals(step) {
  const shown = String(+Math.abs(step).toFixed(12));
  if (shown.includes("e")) { return 8; }
  const dot = shown.indexOf(".");
  return dot < 0 ? 0 : Math.min(8, shown.length - dot - 1);
}
function tickLabel(v, step) {
  const size = Math.abs(v);  // negative values too (-750M was drawn as "-750000000k")
  if (size >= 1e15) { return v.toExponential(1); }
  for (const [unit, suffix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (size >= unit) {  // the step's decimals, up to 2, trailing zeros dropped (1.25k, 1.5k)
      const text = (v / unit).toFixed(Math.min(2, stepDecimals(step / unit)));
      return (text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text) + suffix;
    }
  }
  // as many decimals as the step has (ticks 0.25 apart were labelled 0.3, 0.5, 0.8; 2.5
  // apart 3, 5, 8; 0.00001 apart 0.0000)
  return v.toFixed(stepDecimals(step));
}
function frame(ctx, w, h, pad, xTicks, yTicks, xOf, yOf, xLabel, yLabel, yFmt) {
  ctx.strokeStyle = GRID; ctx.lineWidth = 1; ctx.fillStyle = TICK;
  const xStep = xTicks.length > 1 ? xTicks[1] - xTicks[0] : 1, yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  ctx.textAlign = "right";
  for (const v of yTicks) {
    const y = yOf(v);
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    ctx.fillText(yFmt ? yFmt(v) : tickLabel(v, yStep), pad.l - 6, y);
  }
  ctx.textAlign = "center";
  ctx.canvas.dataset.ticks = JSON.stringify(xTicks.map((v) => tickLabel(v, xStep)));  // (drawn)
  for (const v of xTicks) {
    const x = xOf(v);
    ctx.strokeStyle = "#767f8e"; ctx.beginPath(); ctx.moveTo(x, h - pad.b); ctx.lineTo(x, h - pad.b + 4); ctx.stroke();
    ctx.fillText(tickLabel(v, xStep), x, h - pad.b + 13);
  }
  ctx.strokeStyle = "#767f8e";
  ctx.beginPath(); ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, h - pad.b); ctx.lineTo(w - pad.r, h - pad.b); ctx.stroke();
  ctx.fillStyle = INK;
  ctx.fillText(xLabel, pad.l + (w - pad.l - pad.r) / 2, h - 8);
  if (yLabel) {
    ctx.save(); ctx.translate(12, pad.t + (h - pad.t - pad.b) / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(yLabel, 0, 0); ctx.restore();
  }
}
function emptyChart(canvas, message) {
  const { ctx, w, h } = surface(canvas);
  ctx.fillStyle = TICK; ctx.textAlign = "center"; ctx.fillText(message, w / 2, h / 2);
}
function legend(figure, arms, extra) {
  const items = lines(arms, null).map((g) => el("li", {}, el("i", { style: `background:${g.color}` }), g.arm));
  if (extra) { items.push(el("li", {}, el("i", { style: `background:${extra.color}` }), extra.label)); }
  figure.querySelector(".legend").replaceChildren(...items);
}

// What a chart by decision count draws: an arm each, and the arms beyond the top few summed
// as one "others (31 arms)" (their values from series[key]; none when key is null)
function lines(arms, series, key) {
  const values = (a) => (series ? series[key][a.arm] : []);
  const shown = arms.filter((a) => !a.other).map((a) => ({ arm: a.arm, color: a.color, values: values(a) }));
  const rest = arms.filter((a) => a.other);
  if (rest.length) {
    shown.push({ arm: `others (${rest.length} arms)`, color: OTHERS,
                 values: series ? series.decisions.map((_, j) => rest.reduce((s, a) => s + (series[key][a.arm][j] || 0), 0)) : [] });
  }
  return shown;
}

function drawAllocation(series, rep) {
  const canvas = $("allocation"), fig = canvas.closest("figure");
  const arms = rep.arms.filter((a) => series.arms.includes(a.arm));
  legend(fig, arms);
  const ends = series.decisions;
  if (!ends.length) {
    emptyChart(canvas, "No decisions yet");
    text($("alt-allocation"), "No decisions yet.");
    return;
  }
  const { ctx, w, h } = surface(canvas);
  const total = ends[ends.length - 1];
  // the admins' changes: labels above the plot, each starting (near the right edge: ending)
  // at its dashed line, a row higher where it would cover another's line or label
  const marks = eventMarks(series);
  const pad = { l: 52, r: 14, t: 10, b: 40 };
  const xOf = (v) => pad.l + (w - pad.l - pad.r) * v / total;
  const rows = placeLabels(ctx, marks, xOf, w, pad.l);
  pad.t += rows * LABEL_ROW + (rows ? 4 : 0);
  const yOf = (v) => pad.t + (h - pad.t - pad.b) * (1 - v);
  const bands = lines(arms, series, "allocation");
  ends.forEach((end, j) => {
    const start = j ? ends[j - 1] : 0;
    let base = 0;
    bands.forEach((g) => {
      const share = g.values[j] || 0;
      ctx.fillStyle = g.color;
      ctx.fillRect(xOf(start), yOf(base + share), Math.max(xOf(end) - xOf(start), 1), yOf(base) - yOf(base + share));
      base += share;
    });
  });
  ctx.strokeStyle = "#fff"; ctx.lineWidth = 1;  // boundaries between arms stay visible
  ctx.beginPath();
  ends.forEach((end, j) => {
    const start = j ? ends[j - 1] : 0;
    let base = 0;
    bands.forEach((g) => { base += g.values[j] || 0; ctx.moveTo(xOf(start), yOf(base)); ctx.lineTo(xOf(end), yOf(base)); });
  });
  ctx.stroke();
  // allocation periods start every few rewards: a faint line each (71 dashed lines hid
  // what mattered), the admins' changes a dashed line with its label
  ctx.strokeStyle = "rgba(255,255,255,0.35)"; ctx.lineWidth = 0.5;
  ctx.beginPath();
  for (const change of series.changes || []) {
    ctx.moveTo(xOf(change.decisions), pad.t); ctx.lineTo(xOf(change.decisions), h - pad.b);
  }
  ctx.stroke();
  ctx.setLineDash([4, 3]); ctx.strokeStyle = INK; ctx.lineWidth = 1.2;
  ctx.fillStyle = INK; ctx.textBaseline = "bottom";
  for (const m of marks) {  // the line reaches up to its label's baseline
    const x = xOf(m.decisions), top = pad.t - 3 - m.row * LABEL_ROW;
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, h - pad.b); ctx.stroke();
    ctx.textAlign = m.flip && !m.shift ? "right" : "left";
    ctx.fillText(m.label, m.shift ? m.left + 3 : x + (m.flip ? -3 : 3), top + 1);
  }
  ctx.setLineDash([]); ctx.lineWidth = 1; ctx.textBaseline = "middle"; ctx.textAlign = "left";
  frame(ctx, w, h, pad, niceTicks(0, total, Math.max(2, Math.floor((w - pad.l) / 90))), [0, 0.25, 0.5, 0.75, 1],
        xOf, yOf, decisionAxis(series), "share of traffic", (v) => pct(v));
  const last = ends.length - 1, first = 0;
  const at = (j) => arms.map((a) => `${a.arm} ${pct(series.allocation[a.arm][j])}`).join(", ");
  const lastSize = ends[last] - (last ? ends[last - 1] : 0);
  const said = marks.flatMap((m) => m.words.map((t) => `${t} at decision ${int(m.decisions)}`));
  text($("alt-allocation"),
       `Over ${count(total, "decision")}, in ${count(ends.length, "step")}: the policy gave the first ` +
       `${count(ends[0], "decision")} ${at(first)}; the last ${int(lastSize)}: ${at(last)}.` +
       (said.length ? ` Changes (dashed lines): ${said.join("; ")}.` : "") +
       ((series.changes || []).length ? ` The allocation was recomputed ${series.changes.length} times (faint lines).` : "") +
       (seriesLook(series) ? ` The chart shows the log ${seriesLook(series)}.` : ""));
}

const LABEL_ROW = 17;  // px per row of change labels above the allocation chart
// The series' events ("policy: kl-ucb", "+yo −hey"), those at one decision together: their
// label and their words ("policy switched to kl-ucb", "yo added", "hey retired").
function eventMarks(series) {
  const at = new Map();
  for (const e of series.events || []) {
    if (!at.has(e.decisions)) { at.set(e.decisions, []); }
    at.get(e.decisions).push(e.label);
  }
  return [...at.entries()].sort((a, b) => a[0] - b[0]).map(([decisions, labels]) => ({
    decisions, label: labels.join(" · "), row: 0, flip: false,
    words: labels.flatMap((l) => l.startsWith("policy: ")
      ? [`policy switched to ${l.slice(8)}`]
      : l.split(" ").filter(Boolean).map((t) => t.startsWith("+") ? `${t.slice(1)} added`
                                            : t.startsWith("−") ? `${t.slice(1)} retired` : t)),
  }));
}
// Rows for the labels (0: just above the plot): from the right, a label covering another's
// line or label goes higher; those near the right edge end at their line. Returns the rows.
function placeLabels(ctx, marks, xOf, w, lo) {
  const placed = [];
  for (const m of marks) {
    const x = xOf(m.decisions), width = ctx.measureText(m.label).width + 3;
    m.flip = x + width > w - 2;
    m.left = m.flip ? x - width : x;
    // too long for either side of its line (a phone: "+new_a +new_b −emoji_wave" lost its
    // start at the canvas's left edge, over the 100% tick): whole, from the plot's left edge
    m.shift = m.flip && m.left < lo;
    if (m.shift) { m.left = lo; }
    m.right = m.left + width; m.x = x;
  }
  const order = [...marks].reverse().filter((m) => !m.flip).concat(marks.filter((m) => m.flip));
  const fits = (m, row) => !placed.some((o) =>
    (o.row === row && m.left - 4 < o.right && o.left < m.right + 4) ||
    (o.row >= row && m.left - 4 <= o.x && o.x <= m.right + 4) ||
    (o.row < row && o.left - 4 <= m.x && m.x <= o.right + 4));
  for (const m of order) {
    const top = placed.reduce((r, o) => Math.max(r, o.row + 1), 0);
    m.row = top;
    for (let r = 0; r < top; r++) { if (fits(m, r)) { m.row = r; break; } }
    placed.push(m);
  }
  return placed.reduce((r, o) => Math.max(r, o.row + 1), 0);
}

// the cumulative chart's axis: from 0 (or the lowest value, when rewards are costs) to at
// least 1 (a chart of negative rewards drew its lines below the canvas on a 0–4 axis)
function rewardTicks(values) {
  const finite = values.filter(Number.isFinite);
  return niceTicks(Math.min(0, ...finite), Math.max(1, ...finite), 4);
}

function drawCumulative(series, rep) {
  const canvas = $("cumulative"), fig = canvas.closest("figure");
  const arms = rep.arms.filter((a) => series.arms.includes(a.arm));
  legend(fig, arms, { color: INK, label: "all arms" });
  const ends = series.decisions;
  if (!ends.length) {
    emptyChart(canvas, "No rewards yet");
    text($("alt-cumulative"), "No rewards yet.");
    return;
  }
  const { ctx, w, h } = surface(canvas);
  const pad = { l: 52, r: 14, t: 10, b: 40 };
  const total = ends[ends.length - 1];
  const overall = ends.map((_, j) => arms.reduce((s, a) => s + series.reward[a.arm][j], 0));
  const drawn = lines(arms, series, "reward");
  const yTicks = rewardTicks([...overall, ...drawn.flatMap((g) => g.values)]);
  const bottom = yTicks[0], top = yTicks[yTicks.length - 1];
  const xOf = (v) => pad.l + (w - pad.l - pad.r) * v / total;
  const yOf = (v) => pad.t + (h - pad.t - pad.b) * (top - v) / (top - bottom);
  frame(ctx, w, h, pad, niceTicks(0, total, Math.max(2, Math.floor((w - pad.l) / 90))), yTicks,
        xOf, yOf, decisionAxis(series), "cumulative reward");
  if (bottom < 0) {  // costs: the zero line, the lines below it
    ctx.strokeStyle = TICK; ctx.beginPath(); ctx.moveTo(pad.l, yOf(0)); ctx.lineTo(w - pad.r, yOf(0)); ctx.stroke();
  }
  const line = (values, color, width, dash) => {
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.setLineDash(dash || []); ctx.beginPath();
    ctx.moveTo(xOf(0), yOf(0));
    values.forEach((v, j) => ctx.lineTo(xOf(ends[j]), yOf(v)));
    ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
  };
  drawn.forEach((g) => line(g.values, g.color, 2));
  line(overall, INK, 2.5, [6, 3]);
  const last = ends.length - 1;
  text($("alt-cumulative"),
       `After ${int(total)} decisions, ${int(series.answered[last])} of them answered, the reward earned is ` +
       `${amount(overall[last])} in all: ` +
       arms.map((a) => `${a.arm} ${amount(series.reward[a.arm][last])}`).join(", ") + "." +
       (seriesLook(series) ? ` The chart shows the log ${seriesLook(series)}.` : ""));
}

function drawIntervals(rep) {
  const canvas = $("intervals");
  const arms = rep.arms.filter((a) => has(a.estimate) || (has(a.low) && has(a.high)));
  text($("cap-intervals"), `${rep.hasEstimate ? "Estimate" : "Mean reward"} per arm (circle) and its interval (bar): ${rep.kind}`);
  const control = rep.arms.find((a) => a.arm === rep.control);
  // what the dashed line is, beside the chart (it was said only in the collapsed text)
  text($("key-intervals"), [
    control && has(control.estimate) ? `Dashed line: the estimate of the control, ${control.arm}.` : "",
    rep.arms.some((a) => !has(a.estimate) && has(a.low)) ? "A bar without a circle: too few answers for a point yet." : "",
  ].filter(Boolean).join(" "));
  delete canvas.dataset.labels;
  canvas.style.height = "";  // the stylesheet's height, unless the arms need more (below)
  if (!arms.length) {  // (answers but no interval yet: not "no rewards", as the table shows them)
    const empty = rep.arms.some((a) => a.answered > 0) ? "Too few answers for an estimate yet" : "No rewards yet";
    emptyChart(canvas, empty);
    text($("alt-intervals"), `${empty}.`);
    return;
  }
  // a row per arm: the chart grows with the arms (40 were drawn over each other in 260 px)
  const pad = { l: 0, r: 16, t: 8, b: 40 };
  const needed = pad.t + pad.b + ROW * rep.arms.length;
  if (needed > canvas.clientHeight) { canvas.style.height = `${needed}px`; }
  const { ctx, w, h } = surface(canvas);
  // the labels' column as wide as the longest id, up to half the chart; a longer id is
  // shortened in its middle, keeping the end that tells alike ids apart (they were cut on the
  // left: "ing-cheerful-emoji-40"); the whole id is the chart's tooltip over its row
  const room = Math.max(60, w / 2 - 14);
  const labels = rep.arms.map((a) => fitLabel(ctx, a.arm, room));
  pad.l = Math.max(...labels.map((t) => ctx.measureText(t).width)) + 14;
  const values = arms.flatMap((a) => [a.low, a.high, a.estimate]).filter(has);
  const lo = Math.min(...values), hi = Math.max(...values), margin = Math.max((hi - lo) * 0.08, 1e-3);
  const floor = lo >= 0 ? Math.max(0, lo - margin) : lo - margin;  // a rate does not go below 0
  const top = lo >= 0 && hi <= 1 ? Math.min(1, hi + margin) : hi + margin;  // …nor above 1
  const ticks = niceTicks(floor, top, Math.max(2, Math.floor((w - pad.l) / 80)));
  const x0 = ticks[0], x1 = ticks[ticks.length - 1];
  const xOf = (v) => pad.l + (w - pad.l - pad.r) * (v - x0) / (x1 - x0);
  const band = (h - pad.t - pad.b) / rep.arms.length;
  const yOf = (i) => pad.t + band * (i + 0.5);
  const boxes = [];
  frame(ctx, w, h, pad, ticks, [], xOf, yOf, rep.hasEstimate ? "estimate" : "mean reward", "");
  if (control && has(control.estimate)) {
    ctx.setLineDash([4, 3]); ctx.strokeStyle = INK;
    ctx.beginPath(); ctx.moveTo(xOf(control.estimate), pad.t); ctx.lineTo(xOf(control.estimate), h - pad.b); ctx.stroke();
    ctx.setLineDash([]);
  }
  rep.arms.forEach((a, i) => {
    const y = yOf(i);
    ctx.fillStyle = a.active ? INK : TICK; ctx.textAlign = "right";
    ctx.fillText(labels[i], pad.l - 8, y);
    const m = ctx.measureText(labels[i]);  // where the label is drawn, in CSS px (for tests)
    boxes.push({ arm: a.arm, text: labels[i], left: pad.l - 8 - m.width, right: pad.l - 8,
                 top: y - m.actualBoundingBoxAscent, bottom: y + m.actualBoundingBoxDescent,
                 row: [pad.t + band * i, pad.t + band * (i + 1)] });
    if (has(a.low) && has(a.high)) {
      ctx.strokeStyle = a.color; ctx.lineWidth = 5; ctx.lineCap = "round";
      ctx.beginPath(); ctx.moveTo(xOf(a.low), y); ctx.lineTo(xOf(a.high), y); ctx.stroke();
      ctx.lineWidth = 1; ctx.lineCap = "butt";
    }
    if (has(a.estimate)) {
      ctx.fillStyle = "#fff"; ctx.strokeStyle = a.color; ctx.lineWidth = 2.5;
      ctx.beginPath(); ctx.arc(xOf(a.estimate), y, 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke(); ctx.lineWidth = 1;
    }
  });
  canvas.dataset.labels = JSON.stringify(boxes);
  text($("alt-intervals"), rep.arms.map((a) => `${a.arm}: ${point(a)}` +
       (has(a.low) ? ` (${range(a.low, a.high)})` : " (no interval yet)")).join("; ") +
       `. Intervals: ${rep.kind}.` + (control ? ` Dashed line: the control, ${control.arm}.` : ""));
}

const ROW = 24;  // px per arm in the estimate chart: a label's height and some air
// `label` as it fits in `room` px: whole, or its start and its end around "…" (the end kept
// longer: alike ids differ there, greeting-cheerful-emoji-39 and -40)
function fitLabel(ctx, label, room) {
  if (ctx.measureText(label).width <= room) { return label; }
  for (let n = label.length - 1; n > 2; n--) {
    const tail = Math.ceil(n * 0.6), cut = label.slice(0, n - tail) + "…" + label.slice(label.length - tail);
    if (ctx.measureText(cut).width <= room) { return cut; }
  }
  return "…" + label.slice(-2);
}
// the estimate chart's tooltip: the arm of the row under the pointer, its id whole
$("intervals").addEventListener("mousemove", (ev) => {
  const canvas = ev.currentTarget, rows = JSON.parse(canvas.dataset.labels || "[]");
  const y = ev.clientY - canvas.getBoundingClientRect().top;
  const hit = rows.find((b) => b.row[0] <= y && y < b.row[1]);
  const a = hit && state.report && state.report.arms.find((x) => x.arm === hit.arm);
  canvas.title = a ? `${a.arm}: ${point(a)}` + (has(a.low) ? ` (${range(a.low, a.high)})` : "") : "";
});

function drawCharts() {
  if (!state.report) { return; }
  drawIntervals(state.report);
  const look = state.series ? seriesLook(state.series) : "";
  text($("series-look"), look ? `The charts by decision count show the log ${look}: a long log is read again for them once it has grown a little.` : "");
  $("series-look").hidden = !look;
  if (state.series) { drawAllocation(state.series, state.report); drawCumulative(state.series, state.report); }
}

// A long log's series is kept from an earlier look until the log has grown by a share (the
// server's `behind`): "as of decision 1,000,000 (12 decisions and 3 answers since)"; "" when
// the series is the log as it is now.
function seriesLook(series) {
  const behind = series.behind || {};
  const answers = behind.answers || 0;
  const since = [behind.decisions ? count(behind.decisions, "decision") : "",
                 !answers ? "" : Number.isInteger(answers) ? count(answers, "answer") : `${num(answers, 1)} answers`];
  const said = since.filter(Boolean);
  const ends = series.decisions || [];
  return said.length ? `as of decision ${int(ends.length ? ends[ends.length - 1] : 0)} (${said.join(" and ")} since)` : "";
}
// a chart's x axis: "decisions", or which look it shows ("decisions (as of decision 400)"), as
// the PNG chart's axis says it
function decisionAxis(series) {
  return seriesLook(series) ? `decisions (as of decision ${int(series.decisions[series.decisions.length - 1])})` : "decisions";
}

// ---- settings -------------------------------------------------------------------------------
// "epsilon-greedy(epsilon=0.2, initial_value=0)": its name and its parameters' text
function policyParts(text) {
  const m = /^([^(]+)(?:\((.*)\))?$/.exec(text || "");
  return m ? { name: m[1], params: m[2] || "" } : { name: text || "", params: "" };
}
// A contextual experiment's features, as `banditbot experiments` says them: "hour (cyclic, 24),
// language_code (en, de, es), past_reward_rate (numeric)" (a long list of values cut to its
// first few and its count)
const VALUES_SHOWN = 6;
function featuresText(features) {
  const g = (v) => String(+Number(v).toPrecision(6));
  return features.map((f) => {
    const values = f.values || [];
    const kind = f.type === "categorical"
      ? (values.length > VALUES_SHOWN ? [...values.slice(0, VALUES_SHOWN - 1), `… ${values.length} values`] : values).join(", ")
      : f.type === "cyclic" ? `cyclic, ${g(f.period)}`
      : ["numeric", ...(f.center ? [`center ${g(f.center)}`] : []), ...(has(f.scale) && f.scale !== 1 ? [`scale ${g(f.scale)}`] : [])].join(", ");
    return `${f.name} (${kind})`;
  }).join(", ");
}
function renderSettings(rep) {
  const cfg = state.config || {};
  const rows = [];
  const add = (k, v) => rows.push(el("div", {}, el("dt", { text: k }), el("dd", { text: v })));
  const policy = policyParts(rep.policy);
  add("policy", policy.name);
  if (policy.params) { add("parameters", policy.params); }
  if ((cfg.features || []).length) { add("features", featuresText(cfg.features)); }
  // the admins' switches and arm changes, oldest first (the report's history line)
  if (rep.historyText) { add("changed by admins", rep.historyText.replace(/^history: /, "")); }
  const reward = cfg.reward || {};
  add("reward", reward.type === "rating" ? `rating ${reward.min ?? ""}–${reward.max ?? ""}`
                                          : reward.type || rep.rewardType || "–");
  const mode = cfg.reward_mode || rep.rewardMode;
  add("reward mode", mode === "implicit" && cfg.wait_seconds ? `implicit (silence after ${duration(cfg.wait_seconds)} counts as ${cfg.default_reward ?? 0})` : mode || "–");
  add("scope", { shared: "one bandit", chat: "one bandit per chat", subject: "one bandit per user" }[cfg.scope || rep.per] || rep.per);
  add("interval", rep.kind);
  // what the server says in words (the report's own text), not the file's raw fields
  if (rep.update) { add("allocation updated", rep.update); }
  if (has(rep.floor) && rep.floor > 0) { add("floor", `${+(rep.floor * 100).toFixed(2)}% per arm`); }
  if (rep.winnerRule) { add("winner rule", rep.winnerRule); }
  const known = new Set(["id", "description", "arms", "telegram", "policy", "reward", "reward_mode", "scope",
                         "wait_seconds", "default_reward", "command", "parse_mode", "features",
                         ...(rep.update ? ["update"] : []), ...(has(rep.floor) ? ["floor"] : []),
                         ...(rep.winnerRule ? ["winner"] : [])]);
  // shares as percentages (the file's 0.2 is the page's "20%")
  const shares = { holdout: (v) => `${pct(v)} to the control ${cfg.control ?? ""}`.trim(), confidence: pct };
  for (const [k, v] of Object.entries(cfg)) {  // settings newer servers add (update, burn_in, floor, ...)
    if (known.has(k) || v === null || v === undefined || v === false || v === 0 || v === "" ||
        (typeof v === "object" && !Object.keys(v).length)) { continue; }
    add(k.replace(/_/g, " "), typeof v === "number" && shares[k] ? shares[k](v) : typeof v === "object" ? Object.entries(v).filter(([, b]) => b !== null)
      .map(([a, b]) => `${a} ${typeof b === "object" ? JSON.stringify(b) : b}`).join(", ") : String(v));
  }
  if (rep.srm && !rep.srm.flagged && has(rep.srm.p_value)) { add("sample ratio check", `passed (${srmP(rep.srm)})`); }
  $("settings").replaceChildren(...rows);
}

// ---- recent decisions, newest first, paged on the server ------------------------------------
async function loadRecent() {
  const rep = state.report;
  const q = new URLSearchParams({ order: "desc", limit: String(PAGE), generation: String(rep.generation) });
  const before = state.recent.stack[state.recent.stack.length - 1];
  if (before) { q.set("before", before); }
  if (state.scope) { q.set("scope", state.scope); }
  const { body, headers } = await api(`/v1/experiments/${enc(rep.id)}/decisions?${q}`, { text: true });
  const rows = jsonLines(body);
  state.recent.next = headers.get("X-Next-Before");
  $("older").disabled = !state.recent.next;
  $("newer").disabled = !state.recent.stack.length;
  // the summed view of a per-chat (per-user) experiment names each row's bandit by its
  // pseudonym, a link to that bandit alone: the one place a read key can find it
  const exp = state.experiments.find((e) => e.id === rep.id) || {};
  const who = exp.scope && exp.scope !== "shared" && !state.scope ? (exp.scope === "chat" ? "chat" : "user") : null;
  $("recent-scope").hidden = !who;
  if (who) { text($("recent-scope"), who); }
  $("recent").querySelector("tbody").replaceChildren(...rows.map((r) => {
    const tr = el("tr");
    const cells = [["time (UTC)", r.created_at.replace("T", " ").slice(0, 19)], ["arm", r.arm],
                   ["probability", num(r.propensity)], ["reward", r.reward === null ? "pending" : num(r.reward, 2)],
                   ["kind", r.kind], ["decision", "…" + r.decision_id.slice(-8)]];  // (an id begins with its second)
    cells.forEach(([label, value], i) => tr.append(el("td", { "data-label": label, text: value,
      class: i === 5 ? "id wide-only" : i === 4 ? "wide-only" : i === 1 ? "arm" : null,
      title: i === 5 ? r.decision_id : null })));
    if (who) {
      const pick = r.scope ? el("button", { type: "button", class: "pick", "data-scope": r.scope,
        title: `show ${r.scope} alone`, text: r.scope.slice(r.scope.indexOf(":") + 1) }) : "–";
      tr.cells[3].after(el("td", { "data-label": who, class: "id" }, pick));
    }
    return tr;
  }));
  const page = state.recent.stack.length + 1;
  text($("recent-caption"), rows.length
    ? `Newest first, generation ${rep.generation}${state.scope ? ", " + state.scope : ""}; page ${page}, ${PAGE} per page.`
    : `No decisions in generation ${rep.generation}${state.scope ? " for " + state.scope : ""} yet.`);
}

async function ensureStarted(rep) {
  const key = startedKey();
  if (rep.startedAt || key in state.started || !rep.decisions) { return; }
  const q = new URLSearchParams({ limit: "1", generation: String(rep.generation) });
  if (state.scope) { q.set("scope", state.scope); }
  const { body } = await api(`/v1/experiments/${enc(rep.id)}/decisions?${q}`, { text: true });
  const first = jsonLines(body)[0];
  state.started[key] = first ? Date.parse(first.created_at) / 1000 : null;
}
function startedKey() { return `${state.id}|${state.report ? state.report.generation : ""}|${state.scope || ""}`; }

// ---- the refresh loop ------------------------------------------------------------------------
function scopeQuery(prefix) { return state.scope ? `${prefix}scope=${enc(state.scope)}` : ""; }

// A refresh overtaken by a newer one answers with the newer one's report: a caller that changed
// something (an admin action) must never be handed the report from before its change.
function refresh() {
  if (!state.id) { return Promise.resolve(null); }
  const mine = ++state.seq;
  const run = refreshAs(mine, state.id);  // may start a newer refresh before it returns
  if (!state.latest || state.latest.seq < mine) { state.latest = { seq: mine, run }; }
  return run;
}

async function overtaken(mine, forId) {
  const latest = state.latest;
  if (!latest || latest.seq <= mine) { return null; }  // overtaken by a sign-out, not a refresh
  const rep = await latest.run;
  return rep && rep.id === forId ? rep : null;
}

async function refreshAs(mine, forId) {
  const id = enc(forId);
  try {
    const [report, series] = await Promise.all([
      api(`/v1/experiments/${id}/report${scopeQuery("?")}`),
      api(`/v1/experiments/${id}/series?points=60${scopeQuery("&")}`)]);
    if (mine !== state.seq) { return overtaken(mine, forId); }
    const rep = normalize(report.body);
    if (state.recent.generation !== rep.generation) { state.recent = { stack: [], next: null, generation: rep.generation }; }
    state.report = rep; state.raw = report.body; state.series = series.body;
    await ensureStarted(rep);
    if (!state.recent.stack.length) { await loadRecent(); }
    if (mine !== state.seq) { return overtaken(mine, forId); }
    render();
    serverUp();
    return rep;
  } catch (err) {
    failed(err);
    return null;
  }
}

function render() {
  const rep = state.report;
  renderHead(rep);
  renderNotices(rep);
  renderTable(rep);
  renderSettings(rep);
  const empty = !rep.decisions;
  $("empty").hidden = !empty;
  document.querySelector(".charts").hidden = false;
  $("csv-log").disabled = empty;
  if (empty) {
    const exp = state.experiments.find((e) => e.id === rep.id) || {};
    // (an experiment without feedback buttons has no command: the bot runs none)
    $("empty-telegram").hidden = exp.command === null;
    text($("empty-command"), "/" + (exp.command || rep.id));
    text($("empty-curl"), `curl -X POST ${location.origin}/v1/experiments/${rep.id}/decisions \\\n` +
         `  -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\\n` +
         `  -d '{"subject": "user-1"}'`);
  }
  drawCharts();
  renderAdmin(rep);
  text($("updated"), `updated ${clock(new Date())}`);
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if (!document.hidden) { await refresh(); }
    schedule();
  }, REFRESH_MS);
}

function serverUp() {
  state.lastOk = new Date();
  state.downSince = null;
  $("banner").hidden = true;
}

function failed(err) {
  if (err instanceof ServerDown) {
    state.downSince = state.downSince || new Date();
    const since = clock(state.downSince);
    const data = state.lastOk ? ` The figures below are from ${clock(state.lastOk)} and may be out of date.` : "";
    // (a trial: the database was down and the banner blamed the server, which answered)
    const what = err.store ? "The server answers, but its store (the database) does not"
                           : "The server is not answering";
    const why = err.store ? " The server's log says why." : "";
    text($("banner-text"), `${what} (since ${since}).${why}${data} Retrying every ${REFRESH_MS / 1000} seconds.`);
  } else if (err instanceof ApiError && err.status === 401) {
    text($("banner-text"), "The server no longer accepts this API key (revoked?). Sign out and use another key.");
  } else {
    text($("banner-text"), `Could not refresh: ${err.message}`);
  }
  $("banner").hidden = false;
}

// ---- experiments, scope, navigation --------------------------------------------------------
function parseHash() {
  // decoded once: the id by itself, the query by URLSearchParams (decoding the whole hash
  // first turned a subject "a+b" into "a b", and cut one holding "&" or "?")
  const raw = location.hash.slice(1);
  const cut = raw.indexOf("?");
  const id = decodeURIComponent(cut < 0 ? raw : raw.slice(0, cut));
  const scope = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1)).get("scope");
  return { id, scope };
}

async function select(id, scope) {
  const changed = id !== state.id || (scope || null) !== state.scope;
  state.id = id; state.scope = scope || null;
  if (changed) { state.recent = { stack: [], next: null, generation: null }; state.report = null; state.series = null; }
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.dataset.id === id) { a.setAttribute("aria-current", "page"); } else { a.removeAttribute("aria-current"); }
  });
  const exp = state.experiments.find((e) => e.id === id) || {};
  $("detail").hidden = false;
  $("admin").hidden = state.role !== "admin";
  $("scopeform").hidden = !exp.scope || exp.scope === "shared";
  if (!$("scopeform").hidden) {
    $("scope-input").value = state.scope || "";
    const who = exp.scope === "chat" ? "chat" : "user";
    const admin = state.role === "admin";
    $("scope-input").placeholder = `${exp.scope === "chat" ? "chat" : "subject"}:${admin ? "ID" : "PSEUDONYM"}`;
    text($("scope-label"), exp.scope === "chat" ? "Chat" : "User");
    // the log's scopes are keyed pseudonyms (no raw id leaves the server): a key below admin
    // names a bandit by its pseudonym too (a raw id would make the page an oracle from ids to
    // pseudonyms); an admin key may also type the raw id the app knows
    text($("scope-help"), state.scope ? `showing ${state.scope} only` : `showing every ${who}'s bandit summed; ` +
         (admin ? `type the ${who}'s own id, or pick its pseudonym in the decisions below`
                : `pick a ${who}'s pseudonym in the decisions below, or type it (only an admin key may type the ${who}'s own id)`));
  }
  try {
    const cfg = await api(`/v1/experiments/${enc(id)}/config`);
    state.config = cfg.body;
  } catch (err) { state.config = null; if (err instanceof ServerDown) { failed(err); } }
  await refresh();
  schedule();
}

function go(id, scope) {
  state.missing = null;
  const hash = "#" + enc(id) + (scope ? "?scope=" + enc(scope) : "");
  if (location.hash !== hash) { history.pushState(null, "", hash); }
  select(id, scope);
}

async function loadExperiments() {
  const { body } = await api("/v1/experiments");
  state.experiments = body;
  const nav = $("experiments");
  nav.replaceChildren(...body.map((e) => {
    const a = el("a", { href: "#" + enc(e.id), "data-id": e.id },
                 el("strong", { text: e.id }), el("small", { text: `${(e.active_arms || e.arms).length} arms · ${e.policy.split("(")[0]}` }));
    a.addEventListener("click", (ev) => { ev.preventDefault(); go(e.id, null); });
    return a;
  }));
  const wanted = parseHash();
  const known = body.some((e) => e.id === wanted.id);
  // a link to an experiment this server lacks (a stale bookmark) says so above the first one
  // it shows instead (it showed the first one without a word)
  state.missing = wanted.id && !known ? wanted.id : null;
  const first = known ? wanted : { id: body[0].id, scope: null };
  await select(first.id, first.scope);
}

// ---- the key: try before saving, sign out ----------------------------------------------------
function keyProblem(message) {
  const box = $("key-result");
  text(box, message);
  box.hidden = !message;
}

async function useKey(candidate, { saved = false } = {}) {
  let who;
  try {
    who = (await api("/v1/whoami", { key: candidate })).body;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      keyProblem(saved ? "The saved API key is no longer accepted (revoked?). Paste another key."
                       : "That API key was not accepted." +
                         (state.role ? " Still signed in with the previous key." : " Check it and try again."));
    } else { failed(err); }
    return false;
  }
  state.key = candidate;
  writeKey(candidate);
  state.role = who.role;
  keyProblem("");
  text($("who"), `${who.name} · ${who.role} key`);
  $("who").hidden = false; $("signout").hidden = false;
  $("key").value = "";
  $("key").placeholder = "another key…";
  if (who.role === "admin" && !state.policies) {
    try {
      state.policies = (await api("/v1/policies")).body;
      $("policy-list").replaceChildren(...state.policies.map((p) => el("option", { value: p.name, label: p.summary })));
    } catch { state.policies = null; }
  }
  await loadExperiments();
  return true;
}

function signOut() {
  clearTimeout(state.timer);
  writeKey("");
  Object.assign(state, { key: "", role: null, experiments: [], id: null, scope: null, report: null,
                         series: null, config: null, seq: state.seq + 1 });
  $("detail").hidden = true; $("who").hidden = true; $("signout").hidden = true;
  $("banner").hidden = true; keyProblem("");
  const nav = $("experiments");
  nav.replaceChildren(welcome);
  $("key").placeholder = "bb_…";
  $("key").focus();
  history.replaceState(null, "", location.pathname);
}

// ---- downloads ----------------------------------------------------------------------------------
function csvCell(v) {
  if (v === null || v === undefined) { return ""; }
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
function download(name, body, type) {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
function tableCsv(rep) {
  const head = ["experiment", "scope", "generation", "arm", "active", "decisions", "answered", "reward_sum",
                "estimate", "low", "high", "interval", "mean", "mean_kind", "uplift_diff", "uplift_low", "uplift_high",
                "uplift_relative", "chance_to_beat_control", "expected_loss", "p_best", "allocation"];
  const rows = rep.arms.map((a) => [rep.id, rep.scope || "", rep.generation, a.arm, a.active, a.decisions, a.answered,
    a.rewardSum, a.estimate, a.low, a.high, rep.kind, a.mean,
    rep.posterior ? "posterior" : "pooled", a.uplift && a.uplift.diff, a.uplift && a.uplift.low,
    a.uplift && a.uplift.high, a.uplift && a.uplift.relative, a.beat, a.loss, a.pBest, a.allocation]);
  return [head, ...rows].map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
}
async function logCsv(rep) {
  let after = null, header = null, out = "", count = 0, partial = false;
  for (let page = 0; page < 50; page++) {
    const q = new URLSearchParams({ format: "csv", limit: "10000", generation: String(rep.generation) });
    if (after) { q.set("after", after); }
    if (state.scope) { q.set("scope", state.scope); }
    const { body, headers } = await api(`/v1/experiments/${enc(rep.id)}/decisions?${q}`, { text: true });
    const lines = body.split(/\r?\n/);
    const [first, ...rest] = lines;
    if (header === null) { header = first; out = first + "\n"; } else if (first !== header) { partial = true; break; }
    const rows = rest.filter((l) => l.length);
    out += rows.map((l) => l + "\n").join("");
    count += rows.length;
    after = headers.get("X-Next-After");
    if (!after) { break; }
  }
  return { out, count, partial: partial || !!after };
}

// ---- admin tools -------------------------------------------------------------------------------
function renderAdmin(rep) {
  if (state.role !== "admin") { return; }
  document.querySelectorAll(".arm-select").forEach((select) => {
    const keep = select.value;
    const arms = rep.arms.filter((a) => a.active || !select.classList.contains("active-only"));
    select.replaceChildren(...arms.map((a) => el("option", { value: a.arm, text: a.arm + (a.active ? "" : " (retired)") })));
    if (arms.some((a) => a.arm === keep)) { select.value = keep; }
  });
  // the policy form shows the experiment's policy now (it said "thompson" on an
  // epsilon-greedy experiment), parameters included
  const now = policyParts(rep.policy);
  $("policy-name").placeholder = now.name;
  $("policy-params").placeholder = now.params.split(", ").join(" ");
  // rewards by hand go into one bandit: with one per chat or user, the summed view has none
  // to take them (the server answered 400 "say whose rewards these are")
  const cheat = document.querySelector("form[data-action=cheat]");
  const whose = rep.per !== "shared" && !state.scope;
  cheat.querySelector("button").disabled = whose;
  const reward = (state.experiments.find((e) => e.id === rep.id) || {}).reward || {};
  // "1101" is four rewards on 👍/👎 only: on a continuous reward it is one of 1101 (a trial
  // typed it there, as the hint said)
  text($("cheat-hint"), whose
    ? `Choose a ${rep.per === "chat" ? "chat" : "user"} above first: each has a bandit of its own.`
    : reward.type === "binary" ? "One per character (1101) or separated by spaces (1 1 0 1)."
      : "Separated by spaces (4 5 3): each is one reward.");
  // a prior is pseudo-answers on the reward's scale: a reward without bounds has none to
  // take (the server refused every one, after the form asked for them)
  const unbounded = reward.type === "continuous" && (reward.min == null || reward.max == null);
  document.querySelector("form[data-action=prior] button").disabled = unbounded;
  $("prior-hint").hidden = !unbounded;
  text($("prior-hint"), unbounded ? "A prior needs the reward's min and max; this reward has none." : "");
}

function parsePolicy(nameText, paramText) {
  const words = `${nameText} ${paramText}`.trim().split(/[\s,;]+|:(?=[^=]*=)/).filter(Boolean);
  const [name, ...pairs] = words;
  const params = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at < 1) { throw new Error(`parameter "${pair}" is not key=value (e.g. epsilon=0.1)`); }
    const key = pair.slice(0, at), raw = pair.slice(at + 1);
    try { params[key] = JSON.parse(raw); } catch { params[key] = raw; }
  }
  return { name: name || "", params };
}

const ACTIONS = {
  async policy(data, before) {
    const spec = parsePolicy(data.name, data.params || "");
    const result = await api(`/v1/experiments/${enc(state.id)}/policy`, { method: "PUT", body: spec });
    // the service says what changed (or that nothing did); the page adds what it was
    const said = result.body.detail;
    return () => said.includes("already uses") ? `${said}.` : `Was ${before.policy}. ${said}.`;
  },
  async cheat(data, before) {
    const body = { arm: data.arm, rewards: data.rewards };
    if (state.scope) { body.scope = state.scope; }  // a per-chat experiment: that chat's bandit
    const result = await api(`/v1/experiments/${enc(state.id)}/cheat`, { method: "POST", body });
    return (after) => {
      const [b, a] = [before, after].map((r) => r.arms.find((x) => x.arm === data.arm));
      return `${result.body.detail}: answered ${int(b.answered)} → ${int(a.answered)}, reward sum ${amount(b.rewardSum)} → ` +
             `${amount(a.rewardSum)}, ${after.hasEstimate ? "estimate" : "mean"} ${num(b.estimate)} → ${num(a.estimate)}.`;
    };
  },
  async prior(data) {
    const body = { alpha: Number(data.alpha), beta: Number(data.beta) };
    await api(`/v1/experiments/${enc(state.id)}/arms/${enc(data.arm)}/prior`, { method: "PUT", body });
    return () => `Prior of ${data.arm} set to alpha=${body.alpha}, beta=${body.beta}.`;
  },
  async "add-arm"(data) {
    await api(`/v1/experiments/${enc(state.id)}/arms`, { method: "POST", body: { id: data.id, content: data.content || "" } });
    return (after) => {
      const a = after.arms.find((x) => x.arm === data.id);
      return `Arm ${data.id} added: it now gets ${pct(a && a.allocation)} of the traffic.`;
    };
  },
  async "retire-arm"(data, before) {
    await api(`/v1/experiments/${enc(state.id)}/arms/${enc(data.arm)}`, { method: "DELETE" });
    return (after) => {
      const b = before.arms.find((x) => x.arm === data.arm);
      const active = after.arms.filter((x) => x.active).map((x) => `${x.arm} ${pct(x.allocation)}`).join(", ");
      return `Arm ${data.arm} retired: its allocation went from ${pct(b && b.allocation)} to 0%; its ` +
             `${int(b && b.decisions)} decisions stay in the results. Now: ${active}.`;
    };
  },
  async reset(_data, before) {
    if (!window.confirm(`Reset ${state.id}? Learning starts over in a new generation (the log is kept).`)) { return null; }
    await api(`/v1/experiments/${enc(state.id)}/reset`, { method: "POST", body: { keep_priors: true } });
    return (after) => `Reset: generation ${before.generation} → ${after.generation}. ` +
                      `The table starts from zero; the ${int(before.decisions)} earlier decisions stay in the log.`;
  },
};

document.querySelectorAll("#admin form").forEach((form) => {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("admin-result");
    const before = state.report;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const describe = await ACTIONS[form.dataset.action](Object.fromEntries(new FormData(form)), before);
      if (!describe) { return; }
      const after = await refresh();  // the table shows the change before the message does
      out.className = "ok";
      text(out, after ? describe(after) : "Done; the page could not refresh yet.");
      if (form.dataset.action !== "policy" && form.dataset.action !== "reset") {
        // the form's numbers clear; its arm stays chosen (form.reset() put the first arm
        // back, and the next 'add rewards' went to it)
        const chosen = [...form.querySelectorAll(".arm-select")].map((s) => [s, s.value]);
        form.reset();
        chosen.forEach(([s, v]) => { s.value = v; });
        renderAdmin(state.report);
      }
    } catch (err) {
      out.className = "bad";
      text(out, "Not done: " + err.message + (err.hint ? ` (${err.hint})` : ""));
    } finally { button.disabled = false; }
  });
});

// ---- wiring --------------------------------------------------------------------------------------
const welcome = $("welcome");

$("keyform").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const candidate = $("key").value.trim();
  if (candidate) { useKey(candidate); }
});
$("signout").addEventListener("click", signOut);
$("retry").addEventListener("click", async () => { if (await refresh()) { schedule(); } });
$("scopeform").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const value = $("scope-input").value.trim();
  const exp = state.experiments.find((e) => e.id === state.id) || {};
  if (value && !new RegExp(`^${exp.scope}:.+$`).test(value)) {  // an id may hold spaces (the API allows them)
    // the table below is still the last bandit shown: say which, not leave the typo beside it
    const still = state.scope ? state.scope : `every ${exp.scope === "chat" ? "chat" : "user"}'s bandit summed`;
    text($("scope-help"), `use ${exp.scope}:ID, e.g. ${exp.scope}:12345 (still showing ${still})`);
    $("scope-input").setAttribute("aria-invalid", "true");
    return;
  }
  $("scope-input").removeAttribute("aria-invalid");
  go(state.id, value || null);
});
$("scope-all").addEventListener("click", () => go(state.id, null));
$("recent").addEventListener("click", (ev) => {  // a chat's pseudonym: that chat's bandit
  const pick = ev.target.closest("button[data-scope]");
  if (!pick) { return; }
  $("scope-input").removeAttribute("aria-invalid");
  go(state.id, pick.dataset.scope);
  $("scope-input").focus();  // (the link is gone with the column: focus where it says so)
});
$("older").addEventListener("click", async () => {
  if (!state.recent.next) { return; }
  state.recent.stack.push(state.recent.next);
  try { await loadRecent(); } catch (err) { failed(err); }
});
$("newer").addEventListener("click", async () => {
  state.recent.stack = [];
  try { await loadRecent(); } catch (err) { failed(err); }
});
$("csv-table").addEventListener("click", () => {
  if (!state.report) { return; }
  download(`${state.report.id}-arms.csv`, tableCsv(state.report), "text/csv");
  text($("download-result"), `Table downloaded: ${state.report.id}-arms.csv`);
});
$("csv-log").addEventListener("click", async () => {
  const rep = state.report;
  if (!rep) { return; }
  text($("download-result"), "Preparing the decision log…");
  try {
    const { out, count, partial } = await logCsv(rep);
    const name = `${rep.id}-decisions-generation-${rep.generation}.csv`;
    download(name, out, "text/csv");
    text($("download-result"), `Decision log downloaded: ${name}, ${int(count)} decisions` +
         (partial ? " (the first ones only: use banditbot export for the whole log)." : "."));
  } catch (err) { text($("download-result"), "Download failed: " + err.message); }
});
window.addEventListener("popstate", () => {
  const wanted = parseHash();
  if (!wanted.id) { return; }
  if (state.experiments.some((e) => e.id === wanted.id)) { state.missing = null; select(wanted.id, wanted.scope); }
  else {  // an id typed into the address bar that this server lacks: said, the page stays
    state.missing = wanted.id;
    if (state.report) { renderNotices(state.report); }
  }
});
let resizeFrame = 0;
window.addEventListener("resize", () => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => { tableScrolls(); drawCharts(); });
});

if (state.key) { useKey(state.key, { saved: true }); } else { $("key").focus(); }
