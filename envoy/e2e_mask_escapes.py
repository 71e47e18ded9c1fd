"""Escaped JSON through a real Envoy to a real client: an upstream answers bodies made by
Python's `json.dumps` (its default `ensure_ascii` writes non-ASCII as `\\u00e9` and astral
characters as surrogate pairs), by Go's `encoding/json` (`<`, `>`, `&` and U+2028 escaped) and
with escaped values (`jane.doe\\u0040example.com`), and a form-encoded body; `requests` parses
each masked answer (`response.json()`) and finds the values masked and the JSON valid.

Called from `e2e.py`; `python envoy/e2e_mask_escapes.py` runs this section alone (after
`make wasm guardrails`, under the shared lock).
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import ENVOY_PORT, ESCAPES_UPSTREAM  # noqa: E402
from processes import Envoy, policy_json  # noqa: E402

PYTHON_BODY = json.dumps({
    "name": "Ren\u00e9 M\u00fcller \U0001F600", "contact": "M\u00fcller:jane.doe@example.com\u2028",
    "card": "4111 1111 1111 1111", "notes": "ssn 123-45-6789\nline two",
})
GO_BODY = (r'{"name":"Jane \u003cjane.doe@example.com\u003e","card":"4111 1111 1111 1111",'
           r'"notes":"R\u0026D: ssn 123-45-6789\u2028","escaped":"jane.doe\u0040example.com","path":"a\/b"}')
FORM_BODY = "user=jane&email=jane.doe%40example.com&note=call+me+at+jane%40corp.example"
BODIES = {
    "/api/customers/python": ("application/json", PYTHON_BODY),
    "/api/customers/go": ("application/json; charset=utf-8", GO_BODY),
    "/api/customers/form": ("application/x-www-form-urlencoded", FORM_BODY),
}
SECRETS = ["jane.doe@example.com", "jane@corp.example", "4111 1111 1111 1111", "123-45-6789"]
AGENT = {"x-agent-id": "agent:support"}


def serve():
    """The upstream: each path answers its body byte for byte, with its content type."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            content_type, body = BODIES.get(self.path, ("text/plain", "unknown"))
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", ESCAPES_UPSTREAM), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def leaked(value):
    return [s for s in SECRETS if s in json.dumps(value, ensure_ascii=False)]


def check_json(results, path, expect):
    response = requests.get(f"http://127.0.0.1:{ENVOY_PORT}{path}", headers=AGENT, timeout=10)
    try:
        value, error = response.json(), None
    except ValueError as e:
        value, error = {}, e
    ok = response.status_code == 200 and error is None and not leaked(value) and all(value.get(k) == v for k, v in expect.items())
    results.check(f"masking escapes: {path} reaches requests as valid JSON with every value masked", ok,
                  f"{response.status_code} {error} leaked {leaked(value)}: {response.text[:300]}")


def mask_escapes(results):
    upstream = serve()
    config = bootstraps.guarded_http(policy_json("examples/customer-api/policy.yaml"), upstream=ESCAPES_UPSTREAM)
    envoy = Envoy(config, concurrency=1, name="mask-escapes").start()
    try:
        check_json(results, "/api/customers/python", {
            "name": "Ren\u00e9 M\u00fcller \U0001F600", "contact": "M\u00fcller:j***@example.com\u2028",
            "card": "**** **** **** 1111", "notes": "ssn [REDACTED:us_ssn]\nline two"})
        check_json(results, "/api/customers/go", {
            "name": "Jane <j***@example.com>", "notes": "R&D: ssn [REDACTED:us_ssn]\u2028", "escaped": "j***@example.com",
            "path": "a/b"})
        response = requests.get(f"http://127.0.0.1:{ENVOY_PORT}/api/customers/form", headers=AGENT, timeout=10)
        form = parse_qs(response.text)
        results.check("masking escapes: a form-encoded answer is masked percent-decoded",
                      form == {"user": ["jane"], "email": ["j***@example.com"], "note": ["call me at j***@corp.example"]},
                      f"{response.status_code} {response.text[:300]}")
        person = requests.get(f"http://127.0.0.1:{ENVOY_PORT}/api/customers/go", headers={"x-agent-id": "alice"}, timeout=10)
        results.check("masking escapes: a person's escaped answer passes byte for byte", person.content == GO_BODY.encode(),
                      person.text[:200])
    finally:
        envoy.stop()
        upstream.shutdown()


if __name__ == "__main__":
    from e2e import run_alone

    run_alone(mask_escapes)
