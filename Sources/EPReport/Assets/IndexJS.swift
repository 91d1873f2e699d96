extension ReportAssets {
    /// `assets/index.js`: the summary, the charts and the paginated, sortable, filterable table of regions.
    static let indexJS = #"""
        "use strict";
        (function () {
          const S = EP.data.summary, R = EP.data.regions, K = S.regions;
          const main = EP.main();
          EP.activeNav("index");
          if (!K) { EP.fail("This dictionary has no regions."); return; }
          const total = R.members.reduce((a, b) => a + b, 0);

          // ---- summary ----
          const facts = [
            EP.fact("Regions", EP.int(K)),
            EP.fact("Threshold θ", EP.fixed(S.threshold, 4) + (S.percentile !== null ? " (p" + S.percentile + ")" : " (given)"), "cosine distance; calibration " + S.method),
            EP.fact("Model", S.model || "–"),
            EP.fact("Hook", S.hook || "–"),
            EP.fact("Tokens read", S.tokens !== null ? EP.int(S.tokens) : "–"),
            EP.fact("Activations clustered", EP.int(S.activations)),
            EP.fact("Width", EP.int(S.width)),
            EP.fact("Build", EP.int(S.batches) + " batches" + (S.stopReason ? " · " + S.stopReason : "") + (S.saturated ? " · last batch made no region" : "")),
          ];
          main.replaceChildren(EP.el("h1", null, S.title), EP.el("div", { class: "facts" }, facts));
          if (!S.hasLens) main.append(EP.el("div", { class: "note" }, "No model was run for this report: no logit lens and no context text (give ep report --model, or build the dictionary from text)."));
          else if (!S.hasContexts) main.append(EP.el("div", { class: "note" }, "This dictionary stores no context windows (it was built from activation files): regions list their members as rows."));
          const metricNames = { coverage: "coverage", gini: "Gini of sizes", effective_partitions: "effective regions", mean_intra_dist: "mean intra distance",
            mean_nearest_inter_dist: "mean nearest-exemplar distance", silhouette: "silhouette", max_exemplar_similarity: "max exemplar similarity" };
          const metricRows = S.metrics.map(([k, v]) => EP.el("tr", null, EP.el("td", null, k), EP.el("td", { class: "num" }, Number.isInteger(v) ? EP.int(v) : EP.fixed(v, 4))));
          main.append(EP.el("details", null, EP.el("summary", null, "Intrinsic metrics (regions with ≥ 2 members): ",
            S.metrics.filter(([k]) => metricNames[k]).map(([k, v]) => metricNames[k] + " " + (k === "coverage" ? EP.fixed(100 * v, 1) + "%" : k === "effective_partitions" ? EP.int(v) : EP.fixed(v, 3))).join(" · ")),
            EP.el("table", { class: "plain" }, metricRows)));

          // ---- charts ----
          const charts = EP.el("div", { class: "charts" });
          const sz = S.sizes;
          const maxRegions = Math.max(1, ...sz.regions);
          charts.append(EP.chartBox("Region sizes (log–log)", EP.plot({
            x: { min: 1, max: sz.upper[sz.upper.length - 1] + 1, log: true, label: "members" },
            y: { min: 0.8, max: maxRegions * 1.3, log: true, label: "regions" },
            bars: [{ lower: sz.lower, upper: sz.upper.map((u) => u + 1), values: sz.regions, color: "#4c78a8",
              titles: sz.regions.map((n, i) => (sz.lower[i] === sz.upper[i] ? sz.lower[i] : sz.lower[i] + "–" + sz.upper[i]) + " members: " + EP.int(n) + " regions, " + EP.int(sz.members[i]) + " activations") }],
          }), null, "Regions by member count in power-of-two bins. The largest " + Math.min(K, 10) + " regions hold " +
            EP.fixed(100 * R.members.slice().sort((a, b) => b - a).slice(0, 10).reduce((a, b) => a + b, 0) / Math.max(1, total), 1) + "% of the activations."));

          const sat = S.saturation;
          if (sat.position.length) {
            const xmax = sat.position[sat.position.length - 1];
            charts.append(EP.chartBox("Regions over " + sat.unit, EP.plot({
              x: { min: 0, max: xmax, label: sat.unit + " read" }, y: { min: 0, max: Math.max(1, ...sat.regions) * 1.05, label: "regions" },
              lines: [{ xs: [0].concat(sat.position), ys: [0].concat(sat.regions), color: "#4c78a8", name: "regions" }],
            }), null, "The saturation curve of the build (" + sat.position.length + " points, " + sat.batchesPerPoint + " batch(es) each)."));
            const rates = sat.rate.filter((r) => r > 0);
            if (rates.length) {
              charts.append(EP.chartBox("New-region rate", EP.plot({
                x: { min: 0, max: xmax, label: sat.unit + " read" }, y: { min: Math.min(...rates) / 1.5, max: Math.max(...rates) * 1.5, log: true, label: "new regions / activation" },
                lines: [{ xs: sat.position, ys: sat.rate, color: "#e45756", name: "new-region rate" }],
              }), null, "Fraction of each batch's activations that founded a region; batches that founded none are not drawn on this log scale."));
            }
          }

          const dist = S.distances, bins = dist.pairs.length;
          const xs = Array.from({ length: bins + 1 }, (_, i) => i * dist.width);
          const share = (counts) => { const n = counts.reduce((a, b) => a + b, 0) || 1; return counts.map((c) => c / n).concat([0]); };
          const series = [
            { counts: dist.intra, color: "#4c78a8", name: "mean member distance to the exemplar (per region)" },
            { counts: dist.nearest, color: "#f58518", name: "distance to the nearest other exemplar (per region)" },
            { counts: dist.pairs, color: "#54a24b", name: "all pairs of exemplars" },
          ].filter((s) => s.counts.some((c) => c > 0));
          const ymax = Math.max(0.01, ...series.flatMap((s) => share(s.counts)));
          let last = 0;
          for (const s of series) s.counts.forEach((c, i) => { if (c > 0) last = Math.max(last, i + 1); });
          charts.append(EP.chartBox("Cosine distances", EP.plot({
            x: { min: 0, max: Math.min(2, Math.max(S.threshold * 1.2, last * dist.width)), label: "cosine distance" }, y: { min: 0, max: ymax * 1.05, label: "share" },
            lines: series.map((s) => ({ xs: xs, ys: share(s.counts), color: s.color, name: s.name, step: true })),
            rules: [{ x: S.threshold, color: "#d1242f", label: "θ" }],
          }), series, "Histograms in bins of " + dist.width + ", each normalised to sum to 1."));
          main.append(EP.el("h2", null, "Overview"), charts);

          // ---- table ----
          const columns = [
            { key: "id", label: "Region", num: true, value: (i) => i },
            { key: "members", label: "Members", num: true, value: (i) => R.members[i] },
            { key: "coherence", label: "Coherence", num: true, value: (i) => R.coherence[i], title: "‖mean of member directions‖" },
            { key: "distance", label: "Mean distance", num: true, value: (i) => R.meanDistance[i], title: "mean distance of the members to the exemplar" },
            { key: "nearest", label: "Nearest region", num: true, value: (i) => (R.nearest[i] === null ? Infinity : R.nearest[i]), title: "cosine distance to the nearest other exemplar" },
            { key: "lens", label: "Logit lens (exemplar)" },
            { key: "context", label: "Closest member in context" },
          ];
          const state = { q: "", min: 1, sort: "members", dir: -1, page: 0, size: 50 };
          for (const part of location.hash.slice(1).split("&")) {
            const [k, v] = part.split("=").map(decodeURIComponent);
            if (k === "q") state.q = v || "";
            else if (k === "min") state.min = Math.max(1, parseInt(v, 10) || 1);
            else if (k === "sort" && columns.some((c) => c.key === v && c.num)) state.sort = v;
            else if (k === "dir") state.dir = v === "1" ? 1 : -1;
            else if (k === "page") state.page = Math.max(0, parseInt(v, 10) || 0);
            else if (k === "size" && [25, 50, 100, 200].includes(+v)) state.size = +v;
          }
          const search = EP.el("input", { type: "search", placeholder: "Search tokens (substring), =exact, or #id", value: state.q, "aria-label": "search" });
          const minInput = EP.el("input", { type: "number", min: 1, value: state.min, "aria-label": "minimum members" });
          const sizeSelect = EP.el("select", { "aria-label": "rows per page" }, [25, 50, 100, 200].map((n) => EP.el("option", { value: n, selected: n === state.size }, n + " per page")));
          const count = EP.el("span", { class: "muted" });
          const prev = EP.el("button", { type: "button" }, "‹ prev"), next = EP.el("button", { type: "button" }, "next ›");
          const pageLabel = EP.el("span", { class: "muted" });
          const head = EP.el("tr", null, columns.map((c) => EP.el("th", { "data-key": c.key, title: c.title }, c.label)));
          const body = EP.el("tbody");
          main.append(EP.el("h2", null, "Regions"),
            EP.el("div", { class: "controls" }, search, EP.el("label", null, "min members ", minInput), sizeSelect, count,
              EP.el("span", { class: "pager" }, prev, pageLabel, next)),
            EP.el("table", { class: "regions" }, EP.el("thead", null, head), body));

          let rows = [];
          function filterRows() {
            const q = state.q.trim().toLowerCase();
            const idMatch = /^#?(\d+)$/.exec(q);
            const exact = q.startsWith("=") ? q.slice(1).trim() : null;
            rows = [];
            for (let i = 0; i < K; i++) {
              if (R.members[i] < state.min) continue;
              if (q) {
                if (idMatch && q.startsWith("#")) { if (i !== +idMatch[1]) continue; }
                else if (exact !== null) { if (!R.search[i].split("\u001f").includes(exact)) continue; }
                else if (!(R.search[i].includes(q) || (idMatch && i === +idMatch[1]))) continue;
              }
              rows.push(i);
            }
            sortRows();
          }
          function sortRows() {
            const col = columns.find((c) => c.key === state.sort);
            const v = col.value, dir = state.dir;
            rows.sort((a, b) => (v(a) < v(b) ? -dir : v(a) > v(b) ? dir : a - b));
          }
          function render() {
            const pages = Math.max(1, Math.ceil(rows.length / state.size));
            state.page = Math.min(state.page, pages - 1);
            const first = state.page * state.size;
            body.replaceChildren(...rows.slice(first, first + state.size).map((i) => EP.el("tr", null,
              EP.el("td", { class: "num" }, EP.regionLink(i)),
              EP.el("td", { class: "num", title: EP.fixed(100 * R.members[i] / Math.max(1, total), 3) + "% of the activations" }, EP.int(R.members[i])),
              EP.el("td", { class: "num" }, EP.fixed(R.coherence[i], 3)),
              EP.el("td", { class: "num" }, EP.fixed(R.meanDistance[i], 4)),
              EP.el("td", { class: "num" }, EP.fixed(R.nearest[i], 4)),
              EP.el("td", null, R.lens[i].length ? EP.chips(R.lens[i]) : EP.el("span", { class: "muted" }, "–")),
              EP.el("td", null, EP.snippet(R.snippet[i])))));
            count.textContent = EP.int(rows.length) + " of " + EP.int(K) + " regions";
            pageLabel.textContent = "page " + (state.page + 1) + " / " + pages;
            prev.disabled = state.page === 0;
            next.disabled = state.page >= pages - 1;
            for (const th of head.children) {
              th.classList.toggle("sorted", th.dataset.key === state.sort);
              th.classList.toggle("ascending", th.dataset.key === state.sort && state.dir === 1);
            }
            const hash = "q=" + encodeURIComponent(state.q) + "&min=" + state.min + "&sort=" + state.sort + "&dir=" + state.dir + "&page=" + state.page + "&size=" + state.size;
            history.replaceState(null, "", "#" + hash);
          }
          let timer = 0;
          search.addEventListener("input", () => {
            clearTimeout(timer);
            timer = setTimeout(() => { state.q = search.value; state.page = 0; filterRows(); render(); }, 120);
          });
          minInput.addEventListener("change", () => { state.min = Math.max(1, parseInt(minInput.value, 10) || 1); state.page = 0; filterRows(); render(); });
          sizeSelect.addEventListener("change", () => { state.size = +sizeSelect.value; state.page = 0; render(); });
          prev.addEventListener("click", () => { state.page--; render(); });
          next.addEventListener("click", () => { state.page++; render(); });
          head.addEventListener("click", (e) => {
            const key = e.target.closest("th") && e.target.closest("th").dataset.key;
            const col = columns.find((c) => c.key === key);
            if (!col || !col.num) return;
            state.dir = state.sort === key ? -state.dir : key === "id" || key === "distance" || key === "nearest" ? 1 : -1;
            state.sort = key;
            state.page = 0;
            sortRows();
            render();
          });
          filterRows();
          render();
          EP.ready();
        })();
        """#
}
