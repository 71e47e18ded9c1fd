"""Where a run's parts are: the binaries, the work directory, and the fixed loopback port of every
process the demo, the end-to-end suite and the benchmark start, so that none of them collide.

Ports: 18100-18119 Envoy (listener, admin), upstreams (18103 the MCP SDK's server, 18104 the masking section's streams); 18123/18124 ClickHouse (HTTP, native);
18130-18131 PostgreSQL and Envoy in front of it, 18140-18141 MariaDB and Envoy in front of it,
18150 the wire Envoy's admin; 18132 and 18151 a plain tcp_proxy Envoy for pgbench's baseline.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "envoy", ".run")
ENVOY = os.path.join(ROOT, ".venv", "bin", "envoy")
WASM = os.environ.get("GUARDRAILS_WASM", os.path.join(ROOT, "target/wasm32-wasip1/release/access_guardrails.wasm"))
EMPTY_WASM = os.path.join(os.path.dirname(WASM), "empty_filter.wasm")
GUARDRAILS = os.path.join(ROOT, "target/debug/guardrails")

ENVOY_PORT, ENVOY_ADMIN, UPSTREAM_PORT, MCP_SERVER, STREAM_UPSTREAM = 18100, 18101, 18102, 18103, 18104
# The MCP SDK 1.x (envoy/requirements-mcp1.txt): a venv of its own, since 2.x is in the main one.
MCP1_PYTHON = os.path.join(ROOT, ".venv-mcp1", "bin", "python")
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
BENCH_CHAIN_PORTS = {"native": 18110, "empty-wasm": 18111, "guardrails": 18112}
BENCH_UPSTREAM, BENCH_UPSTREAM_ADMIN, BENCH_ADMIN = 18115, 18116, 18117
CLICKHOUSE_HTTP, CLICKHOUSE_TCP = 18123, 18124
POSTGRES_PORT, POSTGRES_ENVOY, PLAIN_PORT = 18130, 18131, 18132
MARIADB_PORT, MARIADB_ENVOY = 18140, 18141
WIRE_ADMIN, PLAIN_ADMIN = 18150, 18151
# The escaped-JSON masking section's upstream (envoy/e2e_mask_escapes.py).
ESCAPES_UPSTREAM = 18105
# The model provider stub of the LLM section (envoy/llm_stub.py).
LLM_UPSTREAM = 18106
