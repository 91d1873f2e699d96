extension ReportAssets {
    /// `assets/region.js`: one region's page (`region.html#ID`), drawn from its data chunk.
    static let regionJS = #"""
        "use strict";
        (function () {
          const S = EP.data.summary, R = EP.data.regions, K = S.regions, theta = S.threshold;
          const main = EP.main();
          const total = R.members.reduce((a, b) => a + b, 0);

          function show() {
            EP.untip();
            const m = /^#(\d+)$/.exec(location.hash);
            const id = m ? +m[1] : NaN;
            if (!(id >= 0 && id < K)) {
              EP.fail(K ? "No region " + location.hash.slice(1) + ": this dictionary has regions 0 to " + (K - 1) + "." : "This dictionary has no regions.");
              return;
            }
            delete document.body.dataset.ready;
            const chunk = Math.floor(id / S.regionsPerChunk);
            EP.loadChunk(chunk).then((regions) => {
              render(regions[id - chunk * S.regionsPerChunk]);
              window.scrollTo(0, 0);
              EP.ready();
            }, (error) => EP.fail(error.message));
          }

          function render(g) {
            document.title = "Region #" + g.id + " · " + S.title;
            const nav = EP.el("div", { class: "controls" },
              g.id > 0 ? EP.el("a", { href: EP.regionHref(g.id - 1) }, "‹ #" + (g.id - 1)) : null,
              g.id + 1 < K ? EP.el("a", { href: EP.regionHref(g.id + 1) }, "#" + (g.id + 1) + " ›") : null,
              EP.el("a", { href: "map.html#" + g.id }, "show on the map"));
            const closestDistance = g.closestRefs.length ? g.closestRefs[0][2] : null;
            const farthest = g.farthestRefs.length ? g.farthestRefs[0][2] : null;
            main.replaceChildren(
              EP.el("h1", null, "Region #" + g.id, R.lens[g.id].length ? EP.el("span", { class: "muted" }, "  ", R.lens[g.id].slice(0, 3).map(EP.quoted).join(" ")) : null),
              nav,
              EP.el("div", { class: "facts" },
                EP.fact("Members", EP.int(g.members) + " (" + EP.fixed(100 * g.members / Math.max(1, total), 3) + "%)", "activations assigned to it during the build, founder included"),
                EP.fact("Coherence", EP.fixed(g.coherence, 4), "‖mean of member directions‖ ∈ [0, 1]"),
                EP.fact("Mean distance", EP.fixed(g.meanDistance, 4) + " ± " + EP.fixed(g.sd, 4), "mean and standard deviation of the members' distances to the exemplar"),
                EP.fact("Threshold θ", EP.fixed(theta, 4)),
                EP.fact("Closest / farthest member", EP.fixed(closestDistance, 4) + " / " + EP.fixed(farthest, 4)),
                EP.fact("Nearest region", g.neighbours.length ? EP.el("span", null, EP.regionLink(g.neighbours[0][0]), " at " + EP.fixed(g.neighbours[0][1], 4)) : "–"),
                EP.fact("Build batches", g.firstBatch + " → " + g.lastBatch + " (" + EP.int(g.batches) + " with members)", "batch that founded it, last batch that gave it members"),
                EP.fact("Exemplar", (S.hasContexts ? "stream row " : "row ") + EP.int(g.exemplarRow), "global row (in the build's input stream) that founded the region")));

            if (g.lensExemplar.length || g.lensMean.length) {
              main.append(EP.el("h2", null, "Logit lens"),
                EP.el("p", { class: "small muted" }, "Top tokens of W_U · RMSNorm_final(u) for the region's unit direction u (the center not added back, as the reference does)."),
                EP.el("div", { class: "lens" }, lensTable("exemplar direction", g.lensExemplar), lensTable("mean member direction", g.lensMean)));
            }

            main.append(EP.el("h2", null, "Member distances"), distanceChart(g));

            if (g.closest.length || g.boundary.length) {
              const legend = EP.el("p", { class: "small muted" }, S.hasTokenDistances
                ? "Each token is shaded by its distance to this region's exemplar (dark: 0, none: 1.5 θ or more); hover a token for its distance and nearest region. The member token is outlined."
                : "The member token is outlined (no model was run again for per-token distances).");
              main.append(EP.el("h2", null, "Closest members"), legend, ...g.closest.map((c) => context(c, g.id)));
              if (g.boundary.length) main.append(EP.el("h2", null, "Boundary members (farthest)"), ...g.boundary.map((c) => context(c, g.id)));
            } else if (g.closestRefs.length) {
              main.append(EP.el("h2", null, "Closest and farthest members"), EP.el("div", { class: "two" }, refTable("closest", g.closestRefs), refTable("farthest", g.farthestRefs)));
            }

            main.append(EP.el("h2", null, "Nearest regions"),
              EP.el("p", { class: "small muted" }, "By cosine distance between exemplars, 1 − e·e′."),
              EP.el("table", { class: "plain" },
                EP.el("tr", null, ["Region", "Distance", "Members", "Coherence", "Logit lens (exemplar)", "Closest member"].map((h) => EP.el("th", null, h))),
                g.neighbours.map(([j, d]) => EP.el("tr", null,
                  EP.el("td", { class: "num" }, EP.regionLink(j)), EP.el("td", { class: "num" }, EP.fixed(d, 4)),
                  EP.el("td", { class: "num" }, EP.int(R.members[j])), EP.el("td", { class: "num" }, EP.fixed(R.coherence[j], 3)),
                  EP.el("td", null, EP.chips(R.lens[j])), EP.el("td", null, EP.snippet(R.snippet[j]))))));
          }

          function lensTable(title, tokens) {
            const top = Math.max(...tokens.map((t) => t[1]), 1e-9), low = Math.min(...tokens.map((t) => t[1]), 0);
            return EP.el("div", null, EP.el("h3", { class: "small" }, title),
              EP.el("table", { class: "plain" }, tokens.map(([text, logit]) => {
                const bar = EP.el("div", { class: "bar" });
                bar.style.width = Math.max(2, (100 * (logit - low)) / (top - low || 1)) + "px";
                return EP.el("tr", null, EP.el("td", null, EP.el("span", { class: "chip" }, EP.visible(text))), EP.el("td", { class: "num" }, EP.fixed(logit, 2)), EP.el("td", null, bar));
              })));
          }

          function refTable(title, refs) {
            return EP.el("table", { class: "plain" }, EP.el("tr", null, EP.el("th", null, title + " member (row)"), EP.el("th", null, "distance")),
              refs.map(([source, position, d]) => EP.el("tr", null, EP.el("td", { class: "num" }, S.hasContexts ? "window " + source + ", position " + position : EP.int(source)), EP.el("td", { class: "num" }, EP.fixed(d, 4)))));
          }

          // The histogram of the replayed sample, the recorded closest and farthest distances, mean ± sd and θ.
          function distanceChart(g) {
            const s = g.sample, bins = s.counts.length, top = s.width * bins;
            const lower = s.counts.map((_, i) => i * s.width), upper = s.counts.map((_, i) => (i + 1) * s.width);
            const maxCount = Math.max(1, ...s.counts);
            const spec = {
              x: { min: 0, max: top, label: "cosine distance to the exemplar" }, y: { min: 0, max: maxCount * 1.15, label: "tokens", hidden: !s.n },
              bars: s.n ? [{ lower: lower, upper: upper, values: s.counts, color: "#9ec5ec",
                titles: s.counts.map((c, i) => EP.fixed(lower[i], 3) + "–" + EP.fixed(upper[i], 3) + ": " + EP.int(c) + " tokens") }] : [],
              bands: [{ x0: Math.max(0, g.meanDistance - g.sd), x1: g.meanDistance + g.sd, color: "#4c78a81f", name: "mean ± standard deviation of all members" }],
              rugs: [{ xs: g.closestRefs.map((r) => r[2]), color: "#2da44e", name: "closest member" }, { xs: g.farthestRefs.map((r) => r[2]), color: "#bc4c00", name: "farthest member" }],
              rules: [{ x: g.meanDistance, color: "#4c78a8", label: "mean" }, { x: theta, color: "#d1242f", label: "θ" }],
            };
            const legend = [{ color: "#4c78a81f", name: "mean ± sd of all " + EP.int(g.members) + " members (exact, from the stored sums)" },
              { color: "#2da44e", name: "the " + g.closestRefs.length + " closest members" }, { color: "#bc4c00", name: "the " + g.farthestRefs.length + " farthest members" }];
            if (s.n) legend.unshift({ color: "#9ec5ec", name: EP.int(s.n) + " sampled tokens" });
            const caption = s.n
              ? "Bars: the " + EP.int(s.n) + " tokens of this report's replayed context windows whose nearest region is this one. The windows were stored because they hold some region's closest or farthest members, so the sample is not uniform over the members and may lean to the extremes; the dictionary keeps only the sums of all members' distances (mean ± sd) and the 10 closest and 10 farthest."
              : "The dictionary keeps the sums of all members' distances (mean ± sd) and the 10 closest and 10 farthest members; no token sample was replayed (that needs a model and stored context windows), so there is no histogram of all members.";
            spec.width = 800;
            if (!s.n) spec.height = 130;
            return EP.chartBox("Distances to the exemplar", EP.plot(spec), legend, caption);
          }

          // A context: its tokens as spans, shaded by distance, the member outlined; the tooltip explains each.
          function context(c, region) {
            const member = c.p - c.f;
            if (!c.x) c.x = c.n = c.nd = c.t.map(() => null);
            const spans = c.t.map((text, i) => {
              const span = EP.el("span", { class: "tok" + (i === member ? " member" : "") + (c.x[i] === null ? " none" : ""), "data-i": i }, EP.visible(text));
              if (c.x[i] !== null) span.style.background = "rgba(11, 92, 173, " + (0.7 * Math.pow(Math.max(0, 1 - c.x[i] / (1.5 * theta)), 2)).toFixed(3) + ")";
              return span;
            });
            const tokens = EP.el("div", { class: "tokens" }, c.f > 0 ? "… " : "", spans, " …");
            tokens.addEventListener("mouseover", (e) => {
              const span = e.target.closest(".tok");
              if (!span) return;
              const i = +span.dataset.i;
              const lines = [EP.el("span", { class: "t" }, EP.quoted(c.t[i])), "position " + (c.f + i) + " of window " + c.w + (i === member ? " · the member" : "")];
              if (c.x[i] !== null) {
                lines.push("distance to region #" + region + ": " + EP.fixed(c.x[i], 4) + (c.x[i] <= theta ? " (within θ)" : " (beyond θ)"));
                lines.push(c.n[i] === region ? "nearest region: this one" : "nearest region: #" + c.n[i] + " at " + EP.fixed(c.nd[i], 4));
              } else {
                lines.push(S.hasTokenDistances ? "not an activation of the dictionary (its extraction leaves this position out)" : "no per-token distances in this report");
              }
              if (i === member) lines.push("recorded distance in the build: " + EP.fixed(c.d, 4));
              EP.tip(e, lines);
            });
            tokens.addEventListener("mousemove", (e) => { if (!e.target.closest(".tok")) EP.untip(); });
            tokens.addEventListener("mouseleave", EP.untip);
            return EP.el("div", { class: "context" }, EP.el("div", { class: "meta" }, "distance " + EP.fixed(c.d, 4) + " · " + c.o + " · window " + c.w + ", token " + c.p), tokens);
          }

          window.addEventListener("hashchange", show);
          show();
        })();
        """#
}
