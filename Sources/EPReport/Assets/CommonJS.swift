extension ReportAssets {
    /// `assets/common.js`: helpers shared by the pages — element building (text nodes only), number formats,
    /// the tooltip, chunk loading, SVG charts.
    static let commonJS = #"""
        "use strict";
        (function () {
          const EP = (window.EP = {});
          const D = window.EPData;
          EP.data = D;
          const SVG = "http://www.w3.org/2000/svg";

          // Builds an element. Children that are not nodes become text nodes: corpus text never becomes markup.
          function build(node, attrs, children) {
            if (attrs) {
              for (const [k, v] of Object.entries(attrs)) {
                if (v === null || v === undefined || v === false) continue;
                if (k === "class") node.setAttribute("class", v);
                else if (k === "text") node.textContent = v;
                else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
                else node.setAttribute(k, v === true ? "" : String(v));
              }
            }
            for (const c of children.flat(Infinity)) {
              if (c === null || c === undefined || c === false) continue;
              node.append(c instanceof Node ? c : document.createTextNode(String(c)));
            }
            return node;
          }
          EP.el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
          EP.svg = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs, children);

          EP.fixed = (x, digits) => (x === null || x === undefined || !isFinite(x) ? "–" : Number(x).toFixed(digits));
          EP.int = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
          EP.compact = function (x) {
            const a = Math.abs(x);
            if (a >= 1e9) return +(x / 1e9).toPrecision(3) + "G";
            if (a >= 1e6) return +(x / 1e6).toPrecision(3) + "M";
            if (a >= 1e3) return +(x / 1e3).toPrecision(3) + "k";
            if (a === 0) return "0";
            if (a < 1e-3) return x.toExponential(0);
            return String(+x.toPrecision(3));
          };
          // Makes whitespace and control characters of a token visible.
          EP.visible = (text) =>
            String(text).replace(/\n/g, "⏎").replace(/\t/g, "⇥").replace(/\r/g, "␍").replace(/[\u0000-\u001f\u007f]/g, "·");
          EP.quoted = (text) => "‘" + EP.visible(text) + "’";

          // A perceptually ordered colour map (viridis, 9 stops), t in [0, 1].
          const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
          EP.viridis = function (t) {
            const x = Math.min(1, Math.max(0, isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
            const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
            const c = VIRIDIS[i].map((v, j) => Math.round(v + f * (VIRIDIS[i + 1][j] - v)));
            return "rgb(" + c.join(",") + ")";
          };
          EP.viridisGradient = () => "linear-gradient(to right, " + VIRIDIS.map((c) => "rgb(" + c.join(",") + ")").join(", ") + ")";

          // The tooltip: lines of text (strings or nodes) next to the pointer.
          const tip = document.getElementById("tooltip");
          EP.tip = function (event, lines) {
            tip.replaceChildren(...lines.map((l) => EP.el("div", null, l)));
            tip.hidden = false;
            const w = tip.offsetWidth, h = tip.offsetHeight;
            let x = event.clientX + 14, y = event.clientY + 14;
            if (x + w > window.innerWidth - 4) x = Math.max(4, event.clientX - w - 14);
            if (y + h > window.innerHeight - 4) y = Math.max(4, event.clientY - h - 14);
            tip.style.left = x + "px";
            tip.style.top = y + "px";
          };
          EP.untip = () => { tip.hidden = true; };

          // Loads a script of the report's folder (file:// pages may load scripts, not fetch files).
          EP.loadScript = (src) =>
            new Promise((resolve, reject) => {
              const s = document.createElement("script");
              s.src = src;
              s.onload = resolve;
              s.onerror = () => reject(new Error("cannot load " + src));
              document.head.append(s);
            });
          // The regions of data chunk n.
          EP.loadChunk = function (n) {
            if (D.chunks[n]) return Promise.resolve(D.chunks[n]);
            return EP.loadScript("data/regions/" + String(n).padStart(4, "0") + ".js").then(() => D.chunks[n]);
          };

          EP.main = () => document.getElementById("main");
          EP.ready = function () { document.body.dataset.ready = "1"; };
          EP.fail = function (message) {
            EP.main().replaceChildren(EP.el("p", { class: "error" }, message));
            EP.ready();
          };
          EP.activeNav = function (page) {
            for (const a of document.querySelectorAll("header.top nav a")) a.classList.toggle("active", a.dataset.nav === page);
          };

          EP.regionHref = (id) => "region.html#" + id;
          EP.regionLink = (id) => EP.el("a", { href: EP.regionHref(id) }, "#" + id);
          EP.chips = (tokens) => tokens.map((t) => EP.el("span", { class: "chip" }, EP.visible(t)));
          // The first closest context of a region as one line: before, the member token marked, after.
          EP.snippet = function (s) {
            if (!s) return EP.el("span", { class: "muted" }, "–");
            return EP.el("span", { class: "snippet" }, EP.visible(s[0]), EP.el("mark", null, EP.visible(s[1])), EP.visible(s[2]));
          };
          EP.fact = (label, value, title) => EP.el("div", { class: "fact", title: title }, EP.el("div", { class: "label" }, label), EP.el("div", { class: "value" }, value));

          // Nice tick values for a linear axis.
          function linearTicks(min, max, count) {
            const span = max - min;
            if (!(span > 0)) return [min];
            const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
            const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || 10 * mag;
            const ticks = [];
            for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
            return ticks;
          }
          function logTicks(min, max) {
            const ticks = [];
            for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
              const v = Math.pow(10, e);
              if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
            }
            if (ticks.length < 2) return linearTicks(min, max, 4).filter((v) => v > 0);
            return ticks;
          }

          // An SVG chart. spec: {x: {min, max, log, label}, y: {...}, bars: [{lower, upper, values, color, name,
          // titles}], lines: [{xs, ys, color, name, step}], rules: [{x, color, label}], bands: [{x0, x1, color}],
          // rugs: [{xs, color, name}]}. Bars and rugs carry native tooltips (<title>).
          EP.plot = function (spec) {
            const W = spec.width || 440, H = spec.height || 240, L = 52, R = 10, T = 10, B = 34;
            const sx = scale(spec.x, L, W - R), sy = scale(spec.y, H - B, T);
            const svg = EP.svg("svg", { class: "plot", viewBox: "0 0 " + W + " " + H, role: "img" });
            const xt = spec.x.log ? logTicks(spec.x.min, spec.x.max) : linearTicks(spec.x.min, spec.x.max, 5);
            const yt = spec.y.log ? logTicks(spec.y.min, spec.y.max) : linearTicks(spec.y.min, spec.y.max, 4);
            for (const v of spec.y.hidden ? [] : yt) {
              svg.append(EP.svg("line", { class: "grid", x1: L, x2: W - R, y1: sy(v), y2: sy(v) }));
              svg.append(EP.svg("text", { x: L - 4, y: sy(v) + 3, "text-anchor": "end" }, EP.compact(v)));
            }
            for (const v of xt) svg.append(EP.svg("text", { x: sx(v), y: H - B + 13, "text-anchor": "middle" }, EP.compact(v)));
            for (const b of spec.bands || []) {
              svg.append(EP.svg("rect", { x: sx(b.x0), y: T, width: Math.max(0, sx(b.x1) - sx(b.x0)), height: H - B - T, fill: b.color }, EP.svg("title", null, b.name || "")));
            }
            const base = spec.y.log ? spec.y.min : Math.max(0, spec.y.min);
            for (const s of spec.bars || []) {
              s.values.forEach((v, i) => {
                if (!(v > 0) || (spec.y.log && v < spec.y.min)) return;
                const x0 = sx(s.lower[i]), x1 = sx(s.upper[i]), y = sy(Math.min(v, spec.y.max));
                svg.append(EP.svg("rect", { x: x0 + 0.5, y: y, width: Math.max(1, x1 - x0 - 1), height: Math.max(0, sy(base) - y), fill: s.color },
                  EP.svg("title", null, s.titles ? s.titles[i] : s.name + ": " + EP.int(v))));
              });
            }
            for (const s of spec.lines || []) {
              const pts = [];
              s.xs.forEach((x, i) => {
                const y = s.ys[i];
                if (!isFinite(y) || (spec.y.log && !(y > 0))) return;
                if (s.step && i > 0 && pts.length) pts.push(sx(x).toFixed(1) + "," + sy(s.ys[i - 1]).toFixed(1));
                pts.push(sx(x).toFixed(1) + "," + sy(y).toFixed(1));
              });
              if (pts.length) svg.append(EP.svg("polyline", { points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 1.6 }, EP.svg("title", null, s.name || "")));
            }
            for (const r of spec.rugs || []) {
              for (const x of r.xs) {
                if (!isFinite(x)) continue;
                svg.append(EP.svg("line", { x1: sx(x), x2: sx(x), y1: H - B, y2: H - B - 12, stroke: r.color, "stroke-width": 1.5 }, EP.svg("title", null, r.name + ": " + EP.fixed(x, 4))));
              }
            }
            for (const r of spec.rules || []) {
              svg.append(EP.svg("line", { x1: sx(r.x), x2: sx(r.x), y1: T, y2: H - B, stroke: r.color, "stroke-width": 1.2, "stroke-dasharray": "4 3" }, EP.svg("title", null, r.label)));
              svg.append(EP.svg("text", { x: sx(r.x) + 3, y: T + 9 }, r.label));
            }
            svg.append(EP.svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
            svg.append(EP.svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
            if (spec.x.label) svg.append(EP.svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, spec.x.label));
            if (spec.y.label && !spec.y.hidden) svg.append(EP.svg("text", { x: 10, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 10 " + (T + H - B) / 2 + ")" }, spec.y.label));
            return svg;
          };
          function scale(axis, a, b) {
            if (axis.log) {
              const l0 = Math.log10(axis.min), l1 = Math.log10(axis.max);
              return (v) => a + ((Math.log10(Math.max(v, axis.min)) - l0) / (l1 - l0 || 1)) * (b - a);
            }
            return (v) => a + ((v - axis.min) / (axis.max - axis.min || 1)) * (b - a);
          }
          // A chart in a box with a title, an optional legend and a caption.
          EP.chartBox = function (title, svg, legend, caption) {
            const box = EP.el("div", { class: "chart" }, EP.el("h3", null, title), svg);
            if (legend && legend.length) {
              box.append(EP.el("div", { class: "legend" }, legend.map((l) => EP.el("span", null, EP.el("span", { class: "swatch", "data-color": l.color }), l.name))));
              for (const s of box.querySelectorAll(".swatch")) s.style.background = s.dataset.color;
            }
            if (caption) box.append(EP.el("div", { class: "caption" }, caption));
            return box;
          };
        })();
        """#
}
