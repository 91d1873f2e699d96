#!/usr/bin/env python3
"""Checks `ep serve` end to end on a small dictionary it builds from text (SmolLM2, layer 5).

    check_serve.py EP_BINARY [--screenshots DIR] [--load-seconds 30] [--load-connections 8] [--fuzz-examples 25]

1. API over loopback: every answer of every endpoint validated against docs/serve-openapi.json; assign gives what
   `ep assign --json` gives, token for token; regions, steering (α = 0 leaves the continuation as it is; the same
   seed gives the same continuations), ablation, region-gated requests; malformed JSON, wrong types, unknown
   dictionaries and regions, over-long text and bodies are 4xx with a message; static files never leave the report
   folder; every answer carries the content security policy; a full model queue answers 503 with Retry-After;
   binding a non-loopback address warns; SIGTERM with a request in flight answers it, then exits 0 and removes
   the reports.
2. The page in headless Chromium: typing text colours its tokens, hovering shows region and distance, a token
   links to its region page (which renders), the steering panel returns both continuations; no console error or
   CSP violation; screenshots.
3. A bounded load test (`--load-seconds` s, `--load-connections` keep-alive connections, mixed assign and region
   requests): p50/p99 latency, errors (must be 0), crashes (must be 0), resident memory before and after.
4. schemathesis fuzzes the API from its OpenAPI document for a fixed number of cases per operation and seed: no
   5xx, every status, content type, header and body as documented.
Exits non-zero on any failure. Standard library plus jsonschema and schemathesis (scripts/setup.sh installs them).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from check_report_browser import Browser  # noqa: E402

FAILURES = []


def check(ok, message):
    if not ok:
        FAILURES.append(message)
        print("  FAIL: " + message)
    return ok


# ---------------------------------------------------------------- OpenAPI response validation

def load_validators():
    import jsonschema
    doc = json.load(open(os.path.join(ROOT, "docs", "serve-openapi.json"), encoding="utf-8"))

    def convert(node):
        """OpenAPI 3.0 schema → JSON Schema: `nullable: true` becomes a type that also admits null."""
        if isinstance(node, list):
            return [convert(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {k: convert(v) for k, v in node.items() if k not in ("nullable", "example")}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"]
        if "$ref" in out:
            out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
        return out

    definitions = {k: convert(v) for k, v in doc["components"]["schemas"].items()}

    def validate(method, template, status, headers, body):
        operation = doc["paths"][template][method.lower()]
        documented = operation["responses"].get(str(status))
        if not check(documented is not None, f"{method} {template}: status {status} is not documented"):
            return
        kind = headers.get("content-type", "")
        check(kind.startswith("application/json"), f"{method} {template}: content type {kind!r}, expected application/json")
        schema = dict(convert(documented["content"]["application/json"]["schema"]), definitions=definitions)
        try:
            jsonschema.validate(json.loads(body), schema)
        except Exception as e:  # noqa: BLE001 (report any validation or JSON error)
            check(False, f"{method} {template} {status}: the answer does not match the document: {str(e).splitlines()[0]}")
        for name in documented.get("headers", {}):
            check(name.lower() in headers, f"{method} {template} {status}: header {name} missing")
    return validate


# ---------------------------------------------------------------- server and client

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, ep, folder, dictionaries, *extra, host="127.0.0.1"):
        self.port = free_port()
        self.process = subprocess.Popen(
            [ep, "serve", *dictionaries, "--host", host, "--port", str(self.port), *extra], cwd=folder,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, EP_CACHE_DIR=os.path.join(folder, "cache")))
        self.stderr = []
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        line = self.process.stdout.readline()
        if not line.startswith("serving "):
            self.process.wait(timeout=30)
            sys.exit(f"check_serve: ep serve did not start: {line!r}\n{''.join(self.stderr)}")
        self.banner = line.strip()

    def stop(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def rss_kib(self):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1


def request(port, method, path, body=None, raw=None, headers=None, timeout=120):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"} if payload is not None else {}
    h.update(headers or {})
    connection.request(method, path, body=payload, headers=h)
    response = connection.getresponse()
    data = response.read()
    result = (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    connection.close()
    return result


# ---------------------------------------------------------------- fixture

def build_dictionary(ep, folder):
    sentences = ["The river carefully examines the old bridge.", "A small cat quietly returns a list of numbers.",
                 "def f(x, y):\n    total = x * 3 + y\n    return total\n", "- item 4: the red door costs 120 dollars\n"]
    with open(os.path.join(folder, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for i in range(12):
            f.write(json.dumps({"text": " ".join(sentences[(i + j) % 4] for j in range(10))}) + "\n")
    command = [ep, "build", "--model", "smollm2", "--hook", "blocks.5.hook_resid_post", "--corpus", "corpus.jsonl", "--percentile", "2",
               "--context", "48", "--min-window", "8", "--shuffle-buffer", "16", "--seed", "11", "--batch-windows", "6",
               "--calibration-tokens", "500", "--max-tokens", "0", "--saturation-window", "0", "-o", "dict"]
    run = subprocess.run(command, cwd=folder, env=dict(os.environ, EP_CACHE_DIR=os.path.join(folder, "cache")), capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"check_serve: ep build failed:\n{run.stderr}")
    shutil.copytree(os.path.join(folder, "dict"), os.path.join(folder, "second"))


# ---------------------------------------------------------------- 1. API

TEXT = "The river carefully examines the old bridge. def f(x, y):\n    return x * 3"


def check_api(ep, folder, server, validate):
    port = server.port

    def call(method, path, template, body=None, raw=None, expect=200):
        status, headers, data = request(port, method, path, body=body, raw=raw)
        check(status == expect, f"{method} {path}: status {status}, expected {expect}: {data[:200]!r}")
        validate(method, template, status, headers, data)
        check(headers.get("content-security-policy", "").startswith("default-src 'none'"), f"{method} {path}: no content security policy")
        return json.loads(data), headers

    health, _ = call("GET", "/api/health", "/api/health")
    check(health["status"] == "ok" and health["dictionaries"] == 2 and health["queue_capacity"] == 2, f"health: {health}")
    listed, _ = call("GET", "/api/dictionaries", "/api/dictionaries")
    names = [d["name"] for d in listed["dictionaries"]]
    check(names == ["dict", "second"], f"dictionaries: {names}")
    regions = listed["dictionaries"][0]["regions"]
    check(regions > 3, f"the fixture has {regions} regions")

    # assign: what `ep assign --json` prints, token for token.
    answer, _ = call("POST", "/api/assign", "/api/assign", {"dictionary": "dict", "text": TEXT})
    cli = subprocess.run([ep, "assign", "dict", "--text", TEXT, "--json"], cwd=folder, capture_output=True, text=True,
                         env=dict(os.environ, EP_CACHE_DIR=os.path.join(folder, "cache")))
    reference = json.loads(cli.stdout)["tokens"]
    tokens = answer["tokens"]
    check(len(tokens) == len(reference) > 10, f"assign: {len(tokens)} tokens, ep assign gives {len(reference)}")
    for t, r in zip(tokens, reference):
        same = (t["token_id"], t["window"], t["position"], t["piece"], t["region"], t["within_threshold"]) == \
               (r["token_id"], r["window"], r["position"], r["text"], r["region"], r["within_threshold"])
        close = (t["distance"] is None) == (r["distance"] is None) and (t["distance"] is None or abs(t["distance"] - r["distance"]) <= 1e-7)
        if not check(same and close, f"assign: token {t} differs from ep assign's {r}"):
            break
        if t["region"] is not None:
            near = t["nearest"]
            check(len(near) == min(3, regions) and near[0]["distance"] <= t["distance"] + 1e-6 and
                  all(near[i]["distance"] <= near[i + 1]["distance"] for i in range(len(near) - 1)), f"assign: nearest of {t}")
    check(tokens[0]["region"] is None, "assign: the BOS position has no region")
    print(f"  assign: {len(tokens)} tokens, the same as ep assign --json; nearest regions in order")
    empty, _ = call("POST", "/api/assign", "/api/assign", {"dictionary": "dict", "text": ""})
    check(empty["tokens"] == [], "assign of empty text: no token")

    region = next(t["region"] for t in tokens if t["region"] is not None)
    detail, _ = call("GET", f"/api/dictionaries/dict/regions/{region}", "/api/dictionaries/{name}/regions/{id}")
    check(detail["region"] == region and detail["members"] >= 1 and len(detail["exemplar_lens"]) == 8 and len(detail["closest"]) >= 1,
          f"region detail: {str(detail)[:300]}")
    check(detail["page"] == f"/reports/dict/region.html#{region}", f"region page: {detail['page']}")
    call("GET", f"/api/dictionaries/dict/regions/{regions}", "/api/dictionaries/{name}/regions/{id}", expect=404)
    call("GET", "/api/dictionaries/dict/regions/abc", "/api/dictionaries/{name}/regions/{id}", expect=400)
    call("GET", "/api/dictionaries/nope/regions/0", "/api/dictionaries/{name}/regions/{id}", expect=404)

    # steer and ablate
    base = {"dictionary": "dict", "prompt": "The river carefully", "region": region, "max_tokens": 10, "seed": 3}
    steered, _ = call("POST", "/api/steer", "/api/steer", dict(base, alpha=40))
    check(steered["baseline"]["text"] and steered["intervened"]["text"], f"steer: empty continuation {steered}")
    again, _ = call("POST", "/api/steer", "/api/steer", dict(base, alpha=40))
    check(again == steered, "steer: the same request (same seed) gives the same continuations")
    zero, _ = call("POST", "/api/steer", "/api/steer", dict(base, alpha=0))
    check(zero["baseline"] == zero["intervened"] == steered["baseline"], "steer with α = 0: the intervened continuation is the baseline")
    ablated, _ = call("POST", "/api/ablate", "/api/ablate", base)
    check(ablated["intervention"] == "ablate" and "alpha" not in ablated and ablated["baseline"] == steered["baseline"], f"ablate: {ablated}")
    gated, _ = call("POST", "/api/steer", "/api/steer", dict(base, alpha=40, gate_regions=[region, 0]))
    check(gated["gate_regions"] == sorted({region, 0}) and gated["baseline"] == steered["baseline"], f"gated steer: {gated}")
    print(f"  steer: {steered['baseline']['text']!r} → {steered['intervened']['text']!r}; ablate, gated steer, α = 0 checked")
    call("POST", "/api/steer", "/api/steer", dict(base, gate_regions=[regions + 5]), expect=400)
    call("POST", "/api/steer", "/api/steer", dict(base, max_tokens=1000), expect=400)
    call("POST", "/api/steer", "/api/steer", dict(base, region=regions), expect=404)

    # malformed input
    bad, _ = call("POST", "/api/assign", "/api/assign", raw=b'{"dictionary": "dict", "text": ', expect=400)
    check(bad["error"].startswith("malformed JSON"), f"malformed JSON: {bad}")
    bad, _ = call("POST", "/api/steer", "/api/steer", {"dictionary": "dict", "prompt": "x", "region": "3"}, expect=400)
    check(bad["error"] == "field 'region': expected an integer", f"wrong type: {bad}")
    bad, _ = call("POST", "/api/assign", "/api/assign", {"dictionary": "dict"}, expect=400)
    check(bad["error"] == "missing field 'text'", f"missing field: {bad}")
    bad, _ = call("POST", "/api/assign", "/api/assign", {"dictionary": "dict", "text": "x" * 501}, expect=400)
    check("limit is 500" in bad["error"], f"text over --max-text: {bad}")
    bad, _ = call("POST", "/api/assign", "/api/assign", raw=b"{" + b" " * 70000 + b"}", expect=413)
    call("POST", "/api/assign", "/api/assign", {"dictionary": "nope", "text": "x"}, expect=404)
    print("  malformed JSON, wrong types, missing fields, limits and unknown names answered 4xx with a message")

    # static files and the content security policy
    for path, expect in [("/", 200), ("/serve.js", 200), ("/reports/dict/index.html", 200), ("/reports/dict/region.html", 200),
                         ("/reports/dict/assets/common.js", 200), ("/reports/dict/../../../etc/passwd", 404),
                         ("/reports/dict/%2e%2e/%2e%2e/etc/passwd", 404), ("/reports/dict/..%2f..%2fetc%2fpasswd", 404),
                         ("/reports/dict/data", 404), ("/reports/nope/index.html", 404), ("/etc/passwd", 404)]:
        status, headers, data = request(port, "GET", path)
        check(status == expect, f"GET {path}: {status}, expected {expect}")
        check(b"root:" not in data, f"GET {path}: leaked a file outside the report")
        check(headers.get("content-security-policy", "").startswith("default-src 'none'"), f"GET {path}: no content security policy")
    print("  static files: report pages served, traversal refused (404), CSP on every answer")


def check_queue_full(port):
    """With --queue 2, eight concurrent generations: the ones beyond the queue are 503 with Retry-After."""
    results = []

    def one():
        status, headers, data = request(port, "POST", "/api/steer",
                                        {"dictionary": "dict", "prompt": "The river", "region": 0, "max_tokens": 16, "seed": 1})
        results.append((status, headers.get("retry-after"), data))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(s for s, _, _ in results)
    busy = [r for r in results if r[0] == 503]
    check(statuses.count(200) >= 2 and len(busy) >= 1 and statuses.count(200) + len(busy) == 8, f"queue full: statuses {statuses}")
    check(all(r[1] is not None and int(r[1]) >= 1 and b"busy" in r[2] for r in busy), f"503 answers: {busy[:1]}")
    print(f"  queue of 2 under 8 concurrent generations: {statuses.count(200)} answered, {len(busy)} × 503 with Retry-After {busy[0][1] if busy else '-'}")


# ---------------------------------------------------------------- 2. the page in Chromium

def check_page(port, screenshots):
    profile = tempfile.mkdtemp(prefix="ep-serve-chromium-")
    browser = Browser(profile)
    base = f"http://127.0.0.1:{port}"
    try:
        browser.open(base + "/")
        browser.evaluate("document.getElementById('text').focus()")
        browser.call("Input.insertText", {"text": TEXT}, session=True)
        deadline = time.time() + 60
        while time.time() < deadline and not browser.evaluate("Number(document.body.dataset.assigned || 0) > 0"):
            time.sleep(0.2)
        found = browser.evaluate(
            "(() => { const a = [...document.querySelectorAll('#tokens a')]; const coloured = a.filter(x => x.dataset.region && "
            "getComputedStyle(x).backgroundColor !== 'rgba(0, 0, 0, 0)'); return {tokens: a.length, coloured: coloured.length, "
            "hues: new Set(coloured.map(x => x.style.backgroundColor)).size, href: coloured.length ? coloured[0].getAttribute('href') : null}; })()")
        check(found["tokens"] > 10 and found["coloured"] == found["tokens"] - 1 and found["hues"] > 1, f"page: typed text not coloured: {found}")
        check(re.fullmatch(r"/reports/dict/region\.html#\d+", found["href"] or "") is not None, f"page: token link {found['href']}")
        box = browser.evaluate("(() => { const m = [...document.querySelectorAll('#tokens a')].find(x => x.dataset.region); "
                               "const r = m.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]}, session=True)
        time.sleep(0.2)
        hover = browser.evaluate("document.getElementById('hover').textContent")
        check(re.search(r"region \d+, distance \d\.\d{3}.*nearest: region", hover) is not None, f"page: hover shows {hover!r}")
        print(f"  page: {found['tokens']} tokens, {found['coloured']} coloured in {found['hues']} colours; hover {hover[:90]!r}")
        if screenshots:
            browser.screenshot(os.path.join(screenshots, "serve-assign.png"))
        browser.evaluate("document.getElementById('region').value = '0'; document.getElementById('alpha').value = '40'; "
                         "document.getElementById('seed').value = '2'; document.getElementById('max-tokens').value = '8'; "
                         "document.getElementById('run').click(); true")
        deadline = time.time() + 120
        while time.time() < deadline and not browser.evaluate("document.body.dataset.steered === '1' || document.getElementById('error').textContent !== ''"):
            time.sleep(0.2)
        both = browser.evaluate("[document.getElementById('baseline').textContent, document.getElementById('intervened').textContent, "
                                "document.getElementById('error').textContent]")
        check(both[0] and both[1] and both[0] != "…" and not both[2], f"page: steering panel gave {both}")
        print(f"  page: steering panel shows baseline {both[0][:50]!r} and steered {both[1][:50]!r}")
        if screenshots:
            browser.screenshot(os.path.join(screenshots, "serve-steer.png"))
        problems = browser.problems()
        check(not problems, f"page: console problems {problems}")
        browser.open(base + found["href"])
        time.sleep(0.3)
        heading = browser.evaluate("document.querySelector('h1') ? document.querySelector('h1').textContent : ''")
        check(heading.startswith("Region #"), f"region page from the token link: heading {heading!r}")
        check(not browser.problems(), f"region page: console problems {browser.problems()}")
        if screenshots:
            browser.screenshot(os.path.join(screenshots, "serve-region.png"))
        print(f"  page: the token's link opens the report's region page ({heading[:40]!r})")
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------- 3. load

def load_test(server, seconds, connections, regions):
    texts = ["The river carefully examines the old bridge.", "def f(x, y):\n    total = x * 3 + y\n    return total",
             "- item 4: the red door costs 120 dollars", "A small cat quietly returns a list of numbers."]
    latencies, errors, lock = [], [], threading.Lock()
    stop = time.time() + seconds
    rss_before = server.rss_kib()

    def worker(w):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        i = 0
        while time.time() < stop:
            i += 1
            if (i + w) % 2 == 0:
                method, path, body = "POST", "/api/assign", json.dumps({"dictionary": "dict", "text": texts[(i + w) % 4]}).encode()
            else:
                method, path, body = "GET", f"/api/dictionaries/dict/regions/{(i * 7 + w) % regions}", None
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
                response = connection.getresponse()
                response.read()
                status = response.status
            except Exception as e:  # noqa: BLE001 (a transport failure is an error of the run)
                status = repr(e)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(f"{method} {path}: {status}")
        connection.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(connections)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - started
    crashed = server.process.poll() is not None
    rss_after = server.rss_kib() if not crashed else -1
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    print(f"  load: {seconds} s, {connections} connections, mixed assign and region requests: {len(latencies)} requests "
          f"({len(latencies) / wall:.1f}/s), p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, errors {len(errors)}, crashes {int(crashed)}, "
          f"RSS {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after")
    check(not errors, f"load: {len(errors)} errors, first {errors[:3]}")
    check(not crashed, "load: the server crashed")
    check(len(latencies) > 0, "load: no request completed")


# ---------------------------------------------------------------- 4. schemathesis

def fuzz(port, examples, folder):
    """schemathesis over docs/serve-openapi.json, with the served dictionary's name as the only value of the
    dictionary fields (otherwise nearly every generated request is an unknown dictionary, 404); the responses are
    checked against the document as it is."""
    doc = json.load(open(os.path.join(ROOT, "docs", "serve-openapi.json"), encoding="utf-8"))
    doc["components"]["schemas"]["AssignRequest"]["properties"]["dictionary"]["enum"] = ["dict"]
    doc["components"]["schemas"]["InterventionRequest"]["properties"]["dictionary"]["enum"] = ["dict"]
    doc["paths"]["/api/dictionaries/{name}/regions/{id}"]["get"]["parameters"][0]["schema"]["enum"] = ["dict"]
    schema = os.path.join(folder, "serve-openapi-fuzz.json")
    with open(schema, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    command = ["schemathesis", "run", schema, "--url", f"http://127.0.0.1:{port}",
               "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
               "--max-examples", str(examples), "--seed", "17", "--phases", "examples,coverage,fuzzing", "--workers", "1",
               "--generation-database", "none", "--request-timeout", "120", "--no-color", "--suppress-health-check", "too_slow"]
    started = time.time()
    run = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    tail = "\n".join(run.stdout.strip().splitlines()[-12:])
    print(f"  schemathesis ({examples} examples per operation, seed 17, {time.time() - started:.0f} s):\n    " + tail.replace("\n", "\n    "))
    check(run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ep", help="the ep executable")
    parser.add_argument("--screenshots", default=os.path.join(ROOT, "out", "serve-check"))
    parser.add_argument("--load-seconds", type=int, default=30)
    parser.add_argument("--load-connections", type=int, default=8)
    parser.add_argument("--fuzz-examples", type=int, default=10)
    args = parser.parse_args()
    ep = os.path.abspath(args.ep)
    os.makedirs(args.screenshots, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="ep-serve-check-")
    started = time.time()
    try:
        build_dictionary(ep, folder)
        print(f"  fixture dictionary built in {time.time() - started:.1f} s")
        validate = load_validators()

        print("1. API over loopback")
        server = Server(ep, folder, ["dict", "second"], "--queue", "2", "--max-text", "500", "--max-generated", "16")
        try:
            check_api(ep, folder, server, validate)
            check_queue_full(server.port)
            # SIGTERM with a generation in flight: it is answered, then the server exits 0 and removes its reports.
            reports = os.path.join(tempfile.gettempdir(), f"ep-serve-{server.process.pid}")
            check(os.path.isdir(reports), f"reports folder {reports} missing while serving")
            result = []
            t = threading.Thread(target=lambda: result.append(request(server.port, "POST", "/api/steer",
                                                                      {"dictionary": "dict", "prompt": "The river", "region": 0, "max_tokens": 16})))
            t.start()
            time.sleep(0.3)
            code = server.stop(signal.SIGTERM)
            t.join()
            check(code == 0, f"SIGTERM: exit status {code}; stderr {''.join(server.stderr)[-500:]}")
            check(result and result[0][0] == 200, f"SIGTERM: the request in flight got {result[0][0] if result else 'nothing'}")
            check(not os.path.exists(reports), "SIGTERM: the reports folder was not removed")
            print(f"  SIGTERM with a request in flight: answered {result[0][0] if result else '-'}, exit {code}, reports removed")
        finally:
            if server.process.poll() is None:
                server.process.kill()

        wide = Server(ep, folder, ["dict"], host="0.0.0.0")
        code = wide.stop(signal.SIGINT)
        warned = any("warning: listening on 0.0.0.0" in line for line in wide.stderr)
        check(warned and code == 0, f"binding 0.0.0.0: warned {warned}, SIGINT exit {code}")
        print(f"  --host 0.0.0.0 warns; SIGINT exits {code}")

        server = Server(ep, folder, ["dict"], "--max-generated", "8")
        try:
            print("2. the page in headless Chromium")
            check_page(server.port, args.screenshots)
            print("3. load")
            regions = json.loads(request(server.port, "GET", "/api/dictionaries")[2])["dictionaries"][0]["regions"]
            load_test(server, args.load_seconds, args.load_connections, regions)
            print("4. schemathesis")
            fuzz(server.port, args.fuzz_examples, folder)
            check(server.process.poll() is None, "the server died during the checks")
        finally:
            if server.process.poll() is None:
                server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if FAILURES:
        print(f"serve check FAILED ({len(FAILURES)} problems):\n  " + "\n  ".join(FAILURES))
        sys.exit(1)
    print(f"serve check passed in {time.time() - started:.0f} s (screenshots in {os.path.normpath(args.screenshots)})")


if __name__ == "__main__":
    main()
