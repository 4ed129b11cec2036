/* mechcirc report glue: reads the page's JSON (#report-data), hands it to plotly.js (and
   circuitsvis) and wires the controls. No chart is drawn by hand; nothing is fetched. */
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const CONFIG = { displaylogo: false, responsive: true };
  const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 11 };
  const COLOURS = {
    q: "#2b6cb0", k: "#2f855a", v: "#c05621", mlp: "#6b46c1", logits: "#4a5568", merged: "#b7791f",
  };
  const PORT = { q: -0.15, k: 0, v: 0.15 }; // where q/k/v inputs enter a head, in head widths
  const DEFAULT_K = 30;
  const $ = (selector, root) => (root || document).querySelector(selector);
  const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toPrecision(4));

  function nodeColour(name) {
    if (name === "input") return "#718096";
    if (name === "logits") return "#1a202c";
    if (name.startsWith("m")) return COLOURS.mlp;
    return name.includes(".kv") ? COLOURS.k : COLOURS.q;
  }

  // ---- the circuit drawing: top-k edges of a selection, layered, hover and highlight ----
  class CircuitView {
    constructor(root) {
      this.root = root;
      this.plot = $(".circuit-plot", root);
      this.range = $(".k-range", root);
      this.kLabel = $(".k-value", root);
      this.threshold = $(".threshold", root);
      this.onlyCircuit = $(".only-circuit", root);
      this.merge = $(".merge", root);
      this.caption = $(".caption", root);
      this.k = null;
      this.highlight = null;
      this.range.addEventListener("input", () => {
        this.k = Number(this.range.value);
        this.threshold.value = "";
        this.draw();
      });
      this.threshold.addEventListener("change", () => this.applyThreshold());
      this.onlyCircuit.addEventListener("change", () => this.draw());
      this.merge.addEventListener("change", () => this.draw());
    }

    show(graph, selection, label) {
      this.graph = graph;
      this.sel = selection;
      this.label = label || "";
      this.draw();
    }

    // positions in the selection arrays the controls choose from, strongest first
    candidates() {
      const sel = this.sel;
      if (!sel) return [];
      const circuitOnly = this.onlyCircuit.checked && sel.c.some((c) => c);
      const out = [];
      for (let i = 0; i < sel.e.length; i++) if (!circuitOnly || sel.c[i]) out.push(i);
      return out;
    }

    applyThreshold() {
      const t = parseFloat(this.threshold.value);
      if (!(t >= 0) || !this.sel) return;
      const above = this.candidates().filter((i) => Math.abs(this.sel.s[i]) >= t).length;
      this.k = Math.max(1, above);
      this.draw();
    }

    draw() {
      const cands = this.candidates();
      const n = cands.length;
      if (this.k === null) this.k = Math.min(DEFAULT_K, n);
      const k = n ? Math.max(1, Math.min(this.k, n)) : 0;
      this.range.max = Math.max(n, 1);
      this.range.value = Math.max(k, 1);
      this.range.disabled = n === 0;
      this.kLabel.textContent = `${k} of ${n}`;
      const shown = cands.slice(0, k);
      const nCircuit = this.sel ? this.sel.c.reduce((a, b) => a + b, 0) : 0;
      const pool = this.onlyCircuit.checked && nCircuit ? "circuit edges" : "stored edges";
      const weakest = k ? Math.abs(this.sel.s[shown[k - 1]]) : 0;
      this.caption.textContent = this.sel
        ? `${this.label}${this.label ? ": " : ""}the ${k} strongest of ${n} ${pool} ` +
          `(|score| ≥ ${fmt(weakest)}); the circuit has ${nCircuit} edges.`
        : `${this.label}: no edges stored for this checkpoint.`;
      this.edges = this.buildEdges(shown);
      this.placeNodes();
      this.highlight = null;
      this.render();
    }

    buildEdges(shown) {
      const g = this.graph.edges;
      const kinds = this.graph.kinds;
      const sel = this.sel;
      let list = shown.map((i) => ({
        src: g.src[sel.e[i]],
        dst: g.dst[sel.e[i]],
        kind: kinds[g.kind[sel.e[i]]],
        score: sel.s[i],
        abs: Math.abs(sel.s[i]),
        inCircuit: Boolean(sel.c[i]),
        parts: [[g.name[sel.e[i]], sel.s[i]]],
      }));
      if (!this.merge.checked) return list;
      const pairs = new Map();
      for (const e of list) {
        const key = `${e.src}>${e.dst}`;
        const m = pairs.get(key);
        if (!m) {
          pairs.set(key, { ...e, parts: e.parts.slice() });
          continue;
        }
        m.score += e.score;
        m.abs += e.abs;
        m.parts.push(...e.parts);
        m.inCircuit = m.inCircuit || e.inCircuit;
        if (m.kind !== e.kind) m.kind = "merged";
      }
      return Array.from(pairs.values());
    }

    placeNodes() {
      const N = this.graph.nodes;
      const used = new Set();
      for (const e of this.edges) {
        used.add(e.src);
        used.add(e.dst);
      }
      this.nodes = Array.from(used);
      const rows = Array.from(new Set(this.nodes.map((n) => N.row[n]))).sort((a, b) => a - b);
      this.rows = rows;
      this.yOf = new Map(rows.map((r, i) => [r, i]));
    }

    xy(node, kind) {
      const N = this.graph.nodes;
      const port = kind && !this.merge.checked ? PORT[kind] || 0 : 0;
      return [N.x[node] + port, this.yOf.get(N.row[node])];
    }

    edgeText(e) {
      const names = this.graph.nodes.name;
      const member = e.inCircuit ? " · in circuit" : "";
      if (e.parts.length === 1) return `${e.parts[0][0]}<br>score ${fmt(e.score)}${member}`;
      const parts = e.parts.map(([name, s]) => `${name.split("<")[1] || ""} ${fmt(s)}`);
      return `${names[e.src]} → ${names[e.dst]} (merged)<br>sum ${fmt(e.score)}` +
        ` · |score| ${fmt(e.abs)}${member}<br>${parts.join(", ")}`;
    }

    traces() {
      const hl = this.highlight;
      const maxAbs = Math.max(...this.edges.map((e) => e.abs), 1e-30);
      const groups = new Map();
      const mid = { x: [], y: [], text: [], names: [] };
      for (const e of this.edges) {
        const [x0, y0] = this.xy(e.src);
        const [x1, y1] = this.xy(e.dst, e.kind);
        const lit = hl === null || e.src === hl || e.dst === hl;
        const bucket = Math.max(1, Math.ceil((4 * e.abs) / maxAbs));
        const key = [e.kind, e.score < 0, bucket, lit].join("|");
        if (!groups.has(key)) groups.set(key, { e, bucket, lit, x: [], y: [] });
        const grp = groups.get(key);
        grp.x.push(x0, x1, null);
        grp.y.push(y0, y1, null);
        mid.x.push((x0 + x1) / 2);
        mid.y.push((y0 + y1) / 2);
        mid.text.push(this.edgeText(e));
        mid.names.push(e.parts.map((p) => p[0]).join(","));
      }
      const lines = Array.from(groups.values()).map((grp) => ({
        type: "scatter",
        mode: "lines",
        name: grp.lit && hl !== null ? "highlight" : "edges",
        x: grp.x,
        y: grp.y,
        hoverinfo: "skip",
        showlegend: false,
        opacity: hl === null ? 0.75 : grp.lit ? 1 : 0.06,
        line: {
          color: COLOURS[grp.e.kind],
          width: 0.6 + 1.35 * grp.bucket,
          dash: grp.e.score < 0 ? "dash" : "solid",
        },
      }));
      return [...lines, this.edgeTargets(mid), this.nodeTrace()];
    }

    edgeTargets(mid) {
      return {
        type: "scatter", mode: "markers", name: "edge-targets", x: mid.x, y: mid.y,
        hovertext: mid.text, hoverinfo: "text", customdata: mid.names, showlegend: false,
        marker: { size: 10, opacity: 0 },
      };
    }

    nodeTrace() {
      const names = this.graph.nodes.name;
      const stats = new Map(this.nodes.map((n) => [n, { nIn: 0, sIn: 0, nOut: 0, sOut: 0 }]));
      for (const e of this.edges) {
        stats.get(e.dst).nIn += 1;
        stats.get(e.dst).sIn += e.abs;
        stats.get(e.src).nOut += 1;
        stats.get(e.src).sOut += e.abs;
      }
      const xy = this.nodes.map((n) => this.xy(n));
      return {
        type: "scatter", mode: "markers+text", name: "nodes", showlegend: false,
        x: xy.map((p) => p[0]), y: xy.map((p) => p[1]),
        text: this.nodes.map((n) => names[n]), textposition: "top center",
        textfont: { size: 9, color: "#333" }, customdata: this.nodes, hoverinfo: "text",
        hovertext: this.nodes.map((n) => {
          const s = stats.get(n);
          return `${names[n]}<br>in: ${s.nIn} edges, |score| ${fmt(s.sIn)}` +
            `<br>out: ${s.nOut} edges, |score| ${fmt(s.sOut)}`;
        }),
        marker: {
          size: 11, color: this.nodes.map((n) => nodeColour(names[n])),
          line: { width: 1, color: "#fff" },
        },
      };
    }

    layout() {
      const labels = this.graph.rows;
      const nHeads = this.graph.n_heads;
      return {
        height: Math.max(320, 60 + 46 * this.rows.length),
        margin: { l: 70, r: 10, t: 10, b: 10 },
        font: FONT,
        hovermode: "closest",
        showlegend: false,
        dragmode: "pan",
        xaxis: { visible: false, range: [-1, nHeads + 1.5] },
        yaxis: {
          tickvals: this.rows.map((_, i) => i),
          ticktext: this.rows.map((r) => labels[r]),
          range: [-0.6, this.rows.length - 0.3],
          zeroline: false,
          gridcolor: "#eee",
        },
      };
    }

    render() {
      if (!this.edges.length) {
        Plotly.purge(this.plot);
        this.plot.textContent = "No edges to draw.";
        return;
      }
      if (!this.plot.on) this.plot.textContent = "";
      Plotly.react(this.plot, this.traces(), this.layout(), CONFIG);
      if (!this.wired) {
        this.wired = true;
        // A redraw can emit unhover/hover again: ignore events during our own redraws, and
        // clear a highlight only when no node is hovered again shortly after.
        this.plot.on("plotly_hover", (ev) => {
          const point = ev.points[0];
          if (point.data.name !== "nodes" || this.redrawing) return;
          clearTimeout(this.clearing);
          if (this.highlight !== point.customdata) this.setHighlight(point.customdata);
        });
        this.plot.on("plotly_unhover", () => {
          if (this.redrawing || this.highlight === null) return;
          clearTimeout(this.clearing);
          this.clearing = setTimeout(() => this.setHighlight(null), 150);
        });
      }
    }

    setHighlight(node) {
      this.highlight = node;
      this.redrawing = true;
      Plotly.react(this.plot, this.traces(), this.layout(), CONFIG).then(() => {
        this.redrawing = false;
      });
    }
  }

  // ---- sortable tables ----
  function sortableTable(div, columns, rows, limit) {
    let order = rows.slice();
    let sortBy = null;
    let descending = true;
    function render() {
      const table = document.createElement("table");
      const head = table.createTHead().insertRow();
      columns.forEach((name, c) => {
        const th = document.createElement("th");
        const arrow = sortBy === c ? (descending ? " ▼" : " ▲") : "";
        th.textContent = name + arrow;
        th.title = "sort";
        th.addEventListener("click", () => {
          descending = sortBy === c ? !descending : true;
          sortBy = c;
          order = rows.slice().sort((a, b) => {
            const x = a[c];
            const y = b[c];
            const cmp = x < y ? -1 : x > y ? 1 : 0;
            return descending ? -cmp : cmp;
          });
          render();
        });
        head.appendChild(th);
      });
      const body = table.createTBody();
      for (const row of order.slice(0, limit)) {
        const tr = body.insertRow();
        for (const value of row) {
          tr.insertCell().textContent = typeof value === "number" && !Number.isInteger(value)
            ? fmt(value) : String(value);
        }
      }
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = `${Math.min(limit, rows.length)} of ${rows.length} rows shown; ` +
        "click a column to sort.";
      div.replaceChildren(note, table);
    }
    render();
  }

  const BASE_SHAPES = {}; // each static figure's own shapes (plotly keeps and edits its layout)

  function plotStaticFigures() {
    for (const [id, fig] of Object.entries(DATA.figures || {})) {
      const div = document.getElementById(id);
      if (!div) continue;
      BASE_SHAPES[id] = JSON.parse(JSON.stringify(fig.layout.shapes || []));
      Plotly.newPlot(div, fig.data, fig.layout, CONFIG);
    }
  }

  // ---- the run page ----
  function runPage() {
    const view = new CircuitView($("#circuit"));
    view.show(DATA.graph, DATA.selection, "");
    const g = DATA.graph.edges;
    const sel = DATA.selection;
    const edgeRows = sel.e.map((id, i) => [
      i + 1, g.name[id], DATA.graph.kinds[g.kind[id]], sel.s[i], Math.abs(sel.s[i]),
      sel.c[i] ? "yes" : "no",
    ]);
    sortableTable($("#edges-table"), ["rank", "edge", "kind", "score", "|score|", "in circuit"],
      edgeRows, 300);
    const nodes = DATA.nodes_table;
    const nodeRows = nodes.rows.map((r) => r.map((v) => (v === true ? "yes" : v === false ? "no" : v)));
    sortableTable($("#nodes-table"), nodes.columns, nodeRows, 300);
  }

  // ---- the sweep page ----
  function headHistory(model, name, layer, head) {
    const cp = model.checkpoints;
    const traces = model.heads.scores.map((score) => {
      const values = model.heads.values[score];
      const x = [];
      const y = [];
      cp.tokens.forEach((t, i) => {
        if (t > 0 && values[i]) {
          x.push(t);
          y.push(values[i][layer][head]);
        }
      });
      return { type: "scatter", mode: "lines+markers", name: score, x, y, marker: { size: 5 } };
    });
    Plotly.react($("#head-history"), traces, {
      title: { text: `a${layer}.h${head} of ${name} over training`, font: { size: 14 } },
      font: FONT, height: 300, margin: { l: 55, r: 10, t: 40, b: 45 },
      xaxis: { type: "log", title: { text: "tokens" } }, yaxis: { title: { text: "score" } },
      legend: { orientation: "h", y: -0.25 },
    }, CONFIG);
  }

  function drawHeatmaps(name, model, i) {
    const box = $("#heatmaps");
    if (box.dataset.model !== name) {
      box.replaceChildren();
      box.dataset.model = name;
      model.heads.scores.forEach((score, s) => {
        const div = document.createElement("div");
        div.className = "heatmap";
        div.id = `heatmap-${s}`;
        div.dataset.score = score;
        box.appendChild(div);
      });
    }
    model.heads.scores.forEach((score, s) => {
      const div = document.getElementById(`heatmap-${s}`);
      const z = model.heads.values[score][i];
      const [zmin, zmax] = model.heads.range[score];
      const diverging = zmin < 0;
      const limit = Math.max(Math.abs(zmin), Math.abs(zmax));
      const trace = {
        type: "heatmap", z: z || [[null]], colorscale: diverging ? "RdBu" : "Viridis",
        reversescale: diverging, zmin: diverging ? -limit : zmin, zmax: diverging ? limit : zmax,
        hovertemplate: `a%{y}.h%{x}<br>${score}: %{z:.4g}<extra></extra>`,
        colorbar: { thickness: 10 },
      };
      Plotly.react(div, [trace], {
        title: { text: z ? score : `${score} (no data)`, font: { size: 13 } }, font: FONT,
        height: 90 + 22 * model.shape.n_layers, width: 120 + 26 * model.shape.n_heads,
        margin: { l: 45, r: 10, t: 30, b: 35 },
        xaxis: { title: { text: "head" }, dtick: 1 }, yaxis: { title: { text: "layer" }, dtick: 1 },
      }, CONFIG);
      if (!div.dataset.wired) {
        div.dataset.wired = "1";
        div.on("plotly_click", (ev) => {
          const p = ev.points[0];
          const current = DATA.models[$("#model-select").value];
          headHistory(current, $("#model-select").value, p.y, p.x);
        });
      }
    });
  }

  function markCheckpoint(tokens) {
    for (const id of Object.keys(BASE_SHAPES)) {
      const div = document.getElementById(id);
      if (!div.closest("#training") || !(tokens > 0)) continue;
      const shapes = BASE_SHAPES[id].concat([{
        type: "line", xref: "x", yref: "paper", x0: tokens, x1: tokens, y0: 0, y1: 1,
        line: { color: "#999", width: 1, dash: "dot" },
      }]);
      Plotly.relayout(div, { shapes });
    }
  }

  function sweepPage() {
    const modelSelect = $("#model-select");
    const taskSelect = $("#task-select");
    const slider = $("#checkpoint-slider");
    const label = $("#checkpoint-label");
    const view = new CircuitView($("#sweep-circuit"));
    function update() {
      const name = modelSelect.value;
      const model = DATA.models[name];
      const i = Number(slider.value);
      const cp = model.checkpoints;
      label.textContent = `${cp.revision[i]} · step ${cp.step[i]} · ` +
        `${Number(cp.tokens[i]).toExponential(2)} tokens`;
      const selection = (model.circuits[taskSelect.value] || [])[i] || null;
      view.show(model.graph, selection, `${name}, ${taskSelect.value}, ${cp.revision[i]}`);
      drawHeatmaps(name, model, i);
      markCheckpoint(cp.tokens[i]);
    }
    function chooseModel() {
      const model = DATA.models[modelSelect.value];
      const n = model.checkpoints.step.length;
      slider.max = n - 1;
      slider.value = n - 1;
      update();
      headHistory(model, modelSelect.value, ...model.heads.first);
    }
    modelSelect.addEventListener("change", chooseModel);
    taskSelect.addEventListener("change", update);
    slider.addEventListener("input", update);
    chooseModel();
    for (const item of DATA.attention || []) {
      CircuitsVis.render(item.div, CircuitsVis.AttentionHeads, item.props);
    }
  }

  plotStaticFigures();
  if (DATA.kind === "run") runPage();
  else sweepPage();
  document.body.dataset.ready = "1";
})();
