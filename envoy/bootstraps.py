"""Every Envoy bootstrap the demo, the end-to-end suite and the benchmark start, from one builder:
an admin port, static listeners and the clusters they reach. A listener's chain is HTTP (filters,
then the router or a direct response) or wire (network filters, then tcp_proxy); its filters are
Access Guardrails, the empty proxy-wasm filter, Envoy's native buffer filter, or none.
"""

import enum
import os

from loopback import (BENCH_ADMIN, BENCH_CHAIN_PORTS, BENCH_UPSTREAM, BENCH_UPSTREAM_ADMIN, CLICKHOUSE_HTTP, EMPTY_WASM,
                      ENVOY_ADMIN, ENVOY_PORT, MARIADB_ENVOY, MARIADB_PORT, PLAIN_ADMIN, PLAIN_PORT, POSTGRES_ENVOY,
                      POSTGRES_PORT, RUN, UPSTREAM_PORT, WASM, WIRE_ADMIN)

TO_UPSTREAM = {"route": {"cluster": "upstream"}}
# What the access log records of each request: the filter's decision from its filter state.
ACCESS_LOG_FORMAT = "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %FILTER_STATE(wasm.guardrails_decision:PLAIN)%\n"


class Layer(enum.Enum):
    """Where a wasm filter runs: on HTTP requests or on a connection's bytes."""

    HTTP = "http"
    NETWORK = "network"


def bootstrap(admin, listeners, clusters=()):
    return {
        "admin": {"address": _address(admin)},
        "static_resources": {"listeners": list(listeners), "clusters": list(clusters)},
    }


def cluster(name, port, connect_timeout="1s"):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(port)}}]}]},
    }


def http_listener(name, port, filters, route=TO_UPSTREAM, access_log=None):
    """`filters` before the router; `route` what the one route does; `access_log` a file that
    records each request with its decision."""
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, **route}]}]},
        "http_filters": filters + [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    if access_log:
        manager["access_log"] = [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": access_log,
            "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}}}}]
    return _listener(name, port, [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}])


def tcp_proxy_listener(name, port, filters, cluster_name):
    """`filters` (network filters) before tcp_proxy to `cluster_name`."""
    return _listener(name, port, filters + [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": name, "cluster": cluster_name}}])


def wasm(layer, configuration, code=WASM, allow_on_headers_stop_iteration=False):
    """The proxy-wasm filter in `code` (Access Guardrails unless told) with its configuration."""
    config = {
        "name": os.path.splitext(os.path.basename(code))[0],
        "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": code}}},
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
    }
    if allow_on_headers_stop_iteration:
        config["allow_on_headers_stop_iteration"] = True
    return {"name": f"envoy.filters.{layer.value}.wasm", "typed_config": {
        "@type": f"type.googleapis.com/envoy.extensions.filters.{layer.value}.wasm.v3.Wasm", "config": config}}


def buffer():
    """Envoy's native buffer filter (1 MiB): the baseline the wasm filters are measured against."""
    return {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 1048576}}


def guarded_http(policy, allow_on_headers_stop_iteration=False, upstream=UPSTREAM_PORT):
    """The demo's and the suite's Envoy: Access Guardrails with `policy` (its JSON) before the
    router to the upstream (the stub, unless told), each decision in the access log, ClickHouse
    as the audit_log cluster."""
    guardrails = wasm(Layer.HTTP, policy, allow_on_headers_stop_iteration=allow_on_headers_stop_iteration)
    listener = http_listener("ingress", ENVOY_PORT, [guardrails], access_log=os.path.join(RUN, "access.log"))
    return bootstrap(ENVOY_ADMIN, [listener], [cluster("upstream", upstream), cluster("audit_log", CLICKHOUSE_HTTP)])


def postgres_wire(policy):
    """Envoy in front of PostgreSQL: Access Guardrails with `policy` as a network filter before
    tcp_proxy, ClickHouse as the audit_log cluster."""
    return _database([wasm(Layer.NETWORK, policy)], POSTGRES_ENVOY, POSTGRES_PORT, audit=True)


def mysql_wire(policy):
    """Envoy in front of MariaDB: Access Guardrails with `policy` as a network filter before
    tcp_proxy, ClickHouse as the audit_log cluster."""
    return _database([wasm(Layer.NETWORK, policy)], MARIADB_ENVOY, MARIADB_PORT, audit=True)


def pgbench_baseline():
    """Envoy in front of PostgreSQL with tcp_proxy alone, next to postgres_wire (its own ports)."""
    return _database([], PLAIN_PORT, POSTGRES_PORT, admin=PLAIN_ADMIN)


def bench_chains(policy):
    """The benchmark's Envoy: one listener per chain (native buffer filter, empty wasm filter,
    Access Guardrails with `policy`), each to the benchmark's upstream."""
    filters = {
        "native": [buffer()],
        "empty-wasm": [wasm(Layer.HTTP, "{}", code=EMPTY_WASM)],
        "guardrails": [wasm(Layer.HTTP, policy)],
    }
    listeners = [http_listener(name.replace("-", "_"), BENCH_CHAIN_PORTS[name], chain) for name, chain in filters.items()]
    return bootstrap(BENCH_ADMIN, listeners, [cluster("upstream", BENCH_UPSTREAM)])


def bench_upstream():
    """The benchmark's upstream: an Envoy answering every request 200 itself."""
    answer = {"direct_response": {"status": 200, "body": {"inline_string": "{\"data\": []}"}}}
    return bootstrap(BENCH_UPSTREAM_ADMIN, [http_listener("upstream", BENCH_UPSTREAM, [], route=answer)])


def _database(filters, listen_port, database_port, admin=WIRE_ADMIN, audit=False):
    listener = tcp_proxy_listener("database", listen_port, filters, "database")
    clusters = [cluster("database", database_port, connect_timeout="2s")]
    if audit:
        clusters.append(cluster("audit_log", CLICKHOUSE_HTTP))
    return bootstrap(admin, [listener], clusters)


def _listener(name, port, filters):
    return {"name": name, "address": _address(port), "filter_chains": [{"filters": filters}]}


def _address(port):
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}
