"""Masked responses as streams through a real Envoy, with real clients: a 50 MB chunked text
response arrives whole and masked without a reset (httpx streaming it, Envoy's buffer limit is
1 MiB), a gzip-compressing upstream that ignores accept-encoding arrives decoded and masked, and
MCP servers (the official SDK) whose SSE streams stay open: through a masking route the client
gets a tool's first progress notification, masked, before the server sends the result, and a
`subscriptions/listen` stream's acknowledgement and a resource update, masked, while the server
still holds the stream open, which then ends cleanly when the server closes it.

Called from `e2e.py`; `python envoy/e2e_masking.py` runs this section alone (after
`make wasm venv`, under the shared lock). `serve-mcp PORT DIR` and `serve-listen PORT DIR` are the
MCP servers it starts.
"""

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import ENVOY_PORT, MCP_SERVER, PYTHON, STREAM_UPSTREAM  # noqa: E402

AGENT = {"x-agent-id": "agent:e2e"}
POLICY = {
    "version": 1,
    "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
    "routes": [{"name": "masked", "match": {"path_prefix": "/"}, "mask": {"actor": "agent", "detectors": {"email": "redact"},
                                                                          "fields": [{"name": "ssn"}], "max_body_bytes": 8 << 20},
                "rules": []}],
    "rules": [],
}
LINE = "order {:08d} for jane.doe@example.com\n"
MASKED = "order {:08d} for [REDACTED:email]\n"
BIG_LINES = 50 * 1024 * 1024 // len(LINE.format(0))
GZIP_LINES = 100_000
# A 3 MB JSON document: held whole by the filter (max_body_bytes 8 MiB), over Envoy's 1 MiB buffer.
CUSTOMERS = [{"id": i, "email": f"user{i}@example.com", "ssn": f"{i:09d}"} for i in range(50_000)]
PROGRESS = "mailing jane.doe@example.com"
# The resource a client listens to: its URI, in the acknowledgement and the update, is masked.
SUBSCRIBED = "mailto:jane.doe@example.com"
SUBSCRIBED_MASKED = "mailto:[REDACTED:email]"
# How long a server waits for the client to say something arrived before going on without it.
SIGNAL_WAIT = 15


def lines(template, count, per_chunk=1600):
    """`count` numbered lines, a chunk of `per_chunk` lines at a time."""
    for start in range(0, count, per_chunk):
        yield "".join(template.format(i) for i in range(start, min(start + per_chunk, count))).encode()


def stream_upstream():
    """Chunked bodies: /text (50 MB), /gzip (gzip-compressed whatever accept-encoding says, each
    chunk flushed so it streams), /json (one 3 MB document)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            gzip, document = self.path.startswith("/gzip"), self.path.startswith("/json")
            self.send_response(200)
            self.send_header("content-type", "application/json" if document else "text/plain; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            if gzip:
                self.send_header("content-encoding", "gzip")
            self.end_headers()
            compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
            body = json.dumps({"customers": CUSTOMERS}).encode() if document else b""
            try:
                for at in range(0, len(body), 65536):
                    self._chunk(body[at:at + 65536])
                for chunk in lines(LINE, GZIP_LINES if gzip else BIG_LINES) if not document else ():
                    self._chunk(compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH) if gzip else chunk)
                if gzip:
                    self._chunk(compressor.flush())
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass

        def _chunk(self, data):
            if data:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", STREAM_UPSTREAM), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fetch(path):
    """(status, headers, sha256 and length of the body, the error or the body's last bytes) as
    httpx streams it; a reset is an error, so no status."""
    import httpx  # noqa: PLC0415

    digest, size, tail = hashlib.sha256(), 0, b""
    try:
        with httpx.stream("GET", f"http://127.0.0.1:{ENVOY_PORT}{path}", headers={**AGENT, "accept-encoding": "gzip"},
                          timeout=300) as response:
            for chunk in response.iter_raw():
                digest.update(chunk)
                size += len(chunk)
                tail = (tail + chunk)[-120:]
            return response.status_code, response.headers, digest.hexdigest(), size, tail
    except httpx.HTTPError as error:
        return None, {}, None, size, repr(error)


def expected(count):
    digest, size = hashlib.sha256(), 0
    for chunk in lines(MASKED, count):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def big_and_gzip(results):
    upstream = stream_upstream()
    try:
        started = time.time()
        status, headers, digest, size, detail = fetch("/text")
        elapsed = time.time() - started
        want, want_size = expected(BIG_LINES)
        results.check("a 50 MB chunked text response streams through the masking route whole, masked, without a reset",
                      status == 200 and (digest, size) == (want, want_size),
                      f"status {status}, {size} of {want_size} bytes, {detail}")
        print(f"     {want_size / 1e6:.0f} MB masked through Envoy in {elapsed:.1f} s ({want_size / 1e6 / elapsed:.0f} MB/s)")
        status, headers, digest, size, detail = fetch("/gzip")
        want, want_size = expected(GZIP_LINES)
        results.check("a gzip upstream's stream arrives decoded and masked, content-encoding gone",
                      status == 200 and (digest, size) == (want, want_size) and "content-encoding" not in headers,
                      f"status {status}, {size} of {want_size} bytes, {dict(headers)}, {detail}")
        json_document(results)
    finally:
        upstream.shutdown()


def json_document(results):
    import httpx  # noqa: PLC0415

    try:
        response = httpx.get(f"http://127.0.0.1:{ENVOY_PORT}/json", headers=AGENT, timeout=60)
        got = response.json()["customers"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        got, response = repr(error), None
    want = [{"id": i, "email": "[REDACTED:email]", "ssn": "[REDACTED:ssn]"} for i in range(len(CUSTOMERS))]
    results.check("a 3 MB JSON document (over Envoy's 1 MiB buffer) arrives masked and valid, fields too",
                  got == want, f"{response and response.status_code} {str(got)[:300]}")


def note(directory, name):
    """Notes now under `name` in the directory the MCP server and its client share (renamed into
    place, so the other side never reads half a note)."""
    path = os.path.join(directory, name)
    with open(f"{path}.partial", "w") as f:
        f.write(str(time.time()))
    os.replace(f"{path}.partial", path)


def noted(directory, name):
    """When `name` was noted, or None if it never was."""
    try:
        with open(os.path.join(directory, name)) as f:
            return float(f.read())
    except FileNotFoundError:
        return None


async def arrived(directory, name):
    """Waits (up to SIGNAL_WAIT seconds) for the client to note `name`; whether it did."""
    deadline = time.time() + SIGNAL_WAIT
    while noted(directory, name) is None and time.time() < deadline:
        await asyncio.sleep(0.05)
    return noted(directory, name) is not None


def serve_mcp(port, directory):
    """An MCP server whose `export` tool reports progress, then waits for the client's signal that
    the progress arrived, and notes when it sends its result."""
    import uvicorn  # noqa: PLC0415
    from mcp.server.mcpserver import Context, MCPServer  # noqa: PLC0415

    app = MCPServer("e2e-masking")

    @app.tool()
    async def export(ctx: Context) -> str:
        await ctx.report_progress(1, 2, PROGRESS)
        signalled = await arrived(directory, "progress-arrived")
        note(directory, "result-sent")
        return f"exported, signalled={signalled}"

    uvicorn.run(app.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")


def serve_listen(port, directory):
    """An MCP server (the SDK's lowlevel server and `subscriptions/listen` handler) whose listen
    stream acknowledges the subscription, then, once the client says the acknowledgement arrived,
    sends `notifications/resources/updated` for SUBSCRIBED, and once that arrived closes the stream
    gracefully (its final frame, the listen result). It notes when it sent the update and when it
    closed, and whether the client's signals came."""
    import anyio  # noqa: PLC0415
    import uvicorn  # noqa: PLC0415
    from mcp.server.lowlevel import Server  # noqa: PLC0415
    from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler  # noqa: PLC0415
    from mcp.shared.subscriptions import ResourceUpdated  # noqa: PLC0415

    bus = InMemorySubscriptionBus()
    streams = ListenHandler(bus)

    async def update_then_close():
        if await arrived(directory, "ack-arrived"):
            note(directory, "update-sent")
            await bus.publish(ResourceUpdated(uri=SUBSCRIBED))
            if await arrived(directory, "update-arrived"):
                note(directory, "signalled")
        note(directory, "closed")
        streams.close()

    async def on_listen(ctx, params):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(update_then_close)
            return await streams(ctx, params)

    app = Server("e2e-listen", on_subscriptions_listen=on_listen)
    uvicorn.run(app.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")


def mcp_client(url):
    """The official SDK's client of the MCP server behind Envoy, calling as an agent."""
    import httpx2  # noqa: PLC0415
    from mcp import Client  # noqa: PLC0415
    from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers=AGENT, timeout=30))
    return Client(transport, read_timeout_seconds=30)


async def call_export(url, directory):
    """Calls `export` through Envoy: (progress notifications with their arrival times, the
    result's text)."""
    seen = []

    async def progress(value, total, message):
        seen.append((time.time(), message))
        note(directory, "progress-arrived")

    async with mcp_client(url) as client:
        result = await client.call_tool("export", {}, progress_callback=progress)
    return seen, "".join(getattr(block, "text", "") for block in result.content)


async def listen_updates(url, directory):
    """Listens to SUBSCRIBED through Envoy: when the acknowledgement arrived and the URIs it
    honours, the updates with their arrival times, when the stream ended and how."""
    from mcp.client.subscriptions import SubscriptionLost  # noqa: PLC0415

    updates = []
    async with mcp_client(url) as client, client.listen(resource_subscriptions=[SUBSCRIBED]) as subscription:
        acked_at, honoured = time.time(), subscription.honored.resource_subscriptions
        note(directory, "ack-arrived")
        try:
            async for event in subscription:
                updates.append((time.time(), getattr(event, "uri", repr(event))))
                note(directory, "update-arrived")
            ending = "closed by the server"
        except SubscriptionLost as lost:
            ending = repr(lost)
        return acked_at, honoured, updates, time.time(), ending


@contextlib.contextmanager
def mcp_server(role, name):
    """The MCP server `serve-<role>` on MCP_SERVER, listening; yields the directory it shares with
    its client."""
    from processes import _spawn, listening, wait_for, workdir  # noqa: PLC0415

    directory = workdir(name)
    log = open(os.path.join(directory, "server.log"), "w")
    server = _spawn([PYTHON, os.path.abspath(__file__), f"serve-{role}", str(MCP_SERVER), directory], log)
    try:
        wait_for(lambda: listening(MCP_SERVER), f"the {role} MCP server")
        yield directory
    finally:
        server.terminate()
        server.wait(timeout=10)


def mcp_progress(results):
    with mcp_server("mcp", "mcp-masking") as directory:
        seen, text = asyncio.run(asyncio.wait_for(call_export(f"http://127.0.0.1:{ENVOY_PORT}/mcp", directory), 60))
        result_sent = noted(directory, "result-sent")
        first = seen[0] if seen else (None, None)
        results.check("MCP progress over SSE reaches the client before the server sends the result",
                      first[0] is not None and result_sent is not None and first[0] < result_sent and "signalled=True" in text,
                      f"progress {seen}, result sent at {result_sent}, {text!r}")
        results.check("the progress notification is masked", first[1] == "mailing [REDACTED:email]", repr(first[1]))


def mcp_listen(results):
    with mcp_server("listen", "mcp-listen") as directory:
        url = f"http://127.0.0.1:{ENVOY_PORT}/mcp"
        acked_at, honoured, updates, ended_at, ending = asyncio.run(asyncio.wait_for(listen_updates(url, directory), 60))
        sent, closed, signalled = (noted(directory, name) for name in ("update-sent", "closed", "signalled"))
        update_at, uri = updates[0] if updates else (None, None)
        results.check("a subscriptions/listen acknowledgement and update reach the client while the server holds the stream",
                      None not in (sent, signalled, update_at, closed) and acked_at < sent < update_at < closed,
                      f"ack at {acked_at}, update sent at {sent}, arrived {updates}, closed at {closed}")
        results.check("the listen stream ends cleanly when the server closes it",
                      ending == "closed by the server" and closed is not None and ended_at >= closed and len(updates) == 1,
                      f"{ending}, ended at {ended_at}, closed at {closed}")
        results.check("the acknowledgement and the update are masked",
                      honoured == [SUBSCRIBED_MASKED] and uri == SUBSCRIBED_MASKED, f"honoured {honoured}, update {uri!r}")


def masking(results):
    import bootstraps  # noqa: PLC0415
    from processes import Envoy  # noqa: PLC0415

    for upstream, check in ((STREAM_UPSTREAM, big_and_gzip), (MCP_SERVER, mcp_progress), (MCP_SERVER, mcp_listen)):
        envoy = Envoy(bootstraps.guarded_http(json.dumps(POLICY), upstream=upstream), concurrency=1, name="masking-envoy").start()
        try:
            check(results)
        finally:
            envoy.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve-mcp"]:
        serve_mcp(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:2] == ["serve-listen"]:
        serve_listen(int(sys.argv[2]), sys.argv[3])
    else:
        from e2e import run_alone

        run_alone(masking)
