#!/usr/bin/env python3
"""Opens an `ep report` site in headless Chromium and checks that it renders with no console errors.

    check_report_browser.py EP_BINARY [--screenshots DIR]   build a small dictionary from text (SmolLM2, with corpus
                                                          text that is HTML markup), report it, check the site
    check_report_browser.py --site SITE [--region ID] [--screenshots DIR]
                                                          check an existing site

Checks, on index.html, map.html and one region.html#ID (a region whose contexts hold the markup text when there is
one): the page says it is ready, no console error, uncaught exception or CSP violation was logged, the table, the
charts, the map's canvas and the region's contexts are drawn, hovering a context token shows its distance, and
markup in corpus text stayed text (no element or script came from it). Saves a PNG of each page. Talks to Chromium
over the DevTools protocol on a pipe (--remote-debugging-pipe), with the Python standard library only.
"""
import argparse
import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MARKUP = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> <b>bold?</b>'


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_report_browser: Chromium is not installed (scripts/setup.sh installs the Debian package 'chromium')")


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe: NUL-terminated JSON messages on fds 3 (in) and 4 (out)."""

    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire():  # in the child: the pipe ends become fds 3 and 4 (dup2 clears close-on-exec)
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--disable-extensions", "--disable-background-networking", "--window-size=1280,900", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(domain, session=True)
        self.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def call(self, method, params=None, session=False, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)
            if time.time() > deadline:
                raise TimeoutError(f"{method}: no reply in {timeout} s")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buffer += chunk

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression[:60]!r}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def open(self, url, timeout=30):
        """Navigates to url and waits until the page sets document.body.dataset.ready."""
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.1)
            try:
                if self.evaluate("document.readyState === 'complete' && document.body && document.body.dataset.ready === '1'"):
                    return
            except RuntimeError:
                pass  # the new document is not there yet
        raise TimeoutError(f"{url}: not ready after {timeout} s")

    def problems(self):
        """Console errors, uncaught exceptions and CSP/network errors logged since the last open()."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append("exception: " + details.get("exception", {}).get("description", details.get("text", "?")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append("log: " + params["entry"].get("text", ""))
        return found

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def data_json(path):
    """The JSON of a report data script (`window.EPData = …;` then `EPData.x = JSON;`)."""
    text = open(path, encoding="utf-8").read().split("\n", 1)[1]
    return json.loads(text[text.index("=") + 1:].strip().rstrip(";"))


def region_with_text(site, needle):
    """The first region whose shown contexts contain needle, or None."""
    for path in sorted(glob.glob(os.path.join(site, "data", "regions", "*.js"))):
        for region in data_json(path):
            for context in region["closest"] + region["boundary"]:
                if needle in "".join(context["t"]):
                    return region["id"]
    return None


def check_site(site, region=None, screenshots=None, expect_markup=False):
    site = os.path.abspath(site)
    summary = data_json(os.path.join(site, "data", "summary.js"))
    if region is None:
        region = region_with_text(site, "<script>") if expect_markup else None
        if expect_markup and region is None:
            sys.exit("check_report_browser: no region shows the markup text in its contexts")
        if region is None:  # the largest region
            members = data_json(os.path.join(site, "data", "regions.js"))["members"]
            region = max(range(len(members)), key=lambda k: (members[k], -k)) if members else 0
    failures = []
    profile = tempfile.mkdtemp(prefix="ep-chromium-")
    browser = Browser(profile)
    started = time.time()
    try:
        def page(name, url, checks):
            browser.open("file://" + os.path.join(site, url))
            time.sleep(0.3)  # late errors (e.g. a failing chunk) get logged
            found = browser.evaluate(checks)
            problems = browser.problems()
            for key, (value, ok) in found.items():
                if not ok:
                    failures.append(f"{name}: {key} = {value!r}")
            for p in problems:
                failures.append(f"{name}: {p}")
            if screenshots:
                browser.screenshot(os.path.join(screenshots, name + ".png"))
            print(f"  {name}: " + ", ".join(f"{k} {v[0]}" for k, v in found.items()) + (f"; {len(problems)} console problems" if problems else "; no console errors"))

        common = "xss: [window.__xss === undefined ? 'none' : window.__xss, window.__xss === undefined], images: [document.images.length, document.images.length === 0], inline_scripts: [[...document.scripts].filter(s => !s.src).length, [...document.scripts].every(s => s.src)]"
        page("index", "index.html", "({rows: [document.querySelectorAll('table.regions tbody tr').length, document.querySelectorAll('table.regions tbody tr').length > 0], "
             "charts: [document.querySelectorAll('svg.plot').length, document.querySelectorAll('svg.plot').length >= 3], " + common + "})")
        page("map", "map.html#0", "(() => { const c = document.querySelector('canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
             "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; "
             "return {canvas_pixels_drawn: [n, n > 500], " + common + "}; })()")
        contexts_ok = "n > 0" if summary["hasContexts"] else "n === 0"
        markup_ok = "shown" if expect_markup else "true"
        page("region", f"region.html#{region}", "(() => { const h = document.querySelector('h1'); const n = document.querySelectorAll('.context').length; "
             "const shown = [...document.querySelectorAll('.context .tokens')].some(t => t.textContent.includes('<script>')); "
             "return {heading: [h ? h.textContent.slice(0, 40) : null, !!h && h.textContent.startsWith('Region #')], "
             f"contexts: [n, {contexts_ok}], markup_shown_as_text: [shown, {markup_ok}], "
             "charts: [document.querySelectorAll('svg.plot').length, document.querySelectorAll('svg.plot').length === 1], "
             + common + "}; })()")
        if summary["hasTokenDistances"]:
            # Hover the member token of the first context: the tooltip gives its distance to the region.
            box = browser.evaluate("(() => { const m = document.querySelector('.context .member'); m.scrollIntoView({block: 'center'}); "
                                   "const r = m.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")
            browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]}, session=True)
            time.sleep(0.2)
            tip = browser.evaluate("document.getElementById('tooltip').hidden ? '' : document.getElementById('tooltip').textContent")
            print(f"  region: hover on the member token shows {tip[:120]!r}")
            if f"distance to region #{region}" not in tip:
                failures.append(f"region: hovering a token does not show its distance (tooltip {tip!r})")
            if screenshots:
                browser.screenshot(os.path.join(screenshots, "region-hover.png"))
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"  browser checks took {time.time() - started:.1f} s")
    return failures


def build_fixture(ep, folder):
    """A small dictionary from text whose corpus holds markup, and its report; returns the site folder."""
    sentences = ["The river carefully examines the old bridge.", "A small cat quietly returns a list of numbers.",
                 "def f(x, y):\n    total = x * 3 + y\n    return total\n", "- item 4: the red door costs 120 dollars\n"]
    documents = [" ".join(sentences[(i + j) % 4] for j in range(10)) for i in range(8)]
    documents += [f"Page {i}: " + (MARKUP + " and more text. ") * 6 for i in range(4)]
    with open(os.path.join(folder, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for d in documents:
            f.write(json.dumps({"text": d}) + "\n")
    env = dict(os.environ, EP_CACHE_DIR=os.path.join(folder, "cache"))
    build = [ep, "build", "--model", "smollm2", "--hook", "blocks.5.hook_resid_post", "--corpus", "corpus.jsonl", "--percentile", "2",
             "--context", "48", "--min-window", "8", "--shuffle-buffer", "16", "--seed", "11", "--batch-windows", "6",
             "--calibration-tokens", "500", "--max-tokens", "0", "--saturation-window", "0", "-o", "dict"]
    for command in (build, [ep, "report", "dict", "-o", "site"]):
        started = time.time()
        run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"check_report_browser: {' '.join(command[1:3])} failed:\n{run.stderr}")
        print(f"  ep {command[1]}: {time.time() - started:.1f} s")
    return os.path.join(folder, "site")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ep", nargs="?", help="the ep executable (builds and reports a small dictionary)")
    parser.add_argument("--site", help="check this existing report instead")
    parser.add_argument("--region", type=int, help="region page to check (default: one showing the markup text, or 0)")
    parser.add_argument("--screenshots", help="folder for index.png, map.png, region.png (default: out/report-check)")
    args = parser.parse_args()
    if not args.ep and not args.site:
        parser.error("give the ep executable or --site")
    screenshots = args.screenshots or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "out", "report-check")
    os.makedirs(screenshots, exist_ok=True)
    folder = None
    if args.site:
        site, expect_markup = args.site, False
    else:
        folder = tempfile.mkdtemp(prefix="ep-report-check-")
        site, expect_markup = build_fixture(os.path.abspath(args.ep), folder), True
    failures = check_site(site, args.region, screenshots, expect_markup)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    if failures:
        print("report browser check FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"report browser check passed (screenshots in {os.path.normpath(screenshots)})")


if __name__ == "__main__":
    main()
