/// The page of `ep serve` (`/`, `/serve.js`, `/serve.css`): a text box whose tokens are coloured by their nearest
/// region (hue) and distance (paler when farther, dashed outside θ), a hover line with the region, distance and
/// nearest regions, tokens that open their region's report page, and a steering panel (steer or ablate, α, seed,
/// optional gate) showing both continuations side by side. No library, no inline script or style (the content
/// security policy forbids them); text from the model is put in the page as text nodes only.
enum ServePage {
    static let html = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>ep serve</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/serve.css">
        <script src="/serve.js" defer></script>
        </head>
        <body>
        <header><h1>ep serve</h1>
          <label>Dictionary <select id="dictionary"></select></label>
          <a id="report" href="#" target="_blank" rel="noopener">report</a>
          <span id="status"></span>
        </header>
        <main>
        <section id="reading">
          <textarea id="text" rows="5" spellcheck="false" placeholder="Type text: its tokens are coloured by their nearest region"></textarea>
          <div id="tokens" aria-live="polite"></div>
          <div id="hover">Hover a token to see its region and distance; click it to open the region's page.</div>
        </section>
        <section id="steering">
          <h2>Steer or ablate a region</h2>
          <div class="controls">
            <label>Mode <select id="mode"><option value="steer">steer</option><option value="ablate">ablate</option></select></label>
            <label>Region <input id="region" type="number" min="0" value="0"></label>
            <label>α <input id="alpha" type="number" step="any" placeholder="‖c‖"></label>
            <label>Seed <input id="seed" type="number" min="0" value="0"></label>
            <label>Tokens <input id="max-tokens" type="number" min="1" value="24"></label>
            <label>Gate regions <input id="gate" type="text" placeholder="e.g. 3,7 (all positions when empty)"></label>
          </div>
          <textarea id="prompt" rows="2" spellcheck="false">The river carefully examines</textarea>
          <button id="run" type="button">Continue both</button>
          <div id="targets"></div>
          <div class="side">
            <div><h3>baseline</h3><pre id="baseline"></pre></div>
            <div><h3 id="intervened-title">intervened</h3><pre id="intervened"></pre></div>
          </div>
        </section>
        <p id="error" role="alert"></p>
        </main>
        </body>
        </html>
        """#

    static let style = #"""
        body { font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
        header { display: flex; gap: 1.2em; align-items: baseline; padding: .6em 1.2em; background: #26323d; color: #eee; }
        header h1 { font-size: 1.15em; margin: 0; }
        header a { color: #9fd0ff; }
        main { padding: 1em 1.2em; max-width: 1200px; }
        textarea { width: 100%; box-sizing: border-box; font: 14px/1.4 "DejaVu Sans Mono", monospace; }
        #tokens { margin: .8em 0; padding: .6em; min-height: 3em; background: #fff; border: 1px solid #ddd; font: 14px/2 "DejaVu Sans Mono", monospace; white-space: pre-wrap; word-break: break-word; }
        #tokens a { color: #111; text-decoration: none; border-radius: 3px; padding: 1px 0; margin: 0 1px; outline: 1px solid transparent; }
        #tokens a.far { outline: 1px dashed #b00; }
        #tokens a.none { color: #888; background: #eee; }
        #tokens a:hover, #tokens a.current { outline: 2px solid #222; }
        #hover { min-height: 1.5em; color: #333; font-size: 13px; }
        #steering { margin-top: 1.5em; border-top: 1px solid #ccc; padding-top: .5em; }
        .controls { display: flex; flex-wrap: wrap; gap: .8em; margin-bottom: .5em; }
        .controls input { width: 7em; }
        .controls input#gate { width: 16em; }
        .side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
        .side pre { white-space: pre-wrap; background: #fff; border: 1px solid #ddd; padding: .6em; min-height: 4em; font: 13px/1.4 "DejaVu Sans Mono", monospace; }
        #targets { color: #555; font-size: 13px; margin: .4em 0; }
        #error { color: #b00; }
        button { margin: .4em 0; padding: .3em 1em; }
        """#

    static let script = #"""
        "use strict";
        (function () {
          const $ = (id) => document.getElementById(id);
          let dictionaries = [];
          let threshold = 1;
          let pending = null;
          let sequence = 0;

          function showError(message) { $("error").textContent = message || ""; }

          async function call(method, path, body) {
            const options = { method: method, headers: {} };
            if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
            const response = await fetch(path, options);
            const data = await response.json();
            if (!response.ok) { throw new Error(data.error || (response.status + " " + response.statusText)); }
            return data;
          }

          function current() { return $("dictionary").value; }

          function colour(region, distance) {
            const hue = (region * 137.508) % 360;
            const closeness = Math.max(0, 1 - distance / Math.max(threshold, 1e-6));
            const lightness = 94 - 30 * closeness;
            return "hsl(" + hue.toFixed(1) + ", 75%, " + lightness.toFixed(1) + "%)";
          }

          function describe(t) {
            if (t.region === null) { return JSON.stringify(t.piece) + ": no region (position left out by the dictionary's extraction)"; }
            const near = t.nearest.map((n) => "region " + n.region + " (" + n.distance.toFixed(3) + ")").join(", ");
            return JSON.stringify(t.piece) + ": region " + t.region + ", distance " + t.distance.toFixed(3) +
              (t.within_threshold ? " (within θ = " : " (outside θ = ") + threshold.toFixed(3) + "); nearest: " + near;
          }

          function render(answer) {
            threshold = answer.threshold;
            const box = $("tokens");
            box.textContent = "";
            const regions = new Set();
            for (const t of answer.tokens) {
              const a = document.createElement("a");
              a.textContent = t.piece.replace(/\n/g, "↵\n");
              if (t.region === null) {
                a.className = "none";
                a.href = "#";
              } else {
                regions.add(t.region);
                a.href = "/reports/" + encodeURIComponent(answer.dictionary) + "/region.html#" + t.region;
                a.target = "_blank";
                a.rel = "noopener";
                a.style.backgroundColor = colour(t.region, t.distance);
                if (!t.within_threshold) { a.className = "far"; }
                a.dataset.region = String(t.region);
              }
              a.addEventListener("mouseenter", () => { $("hover").textContent = describe(t); });
              a.addEventListener("click", (event) => {
                if (t.region === null) { event.preventDefault(); return; }
                $("region").value = String(t.region);
              });
              box.appendChild(a);
            }
            $("status").textContent = answer.tokens.length + " tokens in " + regions.size + " regions";
            document.body.dataset.assigned = String(answer.tokens.length);
          }

          async function assign() {
            const text = $("text").value;
            const mine = ++sequence;
            if (text.length === 0) { $("tokens").textContent = ""; document.body.dataset.assigned = "0"; return; }
            try {
              const answer = await call("POST", "/api/assign", { dictionary: current(), text: text });
              if (mine === sequence) { render(answer); showError(""); }
            } catch (e) { if (mine === sequence) { showError("assign: " + e.message); } }
          }

          function schedule() {
            if (pending !== null) { clearTimeout(pending); }
            pending = setTimeout(() => { pending = null; assign(); }, 250);
          }

          function integer(id) {
            const v = $(id).value.trim();
            return v === "" ? undefined : Number(v);
          }

          async function intervene() {
            const mode = $("mode").value;
            const body = { dictionary: current(), prompt: $("prompt").value, region: integer("region") || 0 };
            const alpha = $("alpha").value.trim();
            if (mode === "steer" && alpha !== "") { body.alpha = Number(alpha); }
            const seed = integer("seed"); if (seed !== undefined) { body.seed = seed; }
            const tokens = integer("max-tokens"); if (tokens !== undefined) { body.max_tokens = tokens; }
            const gate = $("gate").value.trim();
            if (gate !== "") { body.gate_regions = gate.split(",").map((s) => Number(s.trim())); }
            $("run").disabled = true;
            $("baseline").textContent = "…";
            $("intervened").textContent = "…";
            try {
              const answer = await call("POST", "/api/" + mode, body);
              $("baseline").textContent = answer.baseline.text;
              $("intervened").textContent = answer.intervened.text;
              $("intervened-title").textContent = mode === "steer"
                ? "steered (α = " + answer.alpha.toFixed(2) + ")" : "ablated";
              $("targets").textContent = "region " + answer.region + (answer.gate_regions ? ", gated to regions " + answer.gate_regions.join(", ") : "") +
                "; seed " + answer.seed + "; its logit lens: " + answer.targets.map((s) => JSON.stringify(s)).join(" ");
              document.body.dataset.steered = String(Number(document.body.dataset.steered || "0") + 1);
              showError("");
            } catch (e) {
              $("baseline").textContent = "";
              $("intervened").textContent = "";
              showError(mode + ": " + e.message);
            } finally { $("run").disabled = false; }
          }

          async function start() {
            try {
              dictionaries = (await call("GET", "/api/dictionaries")).dictionaries;
            } catch (e) { showError("dictionaries: " + e.message); return; }
            for (const d of dictionaries) {
              const option = document.createElement("option");
              option.value = d.name;
              option.textContent = d.name + " (" + d.regions + " regions" + (d.hook ? ", " + d.hook : "") + ")";
              $("dictionary").appendChild(option);
            }
            const update = () => {
              const d = dictionaries.find((x) => x.name === current());
              if (d) { $("report").href = d.report; }
              schedule();
            };
            $("dictionary").addEventListener("change", update);
            $("text").addEventListener("input", schedule);
            $("run").addEventListener("click", intervene);
            update();
            document.body.dataset.ready = "1";
          }

          start();
        })();
        """#
}
