extension ReportAssets {
    /// `assets/map.js`: the exemplar directions on their first three principal components, drawn on a 2-D canvas
    /// (no WebGL, so it works in any browser, headless ones included), rotatable, sized by members and coloured by
    /// coherence.
    static let mapJS = #"""
        "use strict";
        (function () {
          const S = EP.data.summary, R = EP.data.regions, M = EP.data.map, K = S.regions;
          const main = EP.main();
          EP.activeNav("map");
          if (!K) { EP.fail("This dictionary has no regions."); return; }
          const explained = M.explained.map((r) => EP.fixed(100 * r, 1) + "%").join(", ");
          const canvas = EP.el("canvas", { "aria-label": "map of regions" });
          const sphere = EP.el("input", { type: "checkbox" });
          const spin = EP.el("input", { type: "checkbox" });
          const minInput = EP.el("input", { type: "number", min: 1, value: 1, "aria-label": "minimum members" });
          const find = EP.el("input", { type: "search", placeholder: "Highlight regions by token", "aria-label": "highlight" });
          const bar = EP.el("span", { class: "colorbar" });
          bar.style.background = EP.viridisGradient();
          let cmin = Infinity, cmax = -Infinity;
          for (let i = 0; i < K; i++) { cmin = Math.min(cmin, R.coherence[i]); cmax = Math.max(cmax, R.coherence[i]); }
          if (!(cmax > cmin)) { cmin = Math.min(cmin, 0); cmax = Math.max(cmin + 1e-6, cmax); }
          main.replaceChildren(
            EP.el("h1", null, "Map of " + EP.int(K) + " regions"),
            EP.el("p", { class: "muted" }, "Exemplar directions projected on their first three principal components (computed in Swift; they explain " + explained +
              " of the variance). Drag to rotate, scroll to zoom, hover for a region's tokens, click to open it. Point area grows with the number of members; colour is coherence."),
            EP.el("div", { class: "controls" },
              EP.el("label", null, sphere, " on the unit sphere (as the paper's Voronoi figure)"),
              EP.el("label", null, spin, " rotate"),
              EP.el("label", null, "min members ", minInput), find,
              EP.el("span", { class: "small muted" }, "coherence ", EP.fixed(cmin, 2), " ", bar, " ", EP.fixed(cmax, 2))),
            EP.el("div", { class: "map-wrap" }, canvas));

          // Points: raw PCA coordinates scaled to unit radius (95th percentile), or each normalised to the sphere.
          const raw = new Float32Array(3 * K), unit = new Float32Array(3 * K);
          const norms = [];
          for (let i = 0; i < K; i++) {
            const x = M.x[i], y = M.y[i], z = M.z[i], n = Math.hypot(x, y, z);
            norms.push(n);
            raw.set([x, y, z], 3 * i);
            unit.set(n > 0 ? [x / n, y / n, z / n] : [0, 0, 0], 3 * i);
          }
          const sorted = norms.slice().sort((a, b) => a - b);
          const extent = sorted[Math.floor(0.95 * (K - 1))] || 1;
          for (let i = 0; i < 3 * K; i++) raw[i] /= extent;
          const colour = [], radius = new Float32Array(K);
          for (let i = 0; i < K; i++) {
            colour.push(EP.viridis((R.coherence[i] - cmin) / (cmax - cmin)));
            radius[i] = Math.max(1.2, (1.2 + 1.6 * Math.log10(R.members[i])) * Math.min(1.5, Math.max(0.5, Math.sqrt(2000 / Math.max(1, K)))));
          }
          const focus = /^#(\d+)$/.exec(location.hash);
          const focused = focus && +focus[1] < K ? +focus[1] : -1;
          let highlight = null;

          let yaw = 0.6, pitch = 0.35, zoom = 1, dpr = 1, width = 0, height = 0;
          const ctx = canvas.getContext("2d");
          const sx = new Float32Array(K), sy = new Float32Array(K), sr = new Float32Array(K), depth = new Float32Array(K);
          let order = [];

          function resize() {
            dpr = window.devicePixelRatio || 1;
            width = canvas.clientWidth;
            height = canvas.clientHeight;
            canvas.width = Math.round(width * dpr);
            canvas.height = Math.round(height * dpr);
            draw();
          }
          function draw() {
            const pts = sphere.checked ? unit : raw;
            const cy = Math.cos(yaw), syw = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
            const scale = 0.38 * Math.min(width, height) * zoom, f = 3.2;
            const min = Math.max(1, parseInt(minInput.value, 10) || 1);
            order = [];
            for (let i = 0; i < K; i++) {
              if (R.members[i] < min && i !== focused) continue;
              const x = pts[3 * i], y = pts[3 * i + 1], z = pts[3 * i + 2];
              const x1 = cy * x + syw * z, z1 = -syw * x + cy * z;
              const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1;
              const p = f / (f + z2);
              sx[i] = width / 2 + x1 * scale * p;
              sy[i] = height / 2 - y2 * scale * p;
              sr[i] = radius[i] * Math.sqrt(zoom) * p;
              depth[i] = z2;
              order.push(i);
            }
            order.sort((a, b) => depth[b] - depth[a]);
            ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
            ctx.clearRect(0, 0, width, height);
            if (sphere.checked) {
              ctx.strokeStyle = "#d0d7de";
              ctx.beginPath();
              ctx.arc(width / 2, height / 2, scale * f / Math.sqrt(f * f - 1), 0, 2 * Math.PI);
              ctx.stroke();
            }
            ctx.globalAlpha = highlight ? 0.25 : 0.85;
            for (const i of order) {
              if (highlight && highlight.has(i)) continue;
              ctx.fillStyle = colour[i];
              ctx.beginPath();
              ctx.arc(sx[i], sy[i], sr[i], 0, 2 * Math.PI);
              ctx.fill();
            }
            ctx.globalAlpha = 1;
            if (highlight) {
              for (const i of order) {
                if (!highlight.has(i)) continue;
                ctx.fillStyle = colour[i];
                ctx.strokeStyle = "#d1242f";
                ctx.beginPath();
                ctx.arc(sx[i], sy[i], sr[i] + 1, 0, 2 * Math.PI);
                ctx.fill();
                ctx.stroke();
              }
            }
            // Labels: the first lens token (or closest member token) of the largest regions in front.
            ctx.font = "11px system-ui, sans-serif";
            ctx.fillStyle = "#1f2328";
            const labelled = order.slice().sort((a, b) => R.members[b] - R.members[a]).slice(0, 12);
            for (const i of labelled) ctx.fillText(label(i), sx[i] + sr[i] + 2, sy[i] + 3);
            if (focused >= 0 && order.includes(focused)) {
              ctx.strokeStyle = "#d1242f";
              ctx.lineWidth = 2;
              ctx.beginPath();
              ctx.arc(sx[focused], sy[focused], sr[focused] + 5, 0, 2 * Math.PI);
              ctx.stroke();
              ctx.lineWidth = 1;
              ctx.fillText("#" + focused + " " + label(focused), sx[focused] + sr[focused] + 7, sy[focused] - 6);
            }
          }
          function label(i) {
            const t = R.lens[i].length ? R.lens[i][0] : R.snippet[i] ? R.snippet[i][1] : "";
            return t ? EP.quoted(t.trim() || t) : "#" + i;
          }
          // The region under the pointer: the front-most point whose disc holds it.
          function pick(event) {
            const rect = canvas.getBoundingClientRect();
            const x = event.clientX - rect.left, y = event.clientY - rect.top;
            for (let j = order.length - 1; j >= 0; j--) {
              const i = order[j];
              if (Math.hypot(sx[i] - x, sy[i] - y) <= sr[i] + 2) return i;
            }
            return -1;
          }

          let drag = null;
          canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; canvas.classList.add("dragging"); });
          window.addEventListener("mouseup", () => { canvas.classList.remove("dragging"); setTimeout(() => { drag = null; }, 0); });
          window.addEventListener("mousemove", (e) => {
            if (drag && e.buttons) {
              const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
              if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
              yaw += dx * 0.008;
              pitch = Math.max(-1.5, Math.min(1.5, pitch + dy * 0.008));
              drag.x = e.clientX;
              drag.y = e.clientY;
              EP.untip();
              draw();
              return;
            }
            if (e.target !== canvas) return;
            const i = pick(e);
            if (i < 0) { EP.untip(); return; }
            const lines = [EP.el("b", null, "region #" + i), EP.int(R.members[i]) + " members · coherence " + EP.fixed(R.coherence[i], 3) + " · mean distance " + EP.fixed(R.meanDistance[i], 3)];
            if (R.lens[i].length) lines.push(EP.el("span", { class: "t" }, "lens: " + R.lens[i].map(EP.quoted).join(" ")));
            if (R.snippet[i]) lines.push(EP.el("span", { class: "t" }, "…" + EP.visible(R.snippet[i][0]) + "[" + EP.visible(R.snippet[i][1]) + "]" + EP.visible(R.snippet[i][2]) + "…"));
            EP.tip(e, lines);
          });
          canvas.addEventListener("mouseleave", EP.untip);
          canvas.addEventListener("click", (e) => {
            if (drag && drag.moved) return;
            const i = pick(e);
            if (i >= 0) location.href = EP.regionHref(i);
          });
          canvas.addEventListener("wheel", (e) => {
            e.preventDefault();
            zoom = Math.max(0.3, Math.min(20, zoom * Math.exp(-e.deltaY * 0.001)));
            draw();
          }, { passive: false });
          for (const input of [sphere, minInput]) input.addEventListener("change", draw);
          find.addEventListener("input", () => {
            const q = find.value.trim().toLowerCase();
            highlight = q ? new Set() : null;
            if (q) for (let i = 0; i < K; i++) if (R.search[i].includes(q)) highlight.add(i);
            draw();
          });
          function frame() {
            if (!spin.checked) return;
            yaw += 0.004;
            draw();
            requestAnimationFrame(frame);
          }
          spin.addEventListener("change", () => requestAnimationFrame(frame));
          window.addEventListener("resize", resize);
          resize();
          EP.ready();
        })();
        """#
}
