"""Writes the seed corpus of the llm_rewriter fuzz target (fuzz/corpus/llm_rewriter/): the answers
envoy/llm_stub.py gives, for each API, whole and streamed, with no call, allowed and denied calls
and broken arguments, each under every judge, whole and in small chunks, and under a small limit;
and the answers of two bugs fixed (`amplifiers`).
A seed is the three bytes `fuzz/src/llm.rs` reads (API, streamed and judge; chunk seed; limit)
then the body, named by its FNV-1a hash as `make-corpus` names its seeds.

    python3 fuzz/llm_corpus.py
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "envoy"))
import llm_stub  # noqa: E402

APIS = [llm_stub.chat, llm_stub.responses, llm_stub.messages]
SCENARIOS = [
    [],
    [("run_sql", '{"query": "SELECT 1"}')],
    [("drop_table", '{"table": "users"}'), ("run_sql", '{"query": "SELECT \\u00e9t\\u00e9"}')],
    [("delete_project", '{"id": 7}'), ("lookup", "{}"), ("run_sql", '{"query": "DROP')],
]


def fnv(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def amplifiers():
    """The answers that once made the output grow with the square of the input: calls closed by
    one Chat chunk with a long field, and a Responses final output repeating a denied call's id."""
    fragments = [{"index": i} for i in range(300)]
    chunk = {"pad": "x" * 3000, "choices": [{"index": 0, "delta": {"tool_calls": fragments}}]}
    chat = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    def event(name, data):
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"
    item = {"type": "function_call", "call_id": "c", "name": "d" * 3000, "arguments": "{}"}
    responses = event("response.output_item.added", {"output_index": 0, "item": item})
    responses += event("response.output_item.done", {"output_index": 0, "item": item})
    responses += event("response.completed", {"response": {"output": [{"type": "function_call", "call_id": "c"}] * 100}})
    return [bytes([4, 5, 0]) + chat, bytes([1 | 4 | 1 << 3, 5, 0]) + responses.encode()]


def main():
    out = ROOT / "corpus" / "llm_rewriter"
    out.mkdir(parents=True, exist_ok=True)
    for api, make in enumerate(APIS):
        for calls in SCENARIOS:
            for streamed in (False, True):
                answer = make(calls, streamed)
                body = answer if streamed else json.dumps(answer, ensure_ascii=False).encode()
                for judge in range(4):
                    for seed, limit in ((5, 0), (96, 0), (1, 4)):
                        flags = api | (4 if streamed else 0) | judge << 3
                        seed_bytes = bytes([flags, seed, limit]) + body
                        (out / f"seed-{fnv(seed_bytes):016x}").write_bytes(seed_bytes)
    for seed_bytes in amplifiers():
        (out / f"seed-{fnv(seed_bytes):016x}").write_bytes(seed_bytes)


main()
