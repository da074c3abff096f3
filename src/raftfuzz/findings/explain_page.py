"""The self-contained HTML page of ``raftfuzz explain -o run.html``.

One file, no network: the run's data is inlined as JSON (``<`` escaped so it
cannot close the script element), and the CSS and the JavaScript that draw
the space-time diagram as SVG are inline too. The page is redrawn from the
data on every change of zoom, node filter or heartbeat collapsing, so what
is drawn is always a pure function of the data and the controls.

DOM contract (tests/test_explain.py checks it in headless Chromium): every
node lane is ``g.lane[data-lane="nI"]``; every fault is drawn as a
``.fault-band`` (``data-kind`` crash, pause, cut or held) or, on the fault
row, as a ``.fault-marker``; the violation is ``#violation-marker``.
"""

import json

PLACEHOLDER = "__RAFTFUZZ_RUN_DATA__"


def render(data: dict) -> str:
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("<", "\\u003c")
    title = str(data.get("title") or "raftfuzz run")
    return PAGE.replace("__RAFTFUZZ_TITLE__", _escape(title)).replace(PLACEHOLDER, payload)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>raftfuzz: __RAFTFUZZ_TITLE__</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 10px 16px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 16px; margin: 0 0 4px 0; }
.violation-text { color: #b00020; font-weight: 600; }
.controls { padding: 6px 16px; background: #f0f0f0; border-bottom: 1px solid #ddd; display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
.controls label { white-space: nowrap; }
.diagram { display: flex; background: #fff; border-bottom: 1px solid #ddd; }
#labels { flex: none; }
#scroller { overflow-x: auto; overflow-y: hidden; flex: 1; }
.panels { display: flex; flex-wrap: wrap; gap: 16px; padding: 12px 16px; }
.panel { background: #fff; border: 1px solid #ddd; padding: 8px 12px; min-width: 320px; max-width: 760px; }
.panel h2 { font-size: 14px; margin: 0 0 6px 0; }
.panel pre { margin: 0; white-space: pre-wrap; font: 12px/1.45 ui-monospace, monospace; }
.panel li { cursor: pointer; }
.legend span { display: inline-block; margin-right: 10px; }
.swatch { display: inline-block; width: 12px; height: 10px; vertical-align: middle; margin-right: 3px; border: 1px solid #999; }
svg text { font: 11px system-ui, sans-serif; }
.lane-bg { fill: #fff; stroke: #e4e4e4; }
.role-follower { fill: #e8eef7; }
.role-candidate, .role-pre_candidate { fill: #ffe9a8; }
.role-leader { fill: #9fd89f; }
.role-unknown { fill: #ddd; }
.fault-band.crash { fill: #555; }
.fault-band.pause { fill: #a48ad4; }
.fault-band.cut { fill: #e0453a; opacity: .85; }
.fault-band.held { fill: #f0a030; opacity: .9; }
.fault-marker { fill: #e0453a; stroke: #801010; }
.msg { stroke: #4a6fa5; stroke-width: 1; fill: none; opacity: .75; }
.msg.hb { stroke: #aab8cc; opacity: .5; }
.msg.dup { stroke: #1565c0; stroke-dasharray: 4 2; opacity: 1; }
.msg.lost { stroke: #d32f2f; stroke-dasharray: 2 2; opacity: .9; }
.msg.client { stroke: #7cb37c; }
.lost-x { stroke: #d32f2f; stroke-width: 1.5; }
.op { stroke: #555; stroke-width: .5; }
.op-put, .op-append { fill: #c9a0dc; }
.op-get { fill: #8fd0d8; }
.op.pending { fill-opacity: .35; stroke-dasharray: 2 2; }
.op.lin { stroke: #b00020; stroke-width: 2; }
#violation-marker line { stroke: #b00020; stroke-width: 2; }
#violation-marker text { fill: #b00020; font-weight: 600; }
.axis line { stroke: #ccc; }
.axis text { fill: #666; }
.other-event { stroke: #888; stroke-dasharray: 1 3; }
</style>
</head>
<body>
<header>
  <h1 id="heading"></h1>
  <div id="violation-line" class="violation-text"></div>
  <div id="meta"></div>
</header>
<div class="controls">
  <span>zoom <button id="zoom-out" type="button">&minus;</button> <button id="zoom-in" type="button">+</button>
  <button id="zoom-fit" type="button">fit</button> <span id="zoom-level"></span></span>
  <label><input type="checkbox" id="collapse-heartbeats"> collapse heartbeats</label>
  <label><input type="checkbox" id="client-traffic"> client messages</label>
  <label><input type="checkbox" id="client-operations" checked> client operations</label>
  <span id="node-filter">nodes:</span>
  <span class="legend">
    <span><i class="swatch" style="background:#9fd89f"></i>leader</span>
    <span><i class="swatch" style="background:#ffe9a8"></i>candidate</span>
    <span><i class="swatch" style="background:#e8eef7"></i>follower</span>
    <span><i class="swatch" style="background:#555"></i>crashed</span>
    <span><i class="swatch" style="background:#a48ad4"></i>paused</span>
    <span><i class="swatch" style="background:#e0453a"></i>links cut</span>
    <span><i class="swatch" style="background:#f0a030"></i>links held</span>
    <span>dashed blue: duplicated, red &times;: lost</span>
  </span>
</div>
<div class="diagram"><svg id="labels"></svg><div id="scroller"><svg id="chart"></svg></div></div>
<div class="panels">
  <div class="panel"><h2>What happened</h2><pre id="summary"></pre></div>
  <div class="panel"><h2>Faults (click to scroll there)</h2><ol id="fault-list"></ol></div>
  <div class="panel" id="sub-history-panel"><h2>Non-linearizable sub-history</h2><pre id="sub-history"></pre></div>
</div>
<script type="application/json" id="run-data">__RAFTFUZZ_RUN_DATA__</script>
<script>
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("run-data").textContent);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const LANE = 40, GAP = 6, ROW = 11, TOP = 34, RIGHT = 60, LOST_MS = 3;
  const endMs = Math.max(1, D.end_us / 1000);
  const sessions = Array.from(new Set(D.operations.map(function (o) { return o[0]; }))).sort(function (a, b) { return a - b; });
  const state = {
    scale: 1, visible: D.states.map(function () { return true; }),
    heartbeats: D.messages.length <= 1500, clientTraffic: false, operations: true
  };

  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function ms(us) { return (us / 1000).toFixed(3) + " ms"; }

  document.getElementById("heading").textContent = "raftfuzz: " + (D.signature || D.title) + " (" + D.target + ")";
  if (D.violation) {
    document.getElementById("violation-line").textContent = D.violation.label + " " + D.violation.property +
      " at step " + D.violation.step + ", " + ms(D.violation.time_us) + ": " + D.violation.message;
  }
  document.getElementById("meta").textContent = D.node_count + " nodes, " + D.steps + " steps, " +
    D.messages_total + " messages, " + D.operations.length + " client operations, trace " + D.trace_hash +
    (D.reproduced ? "" : " (NOT the report's trace: this run did not reproduce it)") +
    (D.messages.length < D.messages_total ? " (first " + D.messages.length + " messages drawn)" : "");
  document.getElementById("summary").textContent = D.summary.join("\n");
  if (D.sub_history) {
    document.getElementById("sub-history").textContent = "key " + JSON.stringify(D.sub_history.key) + "\n" +
      D.sub_history.lines.join("\n");
  } else {
    document.getElementById("sub-history-panel").style.display = "none";
  }

  // Intervals during which a node has links cut (or held) to some peer.
  function linkIntervals(field) {
    const perNode = D.states.map(function () { return []; });
    D.links.forEach(function (snapshot, k) {
      const since = snapshot[0];
      const until = k + 1 < D.links.length ? D.links[k + 1][0] : D.end_us;
      const peers = D.states.map(function () { return new Set(); });
      snapshot[field].forEach(function (pair) {
        if (pair[0] < D.node_count && pair[1] < D.node_count) {
          peers[pair[0]].add("to n" + pair[1]);
          peers[pair[1]].add("from n" + pair[0]);
        }
      });
      peers.forEach(function (set, node) {
        if (set.size === 0 || until <= since) { return; }
        const text = Array.from(set).sort().join(", ");
        const list = perNode[node];
        const last = list[list.length - 1];
        if (last && last.until === since && last.text === text) { last.until = until; }
        else { list.push({since: since, until: until, text: text}); }
      });
    });
    return perNode;
  }
  const cutIntervals = linkIntervals(1), heldIntervals = linkIntervals(2);

  function layout() {
    const rows = {};
    let y = TOP;
    D.states.forEach(function (_, node) {
      if (state.visible[node]) { rows[node] = y; y += LANE + GAP; }
    });
    const clientRows = {};
    if (state.operations || state.clientTraffic) {
      y += 4;
      sessions.forEach(function (session) { clientRows[session] = y; y += ROW; });
    }
    return {rows: rows, clientRows: clientRows, height: y + 10};
  }

  function x(us) { return 8 + (us / 1000) * state.scale; }

  function niceStep(pxPerMs) {
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
    for (let i = 0; i < steps.length; i++) { if (steps[i] * pxPerMs >= 80) { return steps[i]; } }
    return steps[steps.length - 1];
  }

  function endpointY(layoutInfo, endpoint) {
    if (endpoint < D.node_count) {
      const row = layoutInfo.rows[endpoint];
      return row === undefined ? undefined : row + LANE / 2;
    }
    const row = layoutInfo.clientRows[endpoint];
    return row === undefined || !state.clientTraffic ? undefined : row + ROW / 2;
  }

  function draw() {
    const L = layout();
    const width = Math.ceil(x(D.end_us) + RIGHT);
    const parts = [];
    parts.push('<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="5" markerHeight="5" orient="auto">' +
      '<path d="M0,0 L6,3 L0,6 z" fill="#4a6fa5"></path></marker></defs>');
    // Time axis.
    const step = niceStep(state.scale);
    parts.push('<g class="axis">');
    for (let t = 0; t <= endMs; t += step) {
      const px = x(t * 1000);
      parts.push('<line x1="' + px + '" y1="' + (TOP - 6) + '" x2="' + px + '" y2="' + L.height + '"></line>' +
        '<text x="' + (px + 2) + '" y="' + (TOP - 22) + '">' + (+t.toFixed(1)) + ' ms</text>');
    }
    parts.push('</g>');
    // Fault row: one marker per fault that fired.
    D.faults.forEach(function (fault) {
      const px = x(fault[0]);
      parts.push('<path class="fault-marker" d="M' + (px - 4) + ',' + (TOP - 14) + ' L' + (px + 4) + ',' + (TOP - 14) +
        ' L' + px + ',' + (TOP - 6) + ' z"><title>' + esc(ms(fault[0]) + " step " + fault[1] + ": " + fault[2]) + '</title></path>');
    });
    // Node lanes: role segments, crashes and pauses, cut and held links.
    D.states.forEach(function (states, node) {
      const top = L.rows[node];
      if (top === undefined) { return; }
      parts.push('<g class="lane" data-lane="n' + node + '">');
      parts.push('<rect class="lane-bg" x="0" y="' + top + '" width="' + width + '" height="' + LANE + '"></rect>');
      states.forEach(function (s, k) {
        const until = k + 1 < states.length ? states[k + 1][0] : D.end_us;
        const x0 = x(s[0]), x1 = Math.max(x(until), x0 + 0.5);
        const status = s[1], role = s[2], term = s[3];
        let cls, label, tip;
        if (status === "down") { cls = "fault-band crash"; label = "down"; tip = "n" + node + " crashed"; }
        else if (status === "paused") { cls = "fault-band pause"; label = "paused"; tip = "n" + node + " paused"; }
        else { cls = "role role-" + role; label = role.charAt(0).toUpperCase() + term; tip = "n" + node + " " + role + " of term " + term + ", commit " + s[4]; }
        const kind = status === "down" ? ' data-kind="crash"' : status === "paused" ? ' data-kind="pause"' : "";
        parts.push('<rect class="' + cls + '"' + kind + ' x="' + x0 + '" y="' + (top + 8) + '" width="' + (x1 - x0) +
          '" height="' + (LANE - 16) + '"><title>' + esc(tip + " from " + ms(s[0]) + " (step " + s[5] + ")") + '</title></rect>');
        if (x1 - x0 > 24) {
          parts.push('<text x="' + (x0 + 3) + '" y="' + (top + LANE / 2 + 4) + '">' + esc(label) + '</text>');
        }
      });
      cutIntervals[node].forEach(function (band) {
        parts.push('<rect class="fault-band cut" data-kind="cut" x="' + x(band.since) + '" y="' + (top + LANE - 7) + '" width="' +
          Math.max(1, x(band.until) - x(band.since)) + '" height="6"><title>' + esc("n" + node + " links cut " + band.text + ", " +
          ms(band.since) + " - " + ms(band.until)) + '</title></rect>');
      });
      heldIntervals[node].forEach(function (band) {
        parts.push('<rect class="fault-band held" data-kind="held" x="' + x(band.since) + '" y="' + (top + 1) + '" width="' +
          Math.max(1, x(band.until) - x(band.since)) + '" height="6"><title>' + esc("n" + node + " links held " + band.text + ", " +
          ms(band.since) + " - " + ms(band.until)) + '</title></rect>');
      });
      parts.push('</g>');
    });
    // Other barrier events (crash after sync, heal, campaign end): thin lines.
    D.events.forEach(function (event) {
      const px = x(event[0]);
      parts.push('<line class="other-event" x1="' + px + '" y1="' + TOP + '" x2="' + px + '" y2="' + (L.height - 10) +
        '"><title>' + esc(ms(event[0]) + " step " + event[1] + ": " + event[2]) + '</title></line>');
    });
    // Client operations, one row per session.
    if (state.operations) {
      D.operations.forEach(function (o) {
        const top = L.clientRows[o[0]];
        if (top === undefined) { return; }
        const end = o[7] === null ? D.end_us : o[7];
        const cls = "op op-" + o[2] + (o[7] === null ? " pending" : "") + (o[8] ? " lin" : "");
        const what = o[2] + " " + o[3] + (o[2] === "get" ? " -> " + JSON.stringify(o[5]) : " " + JSON.stringify(o[4]));
        parts.push('<rect class="' + cls + '" x="' + x(o[6]) + '" y="' + (top + 1) + '" width="' + Math.max(1, x(end) - x(o[6])) +
          '" height="' + (ROW - 2) + '"><title>' + esc("c" + o[0] + " #" + o[1] + " " + what + " [" + ms(o[6]) + ", " +
          (o[7] === null ? "pending" : ms(o[7])) + "]") + '</title></rect>');
      });
    }
    // Messages: an arrow per delivery; lost ones end in a cross.
    D.messages.forEach(function (m) {
      if (m[4] && !state.heartbeats) { return; }
      const y0 = endpointY(L, m[1]), y1 = endpointY(L, m[2]);
      if (y0 === undefined || y1 === undefined) { return; }
      const client = m[1] >= D.node_count || m[2] >= D.node_count;
      const x0 = x(m[0]);
      const base = "msg" + (m[4] ? " hb" : "") + (client ? " client" : "");
      const tip = '<title>' + esc(D.kinds[m[3]] + " " + m[6] + ", sent " + ms(m[0]) +
        (m[5].length ? ", delivered " + m[5].map(ms).join(", ") : ", never delivered")) + '</title>';
      if (m[5].length === 0) {
        const xl = x(m[0] + LOST_MS * 1000), yl = (y0 + y1) / 2;
        parts.push('<g class="lost-message"><line class="' + base + ' lost" x1="' + x0 + '" y1="' + y0 + '" x2="' + xl + '" y2="' + yl + '">' + tip + '</line>' +
          '<path class="lost-x" d="M' + (xl - 3) + ',' + (yl - 3) + ' L' + (xl + 3) + ',' + (yl + 3) + ' M' + (xl - 3) + ',' + (yl + 3) +
          ' L' + (xl + 3) + ',' + (yl - 3) + '"></path></g>');
        return;
      }
      const cls = base + (m[5].length > 1 ? " dup" : "");
      m[5].forEach(function (delivered) {
        parts.push('<line class="' + cls + '" marker-end="url(#arrow)" x1="' + x0 + '" y1="' + y0 + '" x2="' + x(delivered) +
          '" y2="' + y1 + '">' + tip + '</line>');
      });
    });
    // The violation.
    if (D.violation) {
      const px = x(D.violation.time_us);
      parts.push('<g id="violation-marker"><line x1="' + px + '" y1="' + (TOP - 16) + '" x2="' + px + '" y2="' + L.height + '"></line>' +
        '<text text-anchor="end" x="' + (px - 4) + '" y="' + (TOP - 8) + '">' + esc(D.violation.property + " (step " + D.violation.step + ")") + '</text>' +
        '<title>' + esc(D.violation.message) + '</title></g>');
    }
    const chart = document.getElementById("chart");
    chart.setAttribute("width", width);
    chart.setAttribute("height", L.height);
    chart.innerHTML = parts.join("");
    // Lane labels stay in view while the chart scrolls.
    const labels = [];
    Object.keys(L.rows).forEach(function (node) {
      labels.push('<text x="6" y="' + (L.rows[node] + LANE / 2 + 4) + '" font-weight="600">n' + node + '</text>');
    });
    Object.keys(L.clientRows).forEach(function (session) {
      labels.push('<text x="6" y="' + (L.clientRows[session] + ROW - 2) + '" font-size="9">c' + session + '</text>');
    });
    labels.push('<text x="6" y="' + (TOP - 8) + '" font-size="10">faults</text>');
    const labelSvg = document.getElementById("labels");
    labelSvg.setAttribute("width", 52);
    labelSvg.setAttribute("height", L.height);
    labelSvg.innerHTML = labels.join("");
    document.getElementById("zoom-level").textContent = state.scale.toFixed(2) + " px/ms";
  }

  const scroller = document.getElementById("scroller");
  function zoom(factor, anchorPx) {
    const anchor = anchorPx === undefined ? scroller.clientWidth / 2 : anchorPx;
    const atMs = (scroller.scrollLeft + anchor - 8) / state.scale;
    state.scale = Math.min(400, Math.max(0.01, state.scale * factor));
    draw();
    scroller.scrollLeft = Math.max(0, atMs * state.scale + 8 - anchor);
  }
  function fit() {
    state.scale = Math.max(0.01, (Math.max(300, scroller.clientWidth) - RIGHT - 16) / endMs);
    draw();
  }
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(2); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(0.5); });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  scroller.addEventListener("wheel", function (event) {
    if (!event.ctrlKey) { return; }
    event.preventDefault();
    const rect = scroller.getBoundingClientRect();
    zoom(event.deltaY < 0 ? 1.25 : 0.8, event.clientX - rect.left);
  }, {passive: false});
  const collapse = document.getElementById("collapse-heartbeats");
  collapse.checked = !state.heartbeats;
  collapse.addEventListener("change", function () { state.heartbeats = !collapse.checked; draw(); });
  const traffic = document.getElementById("client-traffic");
  traffic.addEventListener("change", function () { state.clientTraffic = traffic.checked; draw(); });
  const operations = document.getElementById("client-operations");
  operations.addEventListener("change", function () { state.operations = operations.checked; draw(); });
  const filter = document.getElementById("node-filter");
  D.states.forEach(function (_, node) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.dataset.node = String(node);
    box.addEventListener("change", function () { state.visible[node] = box.checked; draw(); });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" n" + node));
    filter.appendChild(document.createTextNode(" "));
    filter.appendChild(label);
  });
  const list = document.getElementById("fault-list");
  D.faults.forEach(function (fault) {
    const item = document.createElement("li");
    item.textContent = ms(fault[0]) + " (step " + fault[1] + "): " + fault[2];
    item.addEventListener("click", function () { scroller.scrollLeft = Math.max(0, x(fault[0]) - scroller.clientWidth / 3); });
    list.appendChild(item);
  });
  if (!D.faults.length) { list.outerHTML = "<p>none</p>"; }
  fit();
  if (D.violation) {
    scroller.scrollLeft = Math.max(0, x(D.violation.time_us) - scroller.clientWidth * 0.8);
  }
})();
</script>
</body>
</html>
"""
