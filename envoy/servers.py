"""Upstream stubs on loopback: a quiet keep-alive HTTP server, and the upstream the suite sends
through Envoy to, which records what reached it and answers a customer record to mask.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loopback import UPSTREAM_PORT


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
