// The review page: hash routes over the JSON API, DOM built from textContent only (never as markup),
// no external scripts, so it works offline and run data cannot inject markup.
"use strict";

const view = () => document.getElementById("view");
// replaceChildren neither flattens nor skips: show(...) does both.
const show = (...kids) => view().replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
let timer = null;

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

const token = () => document.getElementById("token").value.trim();
const enc = encodeURIComponent;
const pct = (x) => (100 * x).toFixed(1) + "%";
const pp = (x) => (x >= 0 ? "+" : "") + (100 * x).toFixed(1) + " pp";

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  const r = await fetch("/api/" + path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await r.json(); } catch (e) { body = { error: "not JSON (HTTP " + r.status + ")" }; }
  if (!r.ok) { const err = new Error(body.error || "HTTP " + r.status); err.status = r.status; throw err; }
  return body;
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.map(([label, href]) => href ? h("a", { href, text: label }) : h("span", { text: label })));
}

function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { text: x })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => c instanceof Node ? h("td", {}, c) :
      h("td", { text: c === null || c === undefined ? "–" : c }))))));
}

function kv(pairs) {
  return h("dl", {}, pairs.filter((p) => p).map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v instanceof Node ? v : String(v ?? "–"))]));
}

function badge(text) {
  const cls = String(text).split(/[ :>-]/)[0];
  return h("span", { class: "badge " + cls, text });
}

function outcome(x) {
  if (x === null || x === undefined) return h("span", { class: "none", text: "not run" });
  return h("span", { class: x ? "pass" : "fail", text: x ? "pass" : "fail" });
}

// Verifier tampering is evidence against a harness: counted in every table, and listed where it happened.
function tampered(n) {
  return n ? h("span", { class: "tampered", text: `${n} tampered` }) : "0";
}

function outcomeOf(x, tamper) {
  return tamper ? h("span", {}, outcome(x), " ", h("span", { class: "tampered", text: "tampered" })) : outcome(x);
}

function tamperingRows(records) {
  return records.map((t) => [t.path, t.change, t.detail || ""]);
}

function scoreText(s) {
  if (!s) return "–";
  return `${pct(s.rate)} (${s.passed}/${s.episodes}) [${pct(s.low)}, ${pct(s.high)}]` + (s.partial ? " so far" : "");
}

function diffBlock(text, id) {
  const pre = h("pre", { id });
  for (const line of (text || "(no change)").split("\n")) {
    const c = line.startsWith("+++") || line.startsWith("---") ? null :
      line.startsWith("+") || line.includes(": +") ? "add" : line.startsWith("-") || line.includes(": -") ? "del" :
        line.startsWith("@") ? "hunk" : null;
    pre.append(c ? h("span", { class: c, text: line }) : line, "\n");
  }
  return pre;
}

// ------------------------------------------------------------------ the pass-rate chart (inline SVG)

function chart(rounds, final) {
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  };
  const W = 720, H = 240, L = 44, R = 60, T = 14, B = 30;
  const n = Math.max(rounds.length + (final ? 1 : 0), 1);
  const x = (i) => L + (W - L - R) * (n === 1 ? 0.5 : i / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v);
  const svg = s("svg", { id: "pass-chart", width: "100%", height: H, viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMinYMin meet", role: "img" });
  svg.append(s("title", {}, "Pass rate per round per split, with 95% Wilson intervals"));
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e0e0e0" }));
    svg.append(s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, Math.round(100 * v) + "%"));
  }
  rounds.forEach((r, i) => svg.append(s("text", { x: x(i), y: H - 10, "text-anchor": "middle" }, "round " + r.n)));
  const series = [["train", "#1565c0", -4], ["val", "#ef6c00", 4]];
  for (const [split, colour, dx] of series) {
    let path = "";
    rounds.forEach((r, i) => {
      const sc = r[split];
      if (!sc) return;
      const cx = x(i) + dx;
      svg.append(s("line", { x1: cx, x2: cx, y1: y(sc.low), y2: y(sc.high), stroke: colour, "stroke-width": 1.5 }));
      const dot = s("circle", { cx, cy: y(sc.rate), r: 4, fill: sc.partial ? "#fff" : colour, stroke: colour, "stroke-width": 2 });
      dot.append(s("title", {}, `round ${r.n} ${split}: ${scoreText(sc)}`));
      svg.append(dot);
      path += (path ? " L" : "M") + cx + " " + y(sc.rate);
    });
    if (path) svg.append(s("path", { d: path, fill: "none", stroke: colour, "stroke-width": 1.5 }));
  }
  if (final) {
    const i = rounds.length;
    svg.append(s("text", { x: x(i), y: H - 10, "text-anchor": "middle" }, "test (sealed)"));
    for (const [sc, dx, label] of [[final.initial, -6, "initial"], [final.final, 6, "final"]]) {
      svg.append(s("line", { x1: x(i) + dx, x2: x(i) + dx, y1: y(sc.low), y2: y(sc.high), stroke: "#6a1b9a" }));
      const d = s("rect", { x: x(i) + dx - 4, y: y(sc.rate) - 4, width: 8, height: 8, fill: label === "final" ? "#6a1b9a" : "#fff", stroke: "#6a1b9a" });
      d.append(s("title", {}, `test ${label}: ${scoreText(sc)}`));
      svg.append(d);
    }
  }
  let lx = L + 8;
  for (const [name, colour] of [["train", "#1565c0"], ["val", "#ef6c00"], ["test", "#6a1b9a"]]) {
    svg.append(s("rect", { x: lx, y: T, width: 10, height: 10, fill: colour }));
    svg.append(s("text", { x: lx + 14, y: T + 9 }, name));
    lx += 60;
  }
  return svg;
}

// ------------------------------------------------------------------ views

async function runsView() {
  crumbs(["runs"]);
  const runs = await api("runs");
  show(h("h1", { text: "Runs" }),
    runs.length ? table(["run", "round", "phase", "finished", "harness", "model", "waiting for a verdict"],
      runs.map((r) => [h("a", { href: `#/run/${enc(r.id)}`, text: r.id }), `${r.round} of ${r.rounds_planned ?? "?"}`,
        r.phase, r.done ? "yes" : "no", r.harness_id, r.model, r.pending ? badge(`${r.pending} waiting`) : "–"]),
      { id: "runs-table" }) : h("p", { class: "muted", text: "No run directories here yet." }));
}

function stagesBlock(row) {
  return h("div", { class: "stages", id: `stages-${row.n}` }, row.stages.map((st) => {
    const frac = st.total ? Math.min(1, st.done / st.total) : (st.status === "done" ? 1 : 0);
    const bar = h("div", { class: "bar" }, h("div", {}));
    bar.firstChild.style.width = (100 * frac).toFixed(0) + "%";
    return h("div", { class: "stage " + st.status, "data-stage": st.name },
      h("div", {}, h("b", { text: st.name }), " ", badge(st.status)),
      st.total ? h("div", { class: "muted", text: `${st.done} / ${st.total} episodes` }) :
        st.done ? h("div", { class: "muted", text: `${st.done} episodes` }) : null, bar);
  }));
}

async function runView(run) {
  crumbs(["runs", "#/"], [run]);
  const d = await api(`runs/${enc(run)}`);
  const s = d.summary;
  const current = d.rounds.length ? d.rounds[d.rounds.length - 1] : null;
  const pending = d.pending.length ? h("div", { class: "pending", id: "pending" },
    h("h2", { text: "Waiting for a verdict" }),
    d.pending.map((p) => h("p", {}, `Round ${p.round}: candidate ${p.candidate_id} (parent ${p.parent_id}) on ${p.surfaces.join(", ")}, waiting since ${p.since}. ${p.reason} `,
      p.proposals.map((pid) => h("a", { class: "review-link", href: `#/run/${enc(run)}/proposal/${enc(pid)}`, text: `review ${pid}` }))
        .flatMap((a, i) => i ? [" ", a] : [a])))) : null;
  show(
    h("h1", { text: `Run ${s.id}` }),
    kv([["round", `${s.round} of ${s.rounds_planned ?? "?"}`], ["phase", h("span", { id: "phase", text: s.phase || "–" })],
      ["finished", s.done ? "yes" : "no"], ["harness", s.harness_id], ["model", s.model], ["suite", s.suite]]),
    pending,
    current && !current.finished ? [h("h2", { text: `Round ${current.n} in progress` }), stagesBlock(current)] : null,
    h("h2", { text: "Pass rate per round" }), chart(d.rounds, d.final),
    h("h2", { text: "Rounds" }),
    table(["round", "harness", "train [95% CI]", "val [95% CI]", "clusters (eligible)", "proposals (refused)", "accepted",
      "promoted", "decided by", "stopped", "verifier tampering"],
      d.rounds.map((r) => [h("a", { href: `#/run/${enc(run)}/round/${r.n}`, text: `round ${r.n}` }), r.harness_id,
        scoreText(r.train), scoreText(r.val), r.clusters === null ? "–" : `${r.clusters} (${r.eligible})`,
        r.proposals === null ? "–" : `${r.proposals} (${r.refused})`, r.accepted,
        r.promoted_id ? (r.promoted_id === r.harness_id ? "kept" : r.promoted_id) : (r.finished ? "–" :
          r.stages.some((st) => st.name === "approval" && st.status === "current") ? badge("waiting for a verdict") : "running"),
        r.decided_by ? r.decided_by + (r.approval ? ` (${r.approval})` : "") : "–", r.stopped || "", tampered(r.tampered)]),
      { id: "rounds-table" }),
    d.final ? [h("h2", { text: "Sealed test" }), kv([["initial", `${d.final.initial.harness_id}: ${scoreText(d.final.initial)}`],
      ["final", `${d.final.final.harness_id}: ${scoreText(d.final.final)}`],
      ["paired Δ", `${d.final.paired.delta >= 0 ? "+" : ""}${d.final.paired.delta} of ${d.final.paired.evaluated} pairs, CI [${pp(d.final.paired.ci_low)}, ${pp(d.final.paired.ci_high)}], p=${d.final.paired.p_value.toPrecision(3)}`]])] : null,
    h("h2", { text: "Lineage" }),
    table(["harness", "parent", "round", "proposals", "promoted", "diff"],
      d.lineage.map((e) => [e.id, e.parent || "–", e.round, e.proposals.join(", ") || "–", e.promoted ? "yes" : "no", e.diff ? diffBlock(e.diff) : "–"])),
    d.verdicts.length ? [h("h2", { text: "Verdicts" }), table(["proposal", "verdict", "by", "at", "comment"],
      d.verdicts.map((v) => [v.proposal_id, badge(v.verdict), v.by, v.at, v.comment]), { id: "verdicts" })] : null,
    d.problems.length ? [h("h2", { text: "Unreadable files" }), h("pre", { text: d.problems.join("\n") })] : null);
  if (!s.done) timer = setTimeout(route, 2000);
}

async function roundView(run, n) {
  crumbs(["runs", "#/"], [run, `#/run/${enc(run)}`], [`round ${n}`]);
  const d = await api(`runs/${enc(run)}/rounds/${enc(n)}`);
  const dec = d.decision;
  show(
    h("h1", { text: `Round ${n}` }), stagesBlock(d.row),
    kv([["harness", d.row.harness_id], ["train", scoreText(d.row.train)], ["val", scoreText(d.row.val)],
      ["verifier tampering", h("span", { id: "round-tampered" }, tampered(d.row.tampered), d.row.tampered ? " of the round's episodes (rollout and validation, train and val): failures" : "")],
      dec ? ["decision", `${dec.promoted_id === dec.parent_id ? "kept " + dec.parent_id : "promoted " + dec.promoted_id}: ${dec.reason}`] : null,
      dec ? ["decided by", dec.decided_by + (dec.decided_at ? " at " + dec.decided_at : "") + (dec.approval ? ` (${dec.approval})` : "")] : null]),
    h("h2", { text: "Proposals" }),
    d.proposals.length ? table(["proposal", "surface", "edits", "target cluster", "hypothesis", "status", "candidate", "verifier tampering"],
      d.proposals.map((p) => [h("a", { href: `#/run/${enc(run)}/proposal/${enc(p.id)}`, text: p.id }), p.surface, p.summary,
        p.target_cluster, p.hypothesis, h("span", {}, badge(p.status), p.awaiting ? [" ", badge("waiting for a verdict")] : null), p.candidate_id, tampered(p.tampered)]),
      { id: "proposals-table" }) : h("p", { class: "muted", text: "No proposals (yet)." }),
    d.refusals.length ? [h("h3", { text: "Refused" }), table(["index", "reason"], d.refusals.map((x) => [x.index, x.reason]))] : null,
    h("h2", { text: "Clusters" }),
    d.clusters.length ? table(["cluster", "mechanism", "terminal cause", "support", "tasks", "eligible", "examples"],
      d.clusters.map((c) => [c.id, c.mechanism, c.terminal_cause, c.support || c.failures.length, c.tasks.join(", "),
        c.eligible ? "yes" : "no",
        h("div", {}, c.examples.map((ex) => h("details", {}, h("summary", {}, h("a", { href: `#/run/${enc(run)}/trace/${enc(ex.episode_id)}`, text: ex.episode_id }),
          ` ${ex.signature.criticality}: ${ex.signature.evidence}`), h("pre", { text: ex.excerpt }))),
          c.failures.filter((f) => !c.examples.some((ex) => ex.episode_id === f)).map((f) =>
            h("div", {}, h("a", { href: `#/run/${enc(run)}/trace/${enc(f)}`, text: f }))))]),
      { id: "clusters-table" }) : h("p", { class: "muted", text: "Not mined yet." }));
}

function abTable(ab) {
  if (!ab) return h("p", { class: "muted", id: "ab-table", text: "Not validated (yet)." });
  return table(["split", "pairs", "evaluated", "parent passed", "candidate passed", "gains", "losses", "Δ", "Δ pass rate", "95% bootstrap CI", "sign test p"],
    Object.values(ab.splits).map((s) => {
      const n = s.evaluated || s.pairs;
      return [s.split, s.pairs, s.evaluated, s.parent_passed, s.candidate_passed, s.gains, s.losses,
        (s.delta >= 0 ? "+" : "") + s.delta, n ? pp(s.delta / n) : "–", `[${pp(s.ci_low)}, ${pp(s.ci_high)}]`, s.p_value.toPrecision(3)];
    }), { id: "ab-table" });
}

let notice = null; // the last verdict's answer, kept across re-renders: {pid, cls, text}

function noticeBlock(pid) {
  const msg = h("div", { id: "verdict-msg", role: "status" });
  if (notice && notice.pid === pid) { msg.className = notice.cls; msg.textContent = notice.text; } else msg.hidden = true;
  return msg;
}

function verdictForm(run, d) {
  const comment = h("textarea", { id: "comment", maxlength: 2000, placeholder: "comment (optional, at most 2000 characters)" });
  const send = async (verdict) => {
    notice = { pid: d.id, cls: "msg", text: "sending..." };
    try {
      const v = await api(`runs/${enc(run)}/proposals/${enc(d.id)}/verdict`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ verdict, comment: comment.value, name: document.getElementById("reviewer").value.trim() || "reviewer" }),
      });
      notice = { pid: d.id, cls: "msg ok", text: `recorded: ${v.verdict} by ${v.by} at ${v.at}; the run acts on it once every proposal of the winner has a verdict.` };
      route();
    } catch (e) {
      notice = { pid: d.id, cls: "msg error", text: `refused (HTTP ${e.status || "?"}): ${e.message}` };
      const old = document.getElementById("verdict-msg");
      old.replaceWith(noticeBlock(d.id));
    }
  };
  return h("div", { class: "verdict", id: "verdict" }, h("h2", { text: "Your verdict" }),
    h("p", {}, `Validated winner of round ${d.round}: candidate ${d.pending ? d.pending.candidate_id : d.candidate_id}` +
      (d.pending ? ` (proposals ${d.pending.proposals.join(", ")}; every one needs a verdict)` : "") + "."),
    comment, h("div", {}, h("button", { id: "approve", type: "button", onclick: () => send("approve"), text: "Approve" }),
      h("button", { id: "reject", type: "button", onclick: () => send("reject"), text: "Reject" })), noticeBlock(d.id));
}

async function proposalView(run, pid) {
  crumbs(["runs", "#/"], [run, `#/run/${enc(run)}`], [`round ${pid.match(/^r(\d+)/)[1]}`, `#/run/${enc(run)}/round/${pid.match(/^r(\d+)/)[1]}`], [pid]);
  const d = await api(`runs/${enc(run)}/proposals/${enc(pid)}`);
  const dec = d.decision;
  const pairRows = (split) => (d.pairs[split] || []).map((p) => [p.task, p.attempt, p.seed,
    p.parent_trace ? h("a", { href: `#/run/${enc(run)}/trace/${enc(p.parent_trace)}` }, outcomeOf(p.parent, p.parent_tampered)) : outcome(p.parent),
    p.candidate_trace ? h("a", { href: `#/run/${enc(run)}/trace/${enc(p.candidate_trace)}` }, outcomeOf(p.candidate, p.candidate_tampered)) : outcome(p.candidate),
    p.parent === false && p.candidate === true ? "gain" : p.parent === true && p.candidate === false ? "loss" : ""]);
  show(
    h("h1", { text: `Proposal ${d.id}` }),
    kv([["status", h("span", { id: "status" }, badge(d.status), d.awaiting ? [" ", badge("waiting for a verdict")] : null)],
      ["surface", d.surface], ["edits", d.summary], ["parent", d.parent_id], ["candidate", d.candidate_id],
      d.merged_from.length ? ["merges", d.merged_from.join(", ")] : null,
      ["A/B reason", d.ab ? d.ab.reason : "–"],
      ["verifier tampering", h("span", { id: "ab-tampered" }, tampered(d.candidate_tampered), " of the candidate's episodes, ",
        tampered(d.parent_tampered), " of the parent's")],
      dec ? ["round decision", `${dec.promoted_id === dec.parent_id ? "kept " + dec.parent_id : "promoted " + dec.promoted_id}: ${dec.reason}`] : ["round decision", "not yet"],
      dec ? ["decided by", h("span", { id: "decided-by", text: dec.decided_by + (dec.decided_at ? " at " + dec.decided_at : "") + (dec.approval ? ` (${dec.approval})` : "") })] : null]),
    d.awaiting ? verdictForm(run, d) : noticeBlock(d.id),
    d.audit ? [h("h2", { text: "Audit record" }), kv([["target cluster", d.audit.target_cluster], ["hypothesis", d.audit.hypothesis],
      ["expected effect", d.audit.expected_effect], ["regression risk", d.audit.regression_risk]])] : null,
    h("h2", { text: "Diff against the parent" }), diffBlock(d.diff, "diff"),
    d.yaml_diff ? h("details", {}, h("summary", { text: "YAML diff" }), diffBlock(d.yaml_diff, "yaml-diff")) : null,
    h("h2", { text: "Paired A/B (candidate − parent)" }), abTable(d.ab),
    d.tampering.length ? h("div", { class: "tampering", id: "proposal-tampering" },
      h("h3", { text: `Verifier tampering: ${d.tampering.length} episode(s), each a failure whatever its reward` }),
      table(["episode", "harness", "split", "path", "change", "detail"], d.tampering.flatMap((e) => e.tampering.map((t) =>
        [h("a", { href: `#/run/${enc(run)}/trace/${enc(e.episode_id)}`, text: e.episode_id }),
          e.harness_id === d.candidate_id ? "candidate" : "parent", e.split, t.path, t.change, t.detail || ""])))) : null,
    ["train", "val"].map((split) => [h("h3", { text: `${split}: pairs by (task, attempt, seed)` }),
      table(["task", "attempt", "seed", "parent", "candidate", ""], pairRows(split), { id: `pairs-${split}` })]),
    d.verdicts.length ? [h("h2", { text: "Verdicts" }), table(["verdict", "by", "at", "comment"],
      d.verdicts.map((v) => [badge(v.verdict), v.by, v.at, v.comment]))] : null);
  // Refresh while the outcome is open, but never under a person writing a verdict.
  if (!d.awaiting && (!dec || dec.approval === "awaiting approval")) timer = setTimeout(route, 2000);
}

async function traceView(run, eid) {
  crumbs(["runs", "#/"], [run, `#/run/${enc(run)}`], [eid]);
  const d = await api(`runs/${enc(run)}/traces/${enc(eid)}`);
  const t = d.trace;
  const at = (list, i) => list.filter((x) => x.turn === i);
  show(
    h("h1", { text: `Trace ${t.task}` }),
    t.tampering.length ? h("div", { class: "tampering", id: "tampering", role: "alert" },
      h("h2", { text: `Verifier tampering (${t.tampering.length})` }),
      h("p", { text: "This episode left changes where the verifier lives (/tests, /logs/verifier) or changed the reward " +
        "after the verifier wrote it: it is a failure, whatever its reward." }),
      table(["path", "change", "detail"], tamperingRows(t.tampering), { id: "tampering-table" })) : null,
    kv([["episode", d.episode_id], ["split", d.split], ["harness", t.harness_id], ["model", t.model],
      ["attempt / seed", `${t.attempt} / ${t.seed}`], ["result", outcome(d.passed)],
      d.cause ? ["failure cause", h("span", { id: "cause", class: d.cause === "verifier_tampering" ? "tampered" : null, text: d.cause })] : null,
      ["reward", t.reward],
      ["stop reason", t.stop_reason], t.infra_error ? ["infrastructure error", t.infra_error] : null,
      ["duration", `${t.duration_s.toFixed(1)} s`]]),
    h("h2", { text: `Turns (${t.turns.length})` }),
    h("div", { id: "turns" }, t.turns.map((turn) => h("div", { class: "turn" },
      h("h3", { text: `turn ${turn.index}` }),
      h("details", {}, h("summary", { text: "model reply" }), h("pre", { text: turn.raw })),
      turn.parse_error ? h("p", { class: "fail", text: "parse error: " + turn.parse_error }) : null,
      turn.model_events.length ? h("p", { class: "muted", text: "model: " + turn.model_events.join("; ") }) : null,
      at(t.commands, turn.index).map((c) => h("div", { class: "cmd" },
        h("pre", { text: `$ ${c.command}\n` + (c.blocked_by ? `[blocked by ${c.blocked_by}]` : `[exit ${c.exit_code}${c.timed_out ? ", timed out" : ""}${c.truncated ? ", truncated" : ""}]`) + (c.output ? "\n" + c.output : "") }))),
      at(t.events, turn.index).map((e) => h("div", { class: "event", text: `${e.name} ${e.kind}: ${e.message}` }))))),
    h("h2", { text: "Verifier" }), t.verifier_error ? h("p", { class: "fail", text: t.verifier_error }) : null,
    h("div", { id: "verifier-events" }, at(t.events, -1).map((e) =>
      h("div", { class: e.kind === "tampering" ? "event tampering-event" : "event", text: `${e.name} ${e.kind}: ${e.message}` }))),
    h("pre", { id: "verifier", text: t.verifier_output || "(no output)" }));
}

// ------------------------------------------------------------------ routing

async function route() {
  clearTimeout(timer);
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "run" && parts[1]) {
      const run = parts[1];
      if (parts[2] === "round") await roundView(run, parts[3]);
      else if (parts[2] === "proposal") await proposalView(run, parts[3]);
      else if (parts[2] === "trace") await traceView(run, parts[3]);
      else await runView(run);
    } else {
      const cfg = await api("config");
      if (cfg.single_run && !location.hash) { location.hash = `#/run/${enc(cfg.single_run)}`; return; }
      await runsView();
    }
  } catch (e) {
    show(h("p", { class: "msg error", id: "load-error", text: `${e.message}` }));
  }
}

function remember() {
  const tok = document.getElementById("token"), who = document.getElementById("reviewer");
  tok.value = sessionStorage.getItem("selfharness-token") || "";
  who.value = sessionStorage.getItem("selfharness-reviewer") || who.value;
  tok.addEventListener("change", () => sessionStorage.setItem("selfharness-token", tok.value.trim()));
  who.addEventListener("change", () => sessionStorage.setItem("selfharness-reviewer", who.value.trim()));
  document.getElementById("auth").addEventListener("submit", (e) => { e.preventDefault(); route(); });
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => { remember(); route(); });
