"""MCP as the official Python SDK sees it, through a real Envoy: the SDK's own server behind the
filter and the SDK's own client in front, for the 2.x line (the main venv) and the 1.x line
(`.venv-mcp1`, envoy/requirements-mcp1.txt). What is checked is what the client parses: an
allowed call's result, a denied one's JSON-RPC error (-31403) and, since a 1.x session ends on
any HTTP 4xx, that the session goes on after every denial, an oversize body's included (its id
is written last by 1.x and read by the filter as it discards the body).

Called from `e2e.py`; `python envoy/e2e_mcp_sdk.py` runs this section alone (after
`make wasm venv`, under the shared lock).
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
from loopback import ENVOY_PORT, MCP1_PYTHON, MCP_SERVER, PYTHON  # noqa: E402
from processes import Envoy, _spawn, listening, wait_for, workdir  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mcp_sdk.py")
DENIED = -31403
POLICY = {
    "version": 1,
    "proxy": {"allow_on_headers_stop_iteration": True},
    "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
    "limits": {"max_body_bytes": 65536},
    "routes": [
        {"name": "mcp", "match": {"path": "/mcp"},
         "mcp": {"sql": [{"tool": "run_sql", "pointer": "/arguments/query", "dialect": "postgres"}]},
         "rules": ["agents-no-delete-tools", "no-drops", "no-secrets"]},
    ],
    "rules": [
        {"name": "agents-no-delete-tools", "effect": "deny", "when": {"actor": "agent", "mcp": {"tools": ["delete_*"]}}},
        {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop"]}}},
        {"name": "no-secrets", "effect": "deny", "when": {"mcp": {"methods": ["resources/*"], "resources": ["secret://**"]}}},
    ],
}
# What the client must parse for each call of mcp_sdk.py's `check`: (first field, second field).
EXPECTED = {
    "tools/list": lambda got: got == ["delete_project", "run_sql", "search"],
    "search": lambda got: got == ["ok", "found orders"],
    "delete_project": lambda got: got[:2] == ["error", DENIED] and "agents-no-delete-tools" in got[2],
    "search after the denial": lambda got: got == ["ok", "found after"],
    "run_sql DROP": lambda got: got[:2] == ["error", DENIED] and "no-drops" in got[2],
    "run_sql oversize": lambda got: got[:2] == ["error", DENIED] and "max_body_bytes" in got[2],
    "run_sql after the oversize one": lambda got: got == ["ok", "ran 8 bytes"],
    "resources/read docs": lambda got: got == ["ok", "read me"],
    "resources/read secret": lambda got: got[:2] == ["error", DENIED] and "no-secrets" in got[2],
    "prompts/get": lambda got: got == ["ok", "Summarize orders."],
    "tools/list at the end": lambda got: got == ["delete_project", "run_sql", "search"],
}


def run(results, python, line):
    log = open(os.path.join(workdir(f"mcp-sdk-{line}"), "server.log"), "w")
    server = _spawn([python, SCRIPT, "serve", str(MCP_SERVER)], log)
    try:
        wait_for(lambda: listening(MCP_SERVER), f"the MCP SDK {line} server")
        out = subprocess.run([python, SCRIPT, "check", f"http://127.0.0.1:{ENVOY_PORT}/mcp"],
                             capture_output=True, text=True, timeout=180)
        calls = {}
        for text in out.stdout.splitlines():
            record = json.loads(text)
            calls[record["call"]] = record["got"]
        for name, expected in EXPECTED.items():
            got = calls.get(name)
            results.check(f"MCP SDK {line}: {name}", got is not None and expected(got), f"{got} {out.stderr[-400:]}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def mcp_sdk(results):
    config = bootstraps.guarded_http(json.dumps(POLICY), allow_on_headers_stop_iteration=True, upstream=MCP_SERVER)
    envoy = Envoy(config, concurrency=1, name="mcp-sdk-envoy").start()
    try:
        run(results, PYTHON, "2.x")
        run(results, MCP1_PYTHON, "1.x")
    finally:
        envoy.stop()


if __name__ == "__main__":
    from e2e import run_alone

    run_alone(mcp_sdk)
