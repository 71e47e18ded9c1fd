"""A model provider stub for the LLM e2e checks: OpenAI Chat Completions (`/v1/chat/completions`),
Responses (`/v1/responses`) and Anthropic Messages (`/v1/messages`), whole or streamed, in the shapes
the providers' API references and SDK types give (openai-python `types/chat/chat_completion_chunk.py`,
`types/responses/`, anthropic-sdk-python `types/`; /work/llm-research.md cites them).

The last user message names the tool calls to make, one per line: `call run_sql {"query": "DROP TABLE
users"}`. Streams go out in small chunks, flushed one by one, so tool calls arrive split across
chunks (and an event split in a UTF-8 character). Every request body is kept (`REQUESTS`) for the
checks that masked fields never reach the provider. Like OpenAI, an assistant message with
`tool_calls: []` is refused with 400.
"""

import http.server
import json
import socketserver
import sys
import threading
import time

REQUESTS = []
CHUNK = 5
# Seconds a stream stays open after its last event, as a provider may (the openai SDK must not wait).
HOLD = 0


def calls_asked(text):
    """(name, arguments text) for each `call NAME ARGS` line of the user's message."""
    found = []
    for line in text.splitlines():
        if line.startswith("call "):
            name, _, arguments = line[5:].partition(" ")
            found.append((name, arguments or "{}"))
    return found


def last_user_text(api, body):
    messages = body.get("input") if api == "responses" else body.get("messages")
    if isinstance(messages, str):
        return messages
    for message in reversed(messages or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(part.get("text", "") for part in content or [] if isinstance(part, dict))
    return ""


def sse(events):
    out = b""
    for name, data in events:
        if name:
            out += b"event: " + name.encode() + b"\n"
        out += b"data: " + (data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)).encode() + b"\n\n"
    return out


def chat(calls, stream):
    text = "Working on it: \u00e9t\u00e9."
    if not stream:
        message = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                     for i, (n, a) in enumerate(calls)]
        finish = "tool_calls" if calls else "stop"
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-stub",
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    envelope = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-stub"}
    def chunk(delta, finish=None):
        return (None, {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    events = [chunk({"role": "assistant", "content": text})]
    for i, (name, arguments) in enumerate(calls):
        events.append(chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}))
        for piece in (arguments[:7], arguments[7:]):
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    events.append(chunk({}, "tool_calls" if calls else "stop"))
    events.append((None, "[DONE]"))
    return sse(events)


def responses(calls, stream):
    text = "Working on it."
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    items = [message] + [{"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": n,
                          "arguments": a, "status": "completed"} for i, (n, a) in enumerate(calls)]
    response = {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-stub", "status": "completed",
                "output": items, "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    if not stream:
        return response
    events, seq = [], [0]
    def event(name, data):
        events.append((name, {"type": name, "sequence_number": seq[0], **data}))
        seq[0] += 1
    event("response.created", {"response": {**response, "status": "in_progress", "output": []}})
    for index, item in enumerate(items):
        event("response.output_item.added", {"output_index": index, "item": {**item, "status": "in_progress",
              **({"arguments": ""} if item["type"] == "function_call" else {"content": []})}})
        if item["type"] == "function_call":
            for piece in (item["arguments"][:7], item["arguments"][7:]):
                event("response.function_call_arguments.delta", {"output_index": index, "item_id": item["id"], "delta": piece})
            event("response.function_call_arguments.done", {"output_index": index, "item_id": item["id"], "arguments": item["arguments"]})
        event("response.output_item.done", {"output_index": index, "item": item})
    event("response.completed", {"response": response})
    return sse(events)


def messages(calls, stream):
    text = "Working on it."
    blocks = [{"type": "text", "text": text}] + [{"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": json.loads(a)}
                                                 for i, (n, a) in enumerate(calls) if _is_json(a)]
    stop = "tool_use" if calls else "end_turn"
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-stub", "content": blocks,
               "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    if not stream:
        return message
    events = [("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}})]
    events.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
    events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    for i, (name, arguments) in enumerate(calls, 1):
        events.append(("content_block_start", {"type": "content_block_start", "index": i,
                       "content_block": {"type": "tool_use", "id": f"toolu_{i - 1}", "name": name, "input": {}}}))
        for piece in ("", arguments[:7], arguments[7:]):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                           "delta": {"type": "input_json_delta", "partial_json": piece}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": 9}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return sse(events)


def _is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


APIS = {"/v1/chat/completions": ("chat", chat), "/v1/responses": ("responses", responses), "/v1/messages": ("messages", messages)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.body() or b"{}")
        REQUESTS.append((self.path, body))
        api = APIS.get(self.path.split("?")[0])
        if api is None:
            return self.answer(404, "application/json", b'{"error": {"message": "no such path"}}')
        if any(m.get("tool_calls") == [] for m in body.get("messages") or [] if isinstance(m, dict)):
            error = {"error": {"message": "Invalid 'messages': empty array", "type": "invalid_request_error", "code": "empty_array"}}
            return self.answer(400, "application/json", json.dumps(error).encode())
        name, make = api
        stream = bool(body.get("stream"))
        answer = make(calls_asked(last_user_text(name, body)), stream)
        if stream:
            return self.stream(answer)
        self.answer(200, "application/json", json.dumps(answer, ensure_ascii=False).encode())

    def body(self):
        """The request body, by content-length or chunked (Envoy sends a body it has masked
        chunked: its length changed)."""
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return body

    def answer(self, status, content_type, payload):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def stream(self, payload):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for at in range(0, len(payload), CHUNK):
            part = payload[at:at + CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        time.sleep(HOLD)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # The openai SDK hangs up once it has read `[DONE]`: not the stub's error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def start(port):
    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
