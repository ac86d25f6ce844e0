(function () {
  "use strict";
  // Every string from results reaches the page through textContent or setAttribute, never innerHTML.
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var AXES = DATA.axes, VALUES = DATA.values, CELLS = DATA.cells;
  var STATUS = {};
  DATA.statuses.forEach(function (s, i) { s.rank = i; STATUS[s.status] = s; });
  var BY_ID = {};
  CELLS.forEach(function (c) { BY_ID[c.id] = c; });
  var SVG = "http://www.w3.org/2000/svg";
  var state = null;

  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function svg(tag, attrs) { var node = document.createElementNS(SVG, tag); setAttrs(node, attrs); return node; }
  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = String(v);
      else if (k === "onclick") node.addEventListener("click", v);
      else node.setAttribute(k, String(v));
    });
  }
  function append(node) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); continue; }
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function num(x) { return typeof x === "number" ? x : Number(x); }
  function fmt(x, digits) {
    if (x === null || x === undefined) return "";
    var n = num(x);
    if (!isFinite(n)) return String(x);
    if (Math.abs(n) >= 10000) return Math.round(n).toLocaleString("en-US");
    if (n !== 0 && Math.abs(n) < 0.001) return n.toExponential((digits || 4) - 2);
    return String(Number(n.toPrecision(digits || 4)));
  }
  function value(cell, axis) { return VALUES[axis][cell.v[AXES.indexOf(axis)]]; }
  function badge(status, extra) {
    var s = STATUS[status];
    return el("span", { "class": "badge " + s.css + (extra ? " " + extra : "") }, s.symbol + " " + s.status);
  }

  // ---- state in the URL hash: rows, cols, status, f.<axis> (repeated), cell ----
  function defaultState() {
    return {
      rows: DATA.defaults.rows.filter(function (a) { return AXES.indexOf(a) >= 0; }),
      cols: DATA.defaults.cols.filter(function (a) { return AXES.indexOf(a) >= 0; }),
      status: [], filters: {}, cell: null
    };
  }
  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    var s = defaultState();
    var known = function (a) { return AXES.indexOf(a) >= 0; };
    if (p.has("rows")) s.rows = p.get("rows").split(",").filter(known);
    if (p.has("cols")) s.cols = p.get("cols").split(",").filter(known);
    s.cols = s.cols.filter(function (a) { return s.rows.indexOf(a) < 0; });
    if (p.has("status")) s.status = p.get("status").split(",").filter(function (x) { return x in STATUS; });
    AXES.forEach(function (a) {
      var chosen = p.getAll("f." + a).filter(function (v) { return VALUES[a].indexOf(v) >= 0; });
      if (chosen.length) s.filters[a] = chosen;
    });
    s.cell = BY_ID[p.get("cell")] ? p.get("cell") : null;
    return s;
  }
  function writeHash() {
    var p = new URLSearchParams();
    p.set("rows", state.rows.join(","));
    p.set("cols", state.cols.join(","));
    if (state.status.length) p.set("status", state.status.join(","));
    AXES.forEach(function (a) { (state.filters[a] || []).forEach(function (v) { p.append("f." + a, v); }); });
    if (state.cell) p.set("cell", state.cell);
    history.replaceState(null, "", "#" + p.toString());
  }
  function toggle(list, item) {
    var i = list.indexOf(item);
    if (i >= 0) list.splice(i, 1); else list.push(item);
  }
  function shown(cell) {
    if (state.status.length && state.status.indexOf(cell.status) < 0) return false;
    for (var i = 0; i < AXES.length; i++) {
      var f = state.filters[AXES[i]];
      if (f && f.length && f.indexOf(VALUES[AXES[i]][cell.v[i]]) < 0) return false;
    }
    return true;
  }
  function update() { writeHash(); render(); }

  // ---- controls ----
  function renderControls() {
    var statusBox = document.getElementById("status-filter");
    clear(statusBox);
    var present = {};
    CELLS.forEach(function (c) { present[c.status] = (present[c.status] || 0) + 1; });
    append(statusBox, el("span", { "class": "hint" }, "status:"));
    DATA.statuses.forEach(function (s) {
      if (!present[s.status]) return;
      var on = state.status.indexOf(s.status) >= 0;
      append(statusBox, el("button", {
        type: "button", "class": "chip status-chip " + s.css + (on ? " on" : ""), "data-status": s.status,
        "aria-pressed": on ? "true" : "false", onclick: function () { toggle(state.status, s.status); update(); }
      }, s.symbol + " " + s.status + " " + present[s.status]));
    });
    document.querySelectorAll("#counts .count").forEach(function (b) {
      b.classList.toggle("active", state.status.indexOf(b.getAttribute("data-status")) >= 0);
    });
    var table = document.getElementById("axis-controls");
    clear(table);
    AXES.forEach(function (axis, i) {
      var role = state.rows.indexOf(axis) >= 0 ? "rows" : state.cols.indexOf(axis) >= 0 ? "cols" : "";
      var seg = el("span", { "class": "seg", role: "group", "aria-label": axis + " placement" });
      [["rows", "rows"], ["cols", "columns"], ["", "filter"]].forEach(function (r) {
        append(seg, el("button", {
          type: "button", "class": role === r[0] ? "on" : "", "data-axis": axis, "data-role": r[0] || "none",
          onclick: function () { place(axis, r[0]); }
        }, r[1]));
      });
      var counts = {};
      CELLS.forEach(function (c) { counts[c.v[i]] = (counts[c.v[i]] || 0) + 1; });
      var chips = el("div", { "class": "chips" });
      VALUES[axis].forEach(function (v, j) {
        var on = (state.filters[axis] || []).indexOf(v) >= 0;
        append(chips, el("button", {
          type: "button", "class": "chip" + (on ? " on" : ""), "data-axis": axis, "data-value": v,
          "aria-pressed": on ? "true" : "false", title: counts[j] + " cells",
          onclick: function () {
            var list = state.filters[axis] || (state.filters[axis] = []);
            toggle(list, v); update();
          }
        }, v, el("span", { "class": "n" }, String(counts[j]))));
      });
      append(table, el("tr", {}, el("td", { "class": "axis-name" }, axis), el("td", {}, seg), el("td", {}, chips)));
    });
  }
  function place(axis, role) {
    state.rows = state.rows.filter(function (a) { return a !== axis; });
    state.cols = state.cols.filter(function (a) { return a !== axis; });
    if (role === "rows") state.rows.push(axis);
    if (role === "cols") state.cols.push(axis);
    update();
  }

  // ---- pivot ----
  function keyOf(cell, axes) { return axes.map(function (a) { return cell.v[AXES.indexOf(a)]; }); }
  function compareKeys(a, b) {
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  }
  function uniqueKeys(keys) {
    var seen = {}, out = [];
    keys.forEach(function (k) { var s = k.join("."); if (!seen[s]) { seen[s] = 1; out.push(k); } });
    return out.sort(compareKeys);
  }
  function renderPivot(cells) {
    var table = document.getElementById("pivot");
    clear(table);
    var groups = {};
    cells.forEach(function (c) {
      var k = keyOf(c, state.rows).join(".") + "|" + keyOf(c, state.cols).join(".");
      (groups[k] = groups[k] || []).push(c);
    });
    var rowKeys = uniqueKeys(cells.map(function (c) { return keyOf(c, state.rows); }));
    var colKeys = uniqueKeys(cells.map(function (c) { return keyOf(c, state.cols); }));
    var thead = el("thead");
    var depth = Math.max(1, state.cols.length);
    for (var level = 0; level < depth; level++) {
      var tr = el("tr");
      if (level === 0) {
        var corner = state.rows.length ? state.rows.join(" × ") : "all cells";
        append(tr, el("th", { "class": "axis-head", colspan: Math.max(1, state.rows.length), rowspan: depth },
          corner + (state.cols.length ? "  \\  " + state.cols.join(" × ") : "")));
      }
      if (!state.cols.length) append(tr, el("th", {}, "cells"));
      for (var j = 0; j < colKeys.length && state.cols.length; j++) {
        var prefix = colKeys[j].slice(0, level + 1).join(".");
        if (j > 0 && colKeys[j - 1].slice(0, level + 1).join(".") === prefix) continue;
        var span = 1;
        while (j + span < colKeys.length && colKeys[j + span].slice(0, level + 1).join(".") === prefix) span++;
        append(tr, el("th", { colspan: span, title: state.cols[level] }, VALUES[state.cols[level]][colKeys[j][level]]));
      }
      append(thead, tr);
    }
    append(table, thead);
    var tbody = el("tbody");
    rowKeys.forEach(function (rk, r) {
      var tr = el("tr");
      if (!state.rows.length) append(tr, el("th", {}, "all"));
      state.rows.forEach(function (axis, level) {
        var same = r > 0 && rowKeys[r - 1].slice(0, level + 1).join(".") === rk.slice(0, level + 1).join(".");
        append(tr, el("th", { title: axis, "class": same ? "repeat" : "" }, same ? "" : VALUES[axis][rk[level]]));
      });
      colKeys.forEach(function (ck) {
        var group = groups[rk.join(".") + "|" + ck.join(".")];
        append(tr, group ? el("td", {}, entryButton(group, rk, ck)) : el("td", { "class": "empty", title: "no cells" }));
      });
      append(tbody, tr);
    });
    append(table, tbody);
    document.getElementById("shown").textContent = cells.length + " of " + CELLS.length + " cells shown";
  }
  function entryButton(group, rk, ck) {
    var counts = {};
    group.forEach(function (c) { counts[c.status] = (counts[c.status] || 0) + 1; });
    var order = Object.keys(counts).sort(function (a, b) { return STATUS[a].rank - STATUS[b].rank; });
    var worst = STATUS[order[0]];
    var words = order.map(function (s) { return counts[s] + " " + s; }).join(", ");
    var button = el("button", {
      type: "button", "class": "entry " + worst.css, "data-count": group.length, "data-worst": worst.status,
      title: words
    });
    if (group.length === 1) {
      button.setAttribute("data-cell-id", group[0].id);
      append(button, [el("span", { "class": "sym" }, worst.symbol), worst.status]);
      button.addEventListener("click", function () { openCell(group[0].id); });
    } else {
      order.forEach(function (s, i) {
        append(button, el("span", { "class": "part" + (i ? " minor" : "") }, STATUS[s].symbol + " " + counts[s]));
      });
      button.addEventListener("click", function () { openGroup(group, rk, ck); });
    }
    return button;
  }
  function renderLegend() {
    var legend = document.getElementById("legend");
    clear(legend);
    DATA.statuses.forEach(function (s) { append(legend, badge(s.status)); });
    append(legend, " A square holding several cells counts them by status and takes the worst one's colour.");
  }

  // ---- cell list ----
  function renderCells(cells) {
    var table = document.getElementById("cells");
    clear(table);
    append(table, el("thead", {}, el("tr", {}, ["status", "cell", "loss first → last", "peak MiB", "tokens/s", "time s", "reason"]
      .map(function (h) { return el("th", {}, h); }))));
    var tbody = el("tbody");
    cells.forEach(function (c) {
      var losses = c.losses || [];
      var peak = c.memory && c.memory.peak_rss_mb;
      var time = c.timings && (c.timings.wall_s !== undefined ? c.timings.wall_s : c.timings.total_s);
      append(tbody, el("tr", { "class": "cell-row", "data-cell-id": c.id, onclick: function () { openCell(c.id); } },
        el("td", {}, badge(c.status)),
        el("td", { "class": "label" }, c.label),
        el("td", { "class": "num" }, losses.length ? fmt(losses[0]) + " → " + fmt(losses[losses.length - 1]) : ""),
        el("td", { "class": "num" }, peak !== undefined ? fmt(peak, 3) : ""),
        el("td", { "class": "num" }, c.tokens_per_s !== undefined ? fmt(c.tokens_per_s) : ""),
        el("td", { "class": "num" }, time !== undefined ? fmt(time, 3) : ""),
        el("td", { "class": "reason", title: c.reason || "" }, c.reason || "")));
    });
    append(table, tbody);
  }

  // ---- details ----
  function openCell(id) { state.cell = id; writeHash(); showCell(BY_ID[id]); }
  function panel(title) {
    var aside = document.getElementById("details");
    document.getElementById("details-title").textContent = title;
    var body = document.getElementById("details-body");
    clear(body);
    aside.hidden = false;
    return body;
  }
  function closeDetails() {
    document.getElementById("details").hidden = true;
    if (state.cell) { state.cell = null; writeHash(); }
  }
  function openGroup(group, rk, ck) {
    var where = state.rows.map(function (a, i) { return a + "=" + VALUES[a][rk[i]]; })
      .concat(state.cols.map(function (a, i) { return a + "=" + VALUES[a][ck[i]]; })).join(" ");
    var body = panel(group.length + " cells: " + where);
    var list = el("ul", { "class": "group-list" });
    group.forEach(function (c) {
      append(list, el("li", {}, badge(c.status), " ",
        el("button", { type: "button", "data-cell-id": c.id, onclick: function () { openCell(c.id); } }, c.label)));
    });
    append(body, list);
  }
  function kv(rows) {
    return el("table", { "class": "kv" }, rows.map(function (r) {
      return el("tr", {}, el("th", {}, r[0]), el("td", { "class": r[2] || "" }, r[1]));
    }));
  }
  function showCell(cell) {
    var body = panel(cell.label);
    var s = STATUS[cell.status];
    append(body, el("span", { "class": "big-status " + s.css }, s.symbol + " " + s.status));
    if (cell.reason) append(body, el("p", { "class": "reason" }, cell.reason));
    append(body, el("h3", {}, "Values"));
    append(body, kv(AXES.map(function (a) { return [a, value(cell, a)]; })));
    var common = Object.keys(DATA.common);
    if (common.length) {
      append(body, el("details", {}, el("summary", { "class": "hint" }, common.length + " more values, the same for every cell"),
        kv(common.map(function (k) { return [k, String(DATA.common[k])]; }))));
    }
    if (cell.checks) {
      append(body, el("h3", {}, "Checks"));
      append(body, el("table", { "class": "kv" }, cell.checks.map(function (c) {
        var figures = Object.keys(c.figures || {}).map(function (k) { return k + "=" + fmt(c.figures[k]); }).join("  ");
        return el("tr", {}, el("td", { "class": c.passed ? "check-ok" : "check-bad" }, c.passed ? "✓ pass" : "✗ fail"),
          el("th", {}, c.name), el("td", {}, c.detail, figures ? el("div", { "class": "figures" }, figures) : null));
      })));
    }
    if (cell.losses || cell.lrs) {
      append(body, el("h3", {}, "Curves"));
      append(body, el("div", { "class": "charts" },
        cell.losses ? chart(cell.losses, "loss", "loss") : null, cell.lrs ? chart(cell.lrs, "learning rate", "lr") : null));
    }
    var memory = cell.memory || {};
    if (Object.keys(memory).length) {
      append(body, el("h3", {}, "Peak memory (MiB above the cell's start)"));
      var phases = memory.phases_mb || {};
      var top = Math.max.apply(null, Object.keys(phases).map(function (k) { return num(phases[k]); }).concat([1e-9]));
      var rows = Object.keys(phases).map(function (k) {
        return [k, el("div", { style: "display:flex;gap:8px;align-items:center" },
          el("div", { "class": "bar", style: "width:" + Math.round(200 * num(phases[k]) / top) + "px" }), fmt(phases[k]))];
      });
      [["peak_rss_mb", "peak (MiB)"], ["peak_tree_rss_mb", "trainer's process tree, peak (MiB)"], ["peak_gpu_mb", "GPU, peak (MiB)"],
        ["baseline_rss_mb", "process at start (MiB)"], ["method", "measured by"]].forEach(function (k) {
        if (memory[k[0]] !== undefined) rows.push([k[1], fmt(memory[k[0]])]);
      });
      append(body, kv(rows));
    }
    var timings = cell.timings || {};
    if (Object.keys(timings).length || cell.tokens_per_s !== undefined) {
      append(body, el("h3", {}, "Timings"));
      var trows = Object.keys(timings).map(function (k) { return [k.replace(/_s$/, " (s)"), fmt(timings[k]), "num"]; });
      if (cell.tokens_per_s !== undefined) trows.push(["tokens/s", fmt(cell.tokens_per_s), "num"]);
      append(body, kv(trows));
    }
    if (cell.error) {
      append(body, el("h3", {}, "Error"));
      append(body, el("div", { "class": "mono" }, cell.error.type));
      append(body, el("pre", { "class": "block error-message" }, cell.error.message));
      if (cell.error.traceback) {
        append(body, el("details", {}, el("summary", { "class": "hint" }, "traceback"), el("pre", { "class": "block" }, cell.error.traceback)));
      }
    }
    if (cell.log || cell.tail) {
      append(body, el("h3", {}, "Log"));
      if (cell.log && /^(\.\/|file:)/.test(cell.log)) append(body, el("a", { href: cell.log, "class": "log-link" }, "open the full log"));
      if (cell.tail) {
        var tail = el("pre", { "class": "block log-tail" }, cell.tail);
        append(body, tail);
        tail.scrollTop = tail.scrollHeight;  // the end of a log says most
      }
    }
    var settings = cell.engine !== undefined ? DATA.engines[cell.engine] : null;
    if (settings && settings.argv) {  // a command runner's cell: what ran, with which environment names
      append(body, el("h3", {}, "Command (runner " + settings.runner + ")"));
      var quoted = settings.argv.map(function (a) { return /^[\w@%+=:,.\/{}-]+$/.test(a) ? a : "'" + a.replace(/'/g, "'\"'\"'") + "'"; });
      var crows = [["argv", el("pre", { "class": "block" }, quoted.join(" "))],
        ["environment (names only)", (settings.env_names || []).join(" ")]];
      if (settings.reader) crows.push(["metrics", "reader " + settings.reader.reader + " read " + settings.reader.source + ", " + settings.reader.matches + " matches"]);
      Object.keys(settings.not_checked || {}).forEach(function (k) { crows.push([k, "not checked: " + settings.not_checked[k]]); });
      append(body, kv(crows));
    }
    if (cell.engine !== undefined) {
      append(body, el("details", {}, el("summary", { "class": "hint" }, "engine settings"),
        el("pre", { "class": "block" }, JSON.stringify(DATA.engines[cell.engine], null, 1))));
    }
    append(body, el("p", { "class": "hint" }, "cell " + cell.id + (cell.attempt ? " · attempt " + cell.attempt : "")));
  }
  function chart(values, title, kind) {
    var W = 300, H = 150, L = 48, R = 10, T = 10, B = 24;
    var ys = values.map(num), finite = ys.filter(isFinite);
    var box = el("div", { "class": "chart" }, el("div", { "class": "chart-title" }, title + " over " + values.length + " steps"));
    var root = svg("svg", { "class": "curve " + kind, width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title + " curve" });
    var lo = Math.min.apply(null, finite.length ? finite : [0]), hi = Math.max.apply(null, finite.length ? finite : [1]);
    if (hi === lo) { var pad = Math.abs(hi) * 0.1 || 1; lo -= pad; hi += pad; }
    var x = function (i) { return L + (values.length > 1 ? i / (values.length - 1) : 0.5) * (W - L - R); };
    var y = function (v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); };
    [lo, (lo + hi) / 2, hi].forEach(function (v) {
      root.appendChild(svg("line", { "class": "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      var label = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
      label.textContent = fmt(v, 3);
      root.appendChild(label);
    });
    root.appendChild(svg("line", { "class": "axis", x1: L, x2: L, y1: T, y2: H - B }));
    root.appendChild(svg("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    var d = "", pen = false;
    ys.forEach(function (v, i) {
      if (!isFinite(v)) { pen = false; root.appendChild(svg("circle", { cx: x(i), cy: T + 3, r: 3 })); return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1) + " ";
      pen = true;
    });
    if (finite.length === 1) d += "h1";
    root.appendChild(svg("path", { "class": "line", d: d.trim() }));
    [[L, "start", "step 1"], [W - R, "end", "step " + values.length]].forEach(function (t) {
      var label = svg("text", { x: t[0], y: H - 8, "text-anchor": t[1] });
      label.textContent = t[2];
      root.appendChild(label);
    });
    box.appendChild(root);
    return box;
  }

  function render() {
    var cells = CELLS.filter(shown);
    renderControls();
    renderPivot(cells);
    renderCells(cells);
    if (state.cell) showCell(BY_ID[state.cell]); else document.getElementById("details").hidden = true;
  }

  document.getElementById("details-close").addEventListener("click", closeDetails);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeDetails(); });
  document.getElementById("reset").addEventListener("click", function () { state = defaultState(); update(); });
  document.querySelectorAll("#counts .count").forEach(function (b) {
    b.addEventListener("click", function () { toggle(state.status, b.getAttribute("data-status")); update(); });
  });
  // Cell links in the server-rendered header and changes section; a cell no longer in the run has no details.
  document.querySelectorAll("[data-open-cell]").forEach(function (b) {
    var id = b.getAttribute("data-open-cell");
    if (BY_ID[id]) b.addEventListener("click", function () { openCell(id); }); else b.disabled = true;
  });
  window.addEventListener("hashchange", function () { state = readHash(); render(); });
  state = readHash();
  renderLegend();
  render();
})();
