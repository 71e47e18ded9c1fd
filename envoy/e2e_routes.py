"""Routes and identity in a real Envoy: the path an upstream receives for each spelling of a
guarded path (Envoy's defaults forward it as sent), that a DROP under any of them never reaches
the upstream, that a method override is matched as the method it asks for, and that an identity
header sent twice with different values counts as an agent.

Called from `e2e.py` with its running upstream; `python envoy/e2e_routes.py` runs this section
alone (after `make wasm guardrails`, under the shared lock).
"""

import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import ENVOY_PORT  # noqa: E402
from processes import Envoy  # noqa: E402

POLICY = {
    "version": 1,
    "proxy": {"allow_on_headers_stop_iteration": True},
    "routes": [
        {"name": "sql", "match": {"path": "/sql", "methods": ["POST"]}, "sql": {"dialect": "postgres", "from": "body"},
         "rules": ["no-drops", "agents-bounded"]},
        {"name": "admin", "match": {"path_prefix": "/admin", "methods": ["DELETE"]}, "rules": ["agents-no-admin"]},
    ],
    "rules": [
        {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop"]}}},
        {"name": "agents-bounded", "effect": "deny",
         "when": {"actor": "agent", "sql": {"operations": ["update", "delete"], "unbounded": True}}},
        {"name": "agents-no-admin", "effect": "deny", "when": {"actor": "agent"}},
    ],
}
# Spellings of /sql that some server reads as /sql.
SHAPES = ["/sql", "/sql/", "//sql", "/x/../sql", "/x/%2e%2e/sql", "/%73ql", "/sql;v=1", "/x/..;/sql", "/SQL",
          "/x%2F..%2Fsql", "/x\\..\\sql", "/sql?x=1", "/sql#frag"]
PERSON = [("x-agent-id", "alice")]


def raw(method, path, body=b"", headers=()):
    """(status, body) of one request whose target is sent byte for byte; headers may repeat."""
    conn = http.client.HTTPConnection("127.0.0.1", ENVOY_PORT, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", "db.internal")
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def paths(results, upstream):
    for shape in SHAPES:
        before = len(upstream.received)
        status, body = raw("POST", shape, b"SELECT 1", PERSON)
        got = [r[1] for r in upstream.received[before:]]
        print(f"info {shape!r}: a read answers {status}, the upstream received {got}")
        before = len(upstream.received)
        status, body = raw("POST", shape, b"DROP TABLE orders", PERSON)
        reached = [r for r in upstream.received[before:] if b"DROP" in r[2]]
        results.check(f"routes: a DROP to {shape!r} never reaches the upstream", not reached and status >= 400,
                      f"{status} {body[:160]!r} {reached}")


def methods(results, upstream):
    agent = [("x-agent-id", "agent:e2e")]
    status, _ = raw("POST", "/admin/users/7", b"", agent)
    results.check("routes: a plain POST is not the DELETE route", status == 200, str(status))
    for header in ["x-http-method-override", "x-http-method", "x-method-override"]:
        status, body = raw("POST", "/admin/users/7", b"", agent + [(header, "DELETE")])
        results.check(f"routes: POST + {header}: DELETE is matched as a DELETE", status == 403 and b"agents-no-admin" in body,
                      f"{status} {body[:160]!r}")
    status, body = raw("POST", "/admin/users/7?_method=DELETE", b"", agent)
    results.check("routes: POST ?_method=DELETE is matched as a DELETE", status == 403, f"{status} {body[:160]!r}")


def identity(results, upstream):
    unbounded = b"DELETE FROM orders"
    status, _ = raw("POST", "/sql", unbounded, PERSON)
    results.check("identity: a person may delete unbounded", status == 200, str(status))
    status, body = raw("POST", "/sql", unbounded, PERSON + [("x-agent-id", "agent:e2e")])
    results.check("identity: x-agent-id twice with different values counts as an agent",
                  status == 403 and b"agents-bounded" in body, f"{status} {body[:160]!r}")
    status, body = raw("POST", "/sql", unbounded, [("x-agent-id", "alice, agent:e2e")])
    results.check("identity: a comma-joined x-agent-id counts as an agent", status == 403, f"{status} {body[:160]!r}")
    status, body = raw("POST", "/sql", unbounded)
    results.check("identity: no principal counts as an agent", status == 403, f"{status} {body[:160]!r}")


def ambiguous(results, upstream):
    """With a catch-all after the route, a path one server reads as /sql and another does not is
    denied, naming `routes`."""
    policy = json.loads(json.dumps(POLICY))
    policy["routes"].append({"name": "rest", "match": {"path_prefix": "/"}})
    envoy = start(policy)
    try:
        status, _ = raw("POST", "/elsewhere", b"DROP TABLE orders", PERSON)
        results.check("routes: the catch-all passes what it has no rule for", status == 200, str(status))
        for shape in ["/sql/", "/SQL", "/x/..;/sql"]:
            status, body = raw("POST", shape, b"SELECT 1", PERSON)
            rule = json.loads(body or b"{}").get("rule") if status == 403 else None
            results.check(f"routes: {shape!r} reads as two routes and is denied as ambiguous", rule == "routes",
                          f"{status} {body[:160]!r}")
    finally:
        envoy.stop()


def start(policy):
    config = bootstraps.guarded_http(json.dumps(policy), allow_on_headers_stop_iteration=True)
    return Envoy(config, concurrency=1, name="routes").start()


def routes(results, upstream):
    envoy = start(POLICY)
    try:
        paths(results, upstream)
        methods(results, upstream)
        identity(results, upstream)
    finally:
        envoy.stop()
    ambiguous(results, upstream)


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from e2e import Results
    from servers import Upstream

    results = Results()
    routes(results, Upstream())
    results.finish()
