"""lens's MCP server through a real client: the Python `mcp` SDK over stdio
(`lens mcp`) and over streamable HTTP (`/mcp` on `lens serve`, with an API
key), on a bundle of this repository's own sources. Every tool's answer is
checked against the HTTP API's answer to the same request; a bad call must be
a tool error that leaves the session usable; an agent-style scenario (find a
definition, read it, find its callers) is checked against ripgrep.

    python scripts/mcp/test_clients.py LENS_BINARY
"""

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LENS = None
KEY = "mcp-test-key-" + "0" * 20
OPS_KEY = "mcp-test-ops-" + "1" * 20
BUDGET = 200_000  # large enough that nothing is cut, so answers compare whole


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lens:
    """A bundle of this repository and a `lens serve` over it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lens-mcp-")
        self.bundle = os.path.join(self.dir, "bundle")
        sources = [f"{d}={os.path.join(ROOT, d)}" for d in ("lens-core", "lens-server", "indexer", "validation")]
        subprocess.run(
            [LENS, "index", *sources, "--out", self.bundle, "--embed", "off", "-q"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        config = os.path.join(self.dir, "lens.toml")
        with open(config, "w") as f:
            f.write(
                "[[keys]]\nid = \"agent\"\n"
                f"sha256 = \"{hashlib.sha256(KEY.encode()).hexdigest()}\"\nscopes = [\"search\"]\n"
                "[[keys]]\nid = \"operator\"\n"
                f"sha256 = \"{hashlib.sha256(OPS_KEY.encode()).hexdigest()}\"\nscopes = [\"ops\"]\n"
            )
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.server = subprocess.Popen(
            [LENS, "serve", "--bundle", self.bundle, "--config", config, "--listen", f"127.0.0.1:{self.port}",
             "--model", "none", "--state", os.path.join(self.dir, "state"),
             "--audit-log", os.path.join(self.dir, "audit.jsonl")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            try:
                self.get("/health")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("lens serve did not start: " + open(self.log.name).read())

    def get(self, route, **params):
        url = self.base + route + ("?" + urllib.parse.urlencode(params) if params else "")
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {KEY}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def close(self):
        self.server.terminate()
        self.server.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def spans(results):
    return [(h["repo"], h["path"], h["line"], h["start"], h["end"], h["abs_start"], h["abs_end"]) for h in results]


def locations(nav):
    return [(l["repo"], l["path"], l["line"], l["start"], l["end"]) for l in nav["locations"]]


@contextlib.asynccontextmanager
async def stdio_session(lens):
    params = StdioServerParameters(command=LENS, args=["mcp", "--bundle", lens.bundle, "--model", "none"],
                                   env={**os.environ, "LENS_LOG": "warn"})
    async with Client(params) as c:
        yield c


@contextlib.asynccontextmanager
async def http_session(lens, key=KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(lens.base + "/mcp", http_client=http)) as c:
            yield c


async def call(c, tool, args):
    r = await c.call_tool(tool, args)
    return r.is_error, r.structured_content, r.content[0].text


class Suite:
    """The same checks over either transport (`session` is a context manager)."""

    session = None

    def run_async(self, coro):
        return asyncio.run(coro)

    def test_lists_every_tool(self):
        async def go():
            async with self.session(LENSES) as c:
                tools = (await c.list_tools()).tools
                self.assertEqual(
                    [t.name for t in tools],
                    ["search", "find_symbol", "definition", "references", "hover", "read_file", "list_repositories"],
                )
                for t in tools:
                    self.assertGreater(len(t.description), 100, t.name)
                    self.assertEqual(t.input_schema["type"], "object", t.name)
        self.run_async(go())

    def test_every_tool_answers_as_the_http_api(self):
        lens = LENSES

        async def go():
            async with self.session(lens) as c:
                for q in ("parse_stages", "/fn\\s+navigation_limit/", "Deadline lang:rust", "\"impl Searcher for\""):
                    err, s, text = await call(c, "search", {"query": q, "limit": 30, "max_bytes": BUDGET})
                    self.assertFalse(err, text)
                    status, http = lens.get("/search", q=q, limit=30)
                    self.assertEqual(status, 200)
                    self.assertEqual(spans(s["results"]), spans(http["results"]), q)
                    self.assertTrue(http["results"], q)
                    for h in http["results"]:
                        self.assertIn(f"{h['repo']}/{h['path']}", text)
                err, s, text = await call(c, "find_symbol", {"name": "parse_stages", "kind": "function"})
                self.assertFalse(err, text)
                status, http = lens.get("/symbols", q="sym:parse_stages kind:function", limit=20)
                self.assertEqual(spans(s["results"]), spans(http["results"]))
                self.assertEqual([(h["path"], h["name"]) for h in s["results"]],
                                 [("src/request.rs", "parse_stages")])
                d = s["results"][0]
                at = {"repo": d["repo"], "path": d["path"], "line": d["line"], "character": d["start"]}
                for tool in ("definition", "references"):
                    err, s2, text = await call(c, tool, {**at, "max_bytes": BUDGET})
                    self.assertFalse(err, text)
                    status, http = lens.get("/" + tool, **at)
                    self.assertEqual(status, 200)
                    self.assertEqual(locations(s2), locations(http), tool)
                    self.assertTrue(http["locations"], tool)
                err, s2, text = await call(c, "hover", at)
                status, http = lens.get("/hover", **at)
                self.assertEqual(s2["contents"], http["contents"])
                self.assertIn("parse_stages", text)
                err, s2, text = await call(c, "read_file", {"repo": "lens-core", "path": "src/request.rs",
                                                            "start_line": 1, "end_line": 100000, "max_bytes": BUDGET})
                status, http = lens.get("/file", repo="lens-core", path="src/request.rs")
                self.assertEqual(s2["content"], http["content"])
                self.assertEqual(s2["lines"], http["lines"])
                err, s2, text = await call(c, "list_repositories", {})
                status, health = lens.get("/health")
                self.assertEqual(s2["files"], health["bundle"]["files"])
                self.assertEqual(sorted(r["name"] for r in s2["repositories"]),
                                 ["indexer", "lens-core", "lens-server", "validation"])
        self.run_async(go())

    def test_a_bad_call_is_a_tool_error_and_the_session_goes_on(self):
        lens = LENSES

        async def go():
            async with self.session(lens) as c:
                err, s, text = await call(c, "search", {"query": "/foo(/"})
                self.assertTrue(err)
                status, http = lens.get("/search", q="/foo(/")
                self.assertEqual(status, 400)
                self.assertEqual(s["error"], http["error"])
                self.assertIn("invalid_regex", text)
                for tool, args, code in [
                    ("read_file", {"repo": "lens-core", "path": "no/such.rs"}, "not_found"),
                    ("search", {"query": "x", "limit": 100000}, "invalid_limit"),
                    ("definition", {"repo": "lens-core"}, "invalid_parameters"),
                ]:
                    err, s, text = await call(c, tool, args)
                    self.assertTrue(err, (tool, args))
                    self.assertEqual(s["error"]["code"], code, text)
                # Still usable.
                err, s, text = await call(c, "search", {"query": "parse_stages"})
                self.assertFalse(err, text)
                self.assertTrue(s["results"])
        self.run_async(go())

    def test_agent_finds_a_definition_reads_it_and_finds_its_callers(self):
        lens = LENSES

        async def go():
            async with self.session(lens) as c:
                # 1. Where is `parse_stages` defined?
                err, s, text = await call(c, "find_symbol", {"name": "parse_stages"})
                self.assertFalse(err, text)
                d = s["results"][0]
                self.assertEqual((d["repo"], d["path"], d["kind"]), ("lens-core", "src/request.rs", "function"))
                # 2. Read it: the lines from its name to the end of its body.
                with open(os.path.join(ROOT, "lens-core", "src", "request.rs")) as f:
                    source = f.read().split("\n")
                err, s2, text = await call(c, "read_file", {"repo": d["repo"], "path": d["path"],
                                                            "start_line": d["line"], "end_line": d["line"] + 15})
                self.assertFalse(err, text)
                self.assertIn(f"{d['line']:>6}: pub fn parse_stages(", text)
                self.assertEqual(s2["content"].split("\n")[0], source[d["line"] - 1])
                # 3. Who calls it? Every line ripgrep finds naming it, but the definition, is a reference.
                err, s3, text = await call(c, "references", {"repo": d["repo"], "path": d["path"],
                                                             "line": d["line"], "character": d["start"]})
                self.assertFalse(err, text)
                found = {(l["repo"], l["path"], l["line"]) for l in s3["locations"]}
                rg = subprocess.run(["rg", "-n", "-w", "--type", "rust", "parse_stages", "lens-core", "lens-server",
                                     "indexer", "validation"], cwd=ROOT, capture_output=True, text=True, check=True)
                expected = set()
                for line in rg.stdout.splitlines():
                    path, n, _ = line.split(":", 2)
                    repo, rel = path.split("/", 1)
                    expected.add((repo, rel, int(n)))
                expected.discard((d["repo"], d["path"], d["line"]))
                self.assertEqual(found, expected, text)
                self.assertIn(("lens-server", "src/server/routes/search.rs"), {f[:2] for f in found})
        self.run_async(go())


class Stdio(Suite, unittest.TestCase):
    session = staticmethod(stdio_session)


class StreamableHttp(Suite, unittest.TestCase):
    session = staticmethod(http_session)

    def test_a_missing_key_is_refused(self):
        async def go():
            with self.assertRaises(BaseException):
                async with http_session(LENSES, key=None) as c:
                    await c.list_tools()
        self.run_async(go())
        with open(os.path.join(LENSES.dir, "audit.jsonl")) as f:
            audit = f.read()
        self.assertIn('"route":"/mcp"', audit)

    def test_metrics_count_the_calls(self):
        def calls():
            req = urllib.request.Request(LENSES.base + "/metrics", headers={"Authorization": f"Bearer {OPS_KEY}"})
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
            line = 'lens_mcp_tool_calls_total{tool="list_repositories",outcome="ok"} '
            return int(next(l for l in text.splitlines() if l.startswith(line)).split()[-1])

        before = calls()

        async def go():
            async with http_session(LENSES) as c:
                await call(c, "list_repositories", {})
                await call(c, "list_repositories", {})
        self.run_async(go())
        self.assertEqual(calls(), before + 2)


LENSES = None

if __name__ == "__main__":
    LENS = os.path.abspath(sys.argv.pop(1))
    LENSES = Lens()
    try:
        result = unittest.main(exit=False, verbosity=2).result
    finally:
        LENSES.close()
    sys.exit(0 if result.wasSuccessful() else 1)
