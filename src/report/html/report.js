// The report page's script: reads the JSON in #report-data and draws the problems, a timeline per
// server, the connection table (only the rows in view are in the DOM, so 100,000 connections stay
// responsive) and, for the connection opened, its ladder diagram. Every text from the capture is
// set as textContent, never parsed as HTML. State (filters, the open connection) lives in the URL
// fragment, so a link reopens the same view: #verdict=fatal_alert&server=10.0.0.5:443&open=12
"use strict";
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message || e));
    var box = document.getElementById("script-errors");
    box.hidden = false;
    box.textContent = "script error: " + errors.join("; ");
  });

  var D = JSON.parse(document.getElementById("report-data").textContent);
  var S = D.strings;
  var C = D.connections;
  var N = C.code.length;
  var ROW = 24;
  var failing = {};
  D.failure_codes.forEach(function (c) { failing[c] = true; });
  var NEUTRAL = { not_tls: 1, abandoned: 1, incomplete_capture: 1, tds_unencrypted: 1, closed_after_handshake: 1 };

  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function kind(code) { return failing[code] ? "fail" : NEUTRAL[code] ? "neutral" : "ok"; }
  function seconds(us) { return (us / 1e6).toFixed(6); }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // Copies text; the fallback covers pages opened from disk where the clipboard API is refused.
  function copyButton(text) {
    var b = el("button", { type: "button", cls: "copy", text: "copy" });
    b.addEventListener("click", function () {
      function done() { b.textContent = "copied"; b.setAttribute("data-copied", text); }
      function fallback() {
        var area = el("textarea", {});
        area.value = text;
        document.body.appendChild(area);
        area.select();
        try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
        document.body.removeChild(area);
        done();
      }
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
      else fallback();
    });
    return b;
  }
  function filterLine(text, covers) {
    return el("div", { cls: "filter" }, el("code", { text: text }), copyButton(text),
      covers && covers !== "all" ? el("span", { cls: "note", text: "selects " + covers }) : null);
  }

  // ---- summary and problems ----
  var failures = 0;
  for (var i = 0; i < N; i++) if (failing[S[C.code[i]]]) failures++;
  document.getElementById("summary").textContent =
    plural(D.files.length, "input") + ", " + plural(D.totals.connections, "connection") + ", " +
    plural(D.totals.failures, "failure") + ", " + plural(D.problems.length, "problem") + "  (" + D.tool + ")";

  function findConnection(file, client, frame) {
    for (var i = 0; i < N; i++) {
      if (C.first_frame[i] === frame && S[C.client[i]] === client && S[C.file[i]] === file) return i;
    }
    return -1;
  }

  var stringIndex = {};
  S.forEach(function (text, k) { stringIndex[text] = k; });
  function sid(text) { return text in stringIndex ? stringIndex[text] : -1; }

  // Long lists show their head and a button for the rest, so a capture with hundreds of
  // problems or servers still opens on what matters most.
  function showFirst(box, items, first, render, what) {
    items.slice(0, first).forEach(render);
    if (items.length > first) {
      var more = el("button", { type: "button", cls: "more", text: "show the other " + (items.length - first) + " " + what });
      more.addEventListener("click", function () {
        box.removeChild(more);
        items.slice(first).forEach(function (item, k) { render(item, first + k); });
      });
      box.appendChild(more);
    }
  }

  var problemsBox = document.getElementById("problems");
  if (!D.problems.length) problemsBox.appendChild(el("p", { text: "No problems found." }));
  showFirst(problemsBox, D.problems, 20, function (p, k) {
    var clients = p.clients + " (" + p.client_examples.join(", ") + (p.clients > p.client_examples.length ? ", ..." : "") + ")";
    var example = p.example;
    var frames = (example.evidence || []).map(function (e) { return e.frame + " " + e.what; }).join("; ");
    var exampleIndex = findConnection(example.file, example.client, example.first_frame);
    var dl = el("dl", {},
      el("dt", { text: "count" }), el("dd", { text: plural(p.connections, "connection") + " from " + plural(p.clients, "client") + ": " + clients }),
      el("dt", { text: "window" }), el("dd", { text: p.start + " to " + p.end }),
      el("dt", { text: "at fault" }), el("dd", { text: p.side + " (" + p.confidence + ")" }));
    if (p.kind !== "finding" && p.cause) dl.append(el("dt", { text: "cause" }), el("dd", { text: p.cause }));
    dl.append(el("dt", { text: "why" }), el("dd", { text: p.kind === "finding" ? p.cause : example.explanation }));
    if (p.client_fingerprint && p.connections > 1) {
      dl.append(el("dt", { text: "clients" }), el("dd", { text: "all share the JA4 fingerprint " + p.client_fingerprint + " (one TLS stack)" }));
    }
    dl.append(el("dt", { text: "fix" }), el("dd", { text: p.fix }));
    var open = exampleIndex >= 0 ? el("button", { type: "button", text: "open", onclick: function () { openConnection(exampleIndex, true); } }) : null;
    dl.append(el("dt", { text: "example" }), el("dd", {}, example.client + " frame " + example.first_frame + (frames ? " [frames: " + frames + "]" : "") + " ", open));
    dl.append(el("dt", { text: "filter" }), el("dd", {}, filterLine(p.wireshark_filter, p.filter_covers)));
    var card = el("div", { cls: "problem " + (p.kind === "finding" ? "finding" : "connections"), "data-code": p.code },
      el("h3", { text: (k + 1) + ". " + p.code + " at " + p.server }), dl);
    problemsBox.appendChild(card);
  }, "problems");

  // ---- servers and their timelines ----
  var byServer = {};
  for (i = 0; i < N; i++) (byServer[C.server[i]] = byServer[C.server[i]] || []).push(i);
  var serversBox = document.getElementById("servers");
  var profiles = D.servers.slice().sort(function (a, b) { return b.connections - a.connections; });
  var TIMELINES = 60;
  var drawLater = []; // canvases are drawn once the page is laid out (their width is known then)
  serversBox.appendChild(el("div", { cls: "legend" },
    el("span", {}, el("i", { style: "background:var(--ok)" }), "completed"),
    el("span", {}, el("i", { style: "background:var(--fail)" }), "failed"),
    el("span", {}, el("i", { style: "background:var(--neutral)" }), "other (not TLS, abandoned, incomplete capture)")));
  showFirst(serversBox, profiles, TIMELINES, function (prof, k) {
    var server = sid(prof.server);
    var fails = Object.keys(prof.failures).map(function (c) { return c + " " + prof.failures[c]; }).join(", ");
    var versions = Object.keys(prof.versions).map(function (v) { return v + " " + prof.versions[v]; }).join(", ");
    var suites = Object.keys(prof.cipher_suites).map(function (v) { return v + " " + prof.cipher_suites[v]; }).join(", ");
    var box = el("div", { cls: "server", "data-server": prof.server },
      el("div", {}, el("span", { cls: "server-name", text: prof.server }),
        el("span", { cls: "server-stats", text: "  " + plural(prof.connections, "connection") + ", " + prof.ok + " ok" + (fails ? "; failed: " + fails : "") })),
      el("div", { cls: "server-stats", text: (versions ? "chose " + versions : "") + (suites ? "; " + suites : "") +
        (prof.certificates.length ? "; certificates: " + prof.certificates.join(", ") : "") }));
    (prof.findings || []).forEach(function (f) {
      box.appendChild(el("div", { cls: "server-stats", text: "finding " + f.code + ": " + f.explanation }));
    });
    serversBox.appendChild(box);
    if (server >= 0 && byServer[server]) {
      var canvas = el("canvas", { cls: "timeline", title: "click: list this server's connections" });
      canvas.addEventListener("click", function () { setFilter({ server: prof.server, verdict: "" }); });
      box.appendChild(canvas);
      if (drawLater) drawLater.push([canvas, byServer[server]]);
      else drawTimeline(canvas, byServer[server]);
    }
  }, "servers");

  function drawTimeline(canvas, rows) {
    var width = canvas.clientWidth || 800, height = 70, strip = 14;
    var ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    var g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    var span = Math.max(D.span, 1);
    var bins = Math.max(20, Math.floor(width / 3));
    var counts = [new Float64Array(bins), new Float64Array(bins), new Float64Array(bins)];
    var colors = ["#2e9d4a", "#d23f31", "#9aa3ad"];
    var max = 1;
    g.fillStyle = "#d23f31";
    rows.forEach(function (r) {
      var k = kind(S[C.code[r]]);
      var b = Math.min(bins - 1, Math.floor(C.start[r] / span * bins));
      var layer = k === "ok" ? 0 : k === "fail" ? 1 : 2;
      counts[layer][b]++;
      if (layer === 1) g.fillRect(Math.floor(C.start[r] / span * (width - 1)), 1, 1, strip - 3);
    });
    for (var b = 0; b < bins; b++) max = Math.max(max, counts[0][b] + counts[1][b] + counts[2][b]);
    var barWidth = width / bins, room = height - strip - 2;
    for (b = 0; b < bins; b++) {
      var y = height;
      [1, 2, 0].forEach(function (layer) {
        var h = counts[layer][b] / max * room;
        if (h > 0) {
          g.fillStyle = colors[layer];
          g.fillRect(b * barWidth, y - h, Math.max(barWidth - 0.5, 1), h);
          y -= h;
        }
      });
    }
    g.fillStyle = "#5b6570";
    g.font = "10px sans-serif";
    g.fillText("0 s", 2, height - 2);
    var end = seconds(D.span) + " s";
    g.fillText(end, width - g.measureText(end).width - 2, height - 2);
  }

  // ---- the connection table ----
  var columns = [
    ["frame", function (i) { return C.first_frame[i]; }, function (i) { return String(C.first_frame[i]); }],
    ["time (s)", function (i) { return C.start[i]; }, function (i) { return seconds(C.start[i]); }],
    ["client", function (i) { return S[C.client[i]]; }],
    ["server", function (i) { return S[C.server[i]]; }],
    ["SNI", function (i) { return S[C.sni[i]]; }],
    ["version", function (i) { return S[C.version[i]]; }],
    ["suite", function (i) { return S[C.suite[i]]; }],
    ["verdict", function (i) { return S[C.code[i]]; }]
  ];
  var sortColumn = -1, sortDescending = false, view = [], opened = -1;
  var head = document.getElementById("table-head");
  columns.forEach(function (col, k) {
    head.appendChild(el("span", { text: col[0], onclick: function () {
      if (sortColumn === k) sortDescending = !sortDescending; else { sortColumn = k; sortDescending = false; }
      applyFilters();
    } }));
  });

  var counts = {}, serverCounts = {};
  for (i = 0; i < N; i++) {
    counts[S[C.code[i]]] = (counts[S[C.code[i]]] || 0) + 1;
    serverCounts[S[C.server[i]]] = (serverCounts[S[C.server[i]]] || 0) + 1;
  }
  var fVerdict = document.getElementById("f-verdict"), fServer = document.getElementById("f-server");
  fVerdict.appendChild(el("option", { value: "failures", text: "failures (" + failures + ")" }));
  fVerdict.appendChild(el("option", { value: "", text: "all (" + N + ")" }));
  Object.keys(counts).sort().forEach(function (c) { fVerdict.appendChild(el("option", { value: c, text: c + " (" + counts[c] + ")" })); });
  fServer.appendChild(el("option", { value: "", text: "all servers" }));
  Object.keys(serverCounts).sort().forEach(function (s) { fServer.appendChild(el("option", { value: s, text: s + " (" + serverCounts[s] + ")" })); });
  var textFilters = { client: "f-client", sni: "f-sni", version: "f-version", suite: "f-suite" };

  function currentFilter() {
    var f = { verdict: fVerdict.value, server: fServer.value };
    for (var k in textFilters) f[k] = document.getElementById(textFilters[k]).value.trim().toLowerCase();
    return f;
  }
  function setFilter(f) {
    if ("verdict" in f) fVerdict.value = f.verdict;
    if ("server" in f) fServer.value = f.server;
    for (var k in textFilters) if (k in f) document.getElementById(textFilters[k]).value = f[k];
    applyFilters();
    document.getElementById("connections-section").scrollIntoView();
  }
  function applyFilters() {
    var f = currentFilter();
    var serverId = f.server ? sid(f.server) : -1;
    var codeId = f.verdict && f.verdict !== "failures" ? sid(f.verdict) : -1;
    var contains = function (sid, text) { return !text || S[sid].toLowerCase().indexOf(text) >= 0; };
    view = [];
    for (var i = 0; i < N; i++) {
      if (f.verdict === "failures" && !failing[S[C.code[i]]]) continue;
      if (codeId >= 0 && C.code[i] !== codeId) continue;
      if (f.verdict && f.verdict !== "failures" && codeId < 0) continue;
      if (f.server && C.server[i] !== serverId) continue;
      if (!contains(C.client[i], f.client) || !contains(C.sni[i], f.sni) || !contains(C.version[i], f.version) || !contains(C.suite[i], f.suite)) continue;
      view.push(i);
    }
    if (sortColumn >= 0) {
      var key = columns[sortColumn][1], sign = sortDescending ? -1 : 1;
      view.sort(function (a, b) { var x = key(a), y = key(b); return x < y ? -sign : x > y ? sign : a - b; });
    }
    Array.prototype.forEach.call(head.children, function (span, k) {
      span.className = k === sortColumn ? "sorted" + (sortDescending ? " desc" : "") : "";
    });
    document.getElementById("f-count").textContent = view.length + " of " + N + " shown";
    document.getElementById("table-space").style.height = (view.length * ROW) + "px";
    // A short list takes only its rows' height; a long one scrolls inside 460 pixels.
    body.style.height = Math.min(460, Math.max(view.length, 1) * ROW + 2) + "px";
    body.scrollTop = 0;
    renderRows();
    saveState();
  }
  var body = document.getElementById("table-body"), rowsBox = document.getElementById("table-rows");
  function renderRows() {
    var first = Math.floor(body.scrollTop / ROW);
    var count = Math.ceil((body.clientHeight || 460) / ROW) + 2;
    rowsBox.style.top = (first * ROW) + "px";
    rowsBox.textContent = "";
    for (var r = first; r < Math.min(view.length, first + count); r++) {
      var i = view[r];
      var row = el("div", { cls: "row conn" + (i === opened ? " open" : ""), "data-index": String(i) });
      columns.forEach(function (col, k) {
        var text = col[2] ? col[2](i) : col[1](i);
        if (k === columns.length - 1) {
          row.appendChild(el("span", { cls: "verdict " + kind(text), text: text + " (" + S[C.side[i]] + ", " + S[C.confidence[i]] + ")" }));
        } else row.appendChild(el("span", { text: text, title: text }));
      });
      row.addEventListener("click", openConnection.bind(null, i, false));
      rowsBox.appendChild(row);
    }
  }
  body.addEventListener("scroll", renderRows);
  ["f-verdict", "f-server"].forEach(function (id) { document.getElementById(id).addEventListener("change", applyFilters); });
  Object.keys(textFilters).forEach(function (k) { document.getElementById(textFilters[k]).addEventListener("input", applyFilters); });

  // ---- one connection: its facts and ladder diagram ----
  function openConnection(i, scroll) {
    opened = i;
    var d = C.detail[i];
    var section = document.getElementById("detail-section"), box = document.getElementById("detail");
    section.hidden = false;
    section.setAttribute("data-index", String(i));
    document.getElementById("detail-title").textContent =
      "Connection " + S[C.client[i]] + " \u2192 " + S[C.server[i]] + " (" + S[C.file[i]] + ", frame " + C.first_frame[i] + ")";
    box.textContent = "";
    var evidence = {};
    var evidenceText = [];
    for (var k = 0; k < d[5].length; k += 2) { evidence[d[5][k]] = true; evidenceText.push(d[5][k] + " " + S[d[5][k + 1]]); }
    var dl = el("dl", {},
      el("dt", { text: "verdict" }), el("dd", { cls: "verdict " + kind(S[C.code[i]]), text: S[C.code[i]] + " (at fault: " + S[C.side[i]] + ", " + S[C.confidence[i]] + ")" }),
      el("dt", { text: "why" }), el("dd", { text: S[d[0]] }));
    if (d[1]) dl.append(el("dt", { text: "fix" }), el("dd", { text: S[d[1]] }));
    if (d[2]) dl.append(el("dt", { text: "risks" }), el("dd", { text: S[d[2]] }));
    if (evidenceText.length) dl.append(el("dt", { text: "evidence" }), el("dd", { text: evidenceText.join("; ") }));
    dl.append(el("dt", { text: "filter" }), el("dd", {}, filterLine(C.filter[i])));
    if (d[3]) dl.append(el("dt", { text: "parameters" }), el("dd", { cls: "mono", text: S[d[3]] }));
    if (d[4]) dl.append(el("dt", { text: "certificates" }), el("dd", { cls: "mono", text: S[d[4]] }));
    box.appendChild(dl);
    box.appendChild(ladder(d[6], evidence, S[C.client[i]], S[C.server[i]]));
    renderRows();
    saveState();
    if (scroll) section.scrollIntoView();
  }

  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function ladder(events, evidence, client, server) {
    var left = 230, right = 700, top = 40, step = 30, count = events.length / 4;
    var height = top + count * step + 40;
    var root = svg("svg", { "class": "ladder", width: 900, height: height, viewBox: "0 0 900 " + height });
    var defs = svg("defs", {});
    var marker = svg("marker", { id: "arrowhead", markerWidth: 8, markerHeight: 8, refX: 7, refY: 4, orient: "auto" });
    marker.appendChild(svg("path", { d: "M0,0 L8,4 L0,8 z", fill: "#4a5561" }));
    defs.appendChild(marker);
    root.appendChild(defs);
    root.appendChild(svg("text", { x: left, y: 16, "text-anchor": "middle" }, "client " + client));
    root.appendChild(svg("text", { x: right, y: 16, "text-anchor": "middle" }, "server " + server));
    root.appendChild(svg("text", { x: 10, y: 16 }, "frame    time (ms)"));
    root.appendChild(svg("line", { "class": "lane", x1: left, y1: 24, x2: left, y2: height - 30 }));
    root.appendChild(svg("line", { "class": "lane", x1: right, y1: 24, x2: right, y2: height - 30 }));
    var ended = null; // the first FIN, RST or fatal alert: the side that ended the connection
    for (var k = 0; k < count; k++) {
      var frame = events[4 * k], us = events[4 * k + 1], fromClient = events[4 * k + 2] === 0, label = S[events[4 * k + 3]];
      var y = top + k * step + 10;
      var g = svg("g", { "class": "rung" + (evidence[frame] ? " evidence" : ""), "data-frame": String(frame) });
      g.appendChild(svg("text", { x: 10, y: y + 4 }, String(frame)));
      g.appendChild(svg("text", { x: 80, y: y + 4 }, us < 0 ? "" : "+" + (us / 1000).toFixed(3)));
      var x1 = fromClient ? left : right, x2 = fromClient ? right - 4 : left + 4;
      g.appendChild(svg("line", { "class": "arrow", x1: x1, y1: y, x2: x2, y2: y + 8, "marker-end": "url(#arrowhead)" }));
      g.appendChild(svg("text", { x: (left + right) / 2, y: y - 2, "text-anchor": "middle" }, label));
      root.appendChild(g);
      if (!ended && /^(FIN|RST|alert fatal)/.test(label)) ended = { fromClient: fromClient, label: label, frame: frame };
    }
    if (ended) {
      root.appendChild(svg("text", { x: left, y: height - 10, "class": "ended" },
        "ended by the " + (ended.fromClient ? "client" : "server") + ": " + ended.label + " in frame " + ended.frame));
    }
    return root;
  }

  // ---- state in the URL fragment ----
  function saveState() {
    var f = currentFilter(), parts = [];
    for (var k in f) if (f[k] && !(k === "verdict" && f[k] === defaultVerdict)) parts.push(k + "=" + encodeURIComponent(f[k]));
    if (f.verdict === "" && defaultVerdict !== "") parts.push("verdict=all");
    if (opened >= 0) parts.push("open=" + opened);
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (location.hash !== hash && history.replaceState) history.replaceState(null, "", hash || location.pathname);
  }
  var defaultVerdict = failures > 0 ? "failures" : "";
  var state = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    var kv = part.split("=");
    if (kv.length === 2) state[kv[0]] = decodeURIComponent(kv[1]);
  });
  fVerdict.value = state.verdict === "all" ? "" : state.verdict || defaultVerdict;
  if (state.server) fServer.value = state.server;
  for (var key in textFilters) if (state[key]) document.getElementById(textFilters[key]).value = state[key];
  applyFilters();
  var toOpen = parseInt(state.open, 10);
  if (toOpen >= 0 && toOpen < N) openConnection(toOpen, true);
  drawLater.forEach(function (job) { drawTimeline(job[0], job[1]); });
  drawLater = null; // servers shown later draw their timeline at once

  var files = document.getElementById("files");
  var table = el("table", { cls: "plain" }, el("tr", {}, el("th", { text: "input" }), el("th", { text: "format" }), el("th", { text: "frames" }), el("th", { text: "connections" }), el("th", { text: "error" })));
  D.files.forEach(function (f) {
    table.appendChild(el("tr", {}, el("td", { text: f.path }), el("td", { text: f.format || "" }), el("td", { text: String(f.frames) }),
      el("td", { text: String(f.connections) }), el("td", { text: f.error || "" })));
  });
  files.appendChild(table);
  // How long parsing and drawing took, for the README's measurement (body[data-render-ms]).
  document.body.setAttribute("data-render-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-ready", "1");
})();
