"""Model tool calls as the official SDKs see them (PyPI `openai` and `anthropic`), through a real
Envoy whose upstream is the provider stub (envoy/llm_stub.py, streams in 5-byte chunks, so events
arrive split): Chat Completions, Responses and Anthropic Messages, whole, `stream=True` iterated
and through each SDK's stream helper. What is checked is what the SDK parses: an allowed call
arrives with the id, name and arguments the stub sent; a call denied (a DROP in `run_sql` by
`llm.sql`, a tool by `when.tool` names) is absent, the explanation stands in the assistant's
text, the other calls are intact and `finish_reason` / `stop_reason` agree with what is left; a
policy in monitor mode changes no byte and counts `would_deny`; arguments that are not strict
JSON are denied where the SDK would have repaired them; a streamed Chat answer is parsed at
`[DONE]` while the stub holds the stream open; a request sending back the result of a denied
call is refused (`PermissionDeniedError`) before it reaches the stub; on an `on_deny: error`
route an answer with a denied call is the SDK's `PermissionDeniedError`, streamed or not; a
route's `mask` redacts the email and the key of a prompt and of a tool's result before the stub.

Called from `e2e.py`; `python envoy/e2e_llm.py` runs this section alone (after `make wasm venv`,
under the shared lock).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstraps  # noqa: E402
import llm_stub  # noqa: E402
from loopback import ENVOY_PORT, LLM_UPSTREAM  # noqa: E402
from processes import Envoy  # noqa: E402

AGENT = {"x-agent-id": "agent:e2e"}
# The agents that send this header reach the routes with `on_deny: error`.
STRICT = {"x-on-deny": "error"}
STRICT_MATCH = {"name": "x-on-deny", "equals": "error"}
# The agents that send this header reach the routes whose `mask` applies to what goes out.
MASKED = {"x-masked": "yes"}
MASKED_MATCH = {"name": "x-masked", "equals": "yes"}
MASK = {"detectors": {"email": "redact", "api_key": "redact"}}
# What an agent sends the provider that must not leave: in the prompt and in a tool's result.
PROMPT = "Write to jane.doe@example.com about the refund; our key is sk_live_4eC39HqLyjWDarjtT1zdp7dc."
RESULT = '[{"id": 7, "email": "bob.smith@example.org"}]'
SECRETS = ("jane.doe@example.com", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "bob.smith@example.org")
SQL = [{"tool": "run_sql", "pointer": "/query", "dialect": "postgres"}]
RULES = [
    {"name": "no-drops", "effect": "deny", "when": {"sql": {"operations": ["drop", "truncate"]}},
     "message": "Dropping tables goes through migrations."},
    {"name": "no-delete-tools", "effect": "deny", "when": {"actor": "agent", "tool": {"names": ["delete_*"]}}},
]
SELECT = ("run_sql", '{"query": "SELECT id FROM orders WHERE total > 100"}')
DROP = ("run_sql", '{"query": "DROP TABLE users"}')
DELETE = ("delete_project", '{"project": "p-7", "force": true}')
SEARCH = ("search", '{"q": "caf\u00e9 \u2615 orders"}')
# Arguments the SDKs would take (Anthropic's partial-JSON parser repairs them, Python's json reads
# NaN and lets the last key win) and the filter must not: unparsable, denied by `on_unparsable`.
GARBAGE = ("run_sql", '{"query": "SELECT 1"} x')
DUPLICATE = ("run_sql", '{"query": "SELECT 1", "query": "DROP TABLE t"}')
NAN = ("search", '{"q": NaN}')
# Which rule denies each call above; absent: allowed.
UNPARSABLE = "limits.on_unparsable"
DENIED_BY = {DROP: "no-drops", DELETE: "no-delete-tools", GARBAGE: UNPARSABLE, DUPLICATE: UNPARSABLE, NAN: UNPARSABLE}
SCENARIOS = {"allowed": [SELECT, SEARCH], "mixed": [SELECT, DROP, DELETE, SEARCH], "all denied": [DROP, DELETE]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
                for name in ("run_sql", "delete_project", "search")]
RESPONSES_TOOLS = [{"type": "function", "name": name, "parameters": {"type": "object"}}
                   for name in ("run_sql", "delete_project", "search")]


def policy(mode="enforce"):
    return {
        "version": 1,
        "mode": mode,
        "proxy": {"allow_on_headers_stop_iteration": True},
        "identity": {"principal": [{"header": "x-agent-id"}], "agent_when": [{"principal": "agent:*"}]},
        "routes": [
            {"name": "anthropic-strict", "match": {"path": "/v1/messages", "headers": [STRICT_MATCH]},
             "llm": {"provider": "anthropic", "on_deny": "error", "sql": SQL}, "rules": ["no-drops", "no-delete-tools"]},
            {"name": "openai-strict", "match": {"path_prefix": "/v1", "headers": [STRICT_MATCH]},
             "llm": {"provider": "openai", "on_deny": "error", "sql": SQL}, "rules": ["no-drops", "no-delete-tools"]},
            {"name": "anthropic-masked", "match": {"path": "/v1/messages", "headers": [MASKED_MATCH]},
             "llm": {"provider": "anthropic", "sql": SQL}, "mask": MASK, "rules": ["no-drops", "no-delete-tools"]},
            {"name": "openai-masked", "match": {"path_prefix": "/v1", "headers": [MASKED_MATCH]},
             "llm": {"provider": "openai", "sql": SQL}, "mask": MASK, "rules": ["no-drops", "no-delete-tools"]},
            {"name": "anthropic", "match": {"path": "/v1/messages"}, "llm": {"provider": "anthropic", "sql": SQL},
             "rules": ["no-drops", "no-delete-tools"]},
            {"name": "openai", "match": {"path_prefix": "/v1"}, "llm": {"provider": "openai", "sql": SQL},
             "rules": ["no-drops", "no-delete-tools"]},
        ],
        "rules": RULES,
    }


def ask(calls):
    return "Please do this.\n" + "\n".join(f"call {name} {arguments}" for name, arguments in calls)


def refusal(name, call_id, rule):
    """The part of the filter's explanation (reply/llm.rs) that names the call and the rule."""
    return f'The tool call "{name}" ({call_id}) was denied by rule "{rule}"'


class Clients:
    """The SDK clients, pointed at Envoy (or straight at the stub, for the reference parse)."""

    def __init__(self, port, headers=None):
        import anthropic  # noqa: PLC0415
        import openai  # noqa: PLC0415

        headers = {**AGENT, **(headers or {})}
        self.openai = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-e2e", default_headers=headers,
                                    timeout=20)
        self.anthropic = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="sk-ant-e2e",
                                             default_headers=headers, timeout=20)


# Chat Completions: (finish_reason, content, [(id, name, arguments)], tool-call indexes seen).

def chat_summary(completion):
    choice = completion.choices[0]
    calls = [(t.id, t.function.name, t.function.arguments) for t in choice.message.tool_calls or []]
    return choice.finish_reason, choice.message.content or "", calls, list(range(len(calls)))


def chat_whole(clients, calls):
    return chat_summary(clients.openai.chat.completions.create(model="gpt-stub", messages=[{"role": "user", "content": ask(calls)}],
                                                               tools=OPENAI_TOOLS))


def chat_helper(clients, calls):
    with clients.openai.chat.completions.stream(model="gpt-stub", messages=[{"role": "user", "content": ask(calls)}],
                                                tools=OPENAI_TOOLS) as stream:
        for _ in stream:
            pass
        return chat_summary(stream.get_final_completion())


def chat_chunks(clients, calls):
    finish, content, found = None, "", {}
    for chunk in clients.openai.chat.completions.create(model="gpt-stub", messages=[{"role": "user", "content": ask(calls)}],
                                                        tools=OPENAI_TOOLS, stream=True):
        for choice in chunk.choices:
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for fragment in choice.delta.tool_calls or []:
                entry = found.setdefault(fragment.index, ["", "", ""])
                entry[0] += fragment.id or ""
                entry[1] += (fragment.function and fragment.function.name) or ""
                entry[2] += (fragment.function and fragment.function.arguments) or ""
    return finish, content, [tuple(found[i]) for i in sorted(found)], sorted(found)


def chat_problems(got, calls):
    finish, content, found, indexes = got
    kept = [(f"call_{i}", name, arguments) for i, (name, arguments) in enumerate(calls) if (name, arguments) not in DENIED_BY]
    problems = []
    if found != kept:
        problems.append(f"calls {found} != {kept}")
    if indexes != list(range(len(kept))):
        problems.append(f"indexes {indexes}")
    if finish != ("tool_calls" if kept else "stop"):
        problems.append(f"finish_reason {finish}")
    if not content.startswith("Working on it: \u00e9t\u00e9."):
        problems.append("the model's own text is not first")
    problems += explanation_problems(content, calls, "call_")
    return problems


def explanation_problems(text, calls, prefix):
    problems = []
    for i, call in enumerate(calls):
        if call in DENIED_BY and refusal(call[0], f"{prefix}{i}", DENIED_BY[call]) not in text:
            problems.append(f"no explanation for {prefix}{i}")
    if "DROP TABLE" in text:
        problems.append("the denied arguments are in the text")
    return problems


# Responses: (status, [("message", text) | ("function_call", call_id, name, arguments)]).

def responses_items(output):
    items = []
    for item in output:
        if item.type == "function_call":
            items.append(("function_call", item.call_id, item.name, item.arguments))
        elif item.type == "message":
            items.append(("message", "".join(part.text for part in item.content if part.type == "output_text")))
        else:
            items.append((item.type,))
    return items


def responses_whole(clients, calls):
    response = clients.openai.responses.create(model="gpt-stub", input=ask(calls), tools=RESPONSES_TOOLS)
    return response.status, responses_items(response.output)


def responses_helper(clients, calls):
    with clients.openai.responses.stream(model="gpt-stub", input=ask(calls), tools=RESPONSES_TOOLS) as stream:
        for _ in stream:
            pass
        response = stream.get_final_response()
    return response.status, responses_items(response.output)


def responses_events(clients, calls):
    """The items of `response.completed`, once checked against the items the events finished."""
    done, completed = {}, None
    for event in clients.openai.responses.create(model="gpt-stub", input=ask(calls), tools=RESPONSES_TOOLS, stream=True):
        if event.type == "response.output_item.done":
            done[event.output_index] = event.item
        elif event.type == "response.completed":
            completed = event.response
    if completed is None:
        return None, [("no response.completed",)]
    items = responses_items(completed.output)
    if responses_items(done[i] for i in sorted(done)) != items:
        return completed.status, items + [("the item events disagree with response.completed",)]
    return completed.status, items


def responses_problems(got, calls):
    status, items = got
    problems = [] if status == "completed" else [f"status {status}"]
    if len(items) != 1 + len(calls) or items[0] != ("message", "Working on it."):
        return problems + [f"items {items}"]
    for i, (call, item) in enumerate(zip(calls, items[1:])):
        if call in DENIED_BY:
            if item[0] != "message" or refusal(call[0], f"call_{i}", DENIED_BY[call]) not in item[1]:
                problems.append(f"item {i + 1} is {item}, not the explanation")
        elif item != ("function_call", f"call_{i}", *call):
            problems.append(f"item {i + 1} {item} is not the call sent")
    return problems


# Anthropic Messages: (stop_reason, [("text", text) | ("tool_use", id, name, input)], block indexes).

def message_blocks(content):
    return [("tool_use", b.id, b.name, b.input) if b.type == "tool_use" else (b.type, getattr(b, "text", None)) for b in content]


def messages_whole(clients, calls):
    message = clients.anthropic.messages.create(model="claude-stub", max_tokens=100, messages=[{"role": "user", "content": ask(calls)}])
    return message.stop_reason, message_blocks(message.content), list(range(len(message.content)))


def messages_helper(clients, calls):
    with clients.anthropic.messages.stream(model="claude-stub", max_tokens=100,
                                           messages=[{"role": "user", "content": ask(calls)}]) as stream:
        for _ in stream:
            pass
        message = stream.get_final_message()
    return message.stop_reason, message_blocks(message.content), list(range(len(message.content)))


def messages_events(clients, calls):
    """The blocks as the events build them; a tool's input is its `partial_json` parsed strictly."""
    stop, blocks = None, {}
    for event in clients.anthropic.messages.create(model="claude-stub", max_tokens=100, stream=True,
                                                   messages=[{"role": "user", "content": ask(calls)}]):
        if event.type == "content_block_start":
            block = event.content_block
            blocks[event.index] = ["tool_use", block.id, block.name, ""] if block.type == "tool_use" else [block.type, block.text]
        elif event.type == "content_block_delta":
            delta = event.delta
            blocks[event.index][-1] += delta.partial_json if delta.type == "input_json_delta" else delta.text
        elif event.type == "message_delta":
            stop = event.delta.stop_reason
    for block in blocks.values():
        if block[0] == "tool_use":
            block[3] = json.loads(block[3] or "{}")
    return stop, [tuple(blocks[i]) for i in sorted(blocks)], sorted(blocks)


def messages_problems(got, calls):
    stop, blocks, indexes = got
    problems = [] if indexes == list(range(len(blocks))) else [f"block indexes {indexes}"]
    kept = [call for call in calls if call not in DENIED_BY]
    if stop != ("tool_use" if kept else "end_turn"):
        problems.append(f"stop_reason {stop}")
    if len(blocks) != 1 + len(calls) or blocks[0] != ("text", "Working on it."):
        return problems + [f"blocks {blocks}"]
    for i, (call, block) in enumerate(zip(calls, blocks[1:])):
        if call in DENIED_BY:
            if block[0] != "text" or refusal(call[0], f"toolu_{i}", DENIED_BY[call]) not in block[1]:
                problems.append(f"block {i + 1} is {block}, not the explanation")
        elif block != ("tool_use", f"toolu_{i}", call[0], json.loads(call[1])):
            problems.append(f"block {i + 1} {block} is not the call sent")
    return problems


WAYS = {
    "Chat Completions": ((chat_whole, "create"), (chat_chunks, "create(stream=True)"), (chat_helper, "chat.completions.stream"),
                         chat_problems),
    "Responses": ((responses_whole, "create"), (responses_events, "create(stream=True)"), (responses_helper, "responses.stream"),
                  responses_problems),
    "Messages": ((messages_whole, "create"), (messages_events, "create(stream=True)"), (messages_helper, "messages.stream"),
                 messages_problems),
}


def attempt_raising(way, clients, calls):
    """What `way` parsed, or the exception the SDK raised (the exception is then the finding)."""
    try:
        return way(clients, calls), None
    except Exception as error:  # noqa: BLE001
        return None, error


def attempt(way, clients, calls):
    got, error = attempt_raising(way, clients, calls)
    return got, error and f"{type(error).__module__}.{type(error).__name__}: {str(error)[:300]}"


def rewritten(results, clients):
    """Every scenario, every API, every way of reading: what the SDK parses, judged against the stub's calls."""
    for scenario, calls in SCENARIOS.items():
        for api, (*ways, problems_of) in WAYS.items():
            for way, label in ways:
                got, error = attempt(way, clients, calls)
                problems = [error] if error else problems_of(got, calls)
                results.check(f"LLM {api} {label}, {scenario} calls: what the SDK parses", not problems, f"{problems} {got}")


def split_sizes(results, clients):
    """The mixed scenario streamed one byte a chunk, and all in one chunk."""
    for size in (1, 1 << 16):
        llm_stub.CHUNK = size
        try:
            for api, (_, *streams, problems_of) in WAYS.items():
                for way, label in streams:
                    got, error = attempt(way, clients, SCENARIOS["mixed"])
                    problems = [error] if error else problems_of(got, SCENARIOS["mixed"])
                    results.check(f"LLM {api} {label}, mixed calls in {size}-byte chunks", not problems, f"{problems} {got}")
        finally:
            llm_stub.CHUNK = 5


def unparsable(results, clients):
    """Arguments that are not strict JSON are denied, whatever the SDK would make of them (a whole
    Anthropic message is left out: the stub can only write JSON in a block's `input`)."""
    calls = [SELECT, GARBAGE, DUPLICATE, NAN]
    for api, (*ways, problems_of) in WAYS.items():
        for way, label in ways:
            if way is messages_whole:
                continue
            got, error = attempt(way, clients, calls)
            problems = [error] if error else problems_of(got, calls)
            results.check(f"LLM {api} {label}: arguments that are not strict JSON denied", not problems, f"{problems} {got}")


def done_is_the_end(results, clients, scenario):
    """The openai SDK hangs up at `[DONE]`: with the stub holding the stream open after it, the
    answer through the filter is parsed long before the stub lets go."""
    llm_stub.HOLD = 3
    try:
        for way, label in ((chat_chunks, "create(stream=True)"), (chat_helper, "chat.completions.stream")):
            started = time.monotonic()
            got, error = attempt(way, clients, SCENARIOS[scenario])
            elapsed = time.monotonic() - started
            problems = [error] if error else chat_problems(got, SCENARIOS[scenario])
            results.check(f"LLM Chat Completions {label}, {scenario} calls: parsed at [DONE] while the stub holds the stream open",
                          not problems and elapsed < 1.5, f"{elapsed:.2f} s {problems}")
    finally:
        llm_stub.HOLD = 0


def sent_back(results, clients):
    """A message left with no call goes back to the provider as the SDK serializes it (the stub,
    like OpenAI, refuses `tool_calls: []`)."""
    question = [{"role": "user", "content": ask(SCENARIOS["all denied"])}]
    try:
        completion = clients.openai.chat.completions.create(model="gpt-stub", messages=question)
        raw = clients.openai.chat.completions.with_raw_response.create(model="gpt-stub", messages=question)
        key_absent = "tool_calls" not in json.loads(raw.http_response.text)["choices"][0]["message"]
        again = clients.openai.chat.completions.create(
            model="gpt-stub", messages=question + [completion.choices[0].message, {"role": "user", "content": "Why?"}])
        detail, ok = again.choices[0].finish_reason, key_absent and again.choices[0].finish_reason == "stop"
    except Exception as error:  # noqa: BLE001
        detail, ok = repr(error)[:300], False
    results.check("LLM Chat Completions: a message emptied of calls has no tool_calls key and goes back to the provider",
                  ok, detail)


def as_the_stub_sent(results, clients, scenario, where=""):
    """What the SDK parses through the filter equals what it parses straight from the stub."""
    direct = Clients(LLM_UPSTREAM)
    for api, (*ways, _) in WAYS.items():
        for way, label in ways:
            got, error = attempt(way, clients, SCENARIOS[scenario])
            want, _ = attempt(way, direct, SCENARIOS[scenario])
            results.check(f"LLM {where}{api} {label}, {scenario} calls: parsed as from the stub itself", error is None and got == want,
                          f"{error or got} != {want}")


def stream_bytes(port, path, body):
    import httpx  # noqa: PLC0415

    with httpx.stream("POST", f"http://127.0.0.1:{port}{path}", json=body, headers=AGENT, timeout=20) as response:
        return response.status_code, b"".join(response.iter_raw())


def unchanged_bytes(results):
    """Monitor mode: each streamed answer leaves Envoy byte for byte as the stub wrote it."""
    question = ask(SCENARIOS["mixed"])
    for path, body in (("/v1/chat/completions", {"model": "m", "stream": True, "messages": [{"role": "user", "content": question}]}),
                       ("/v1/responses", {"model": "m", "stream": True, "input": question}),
                       ("/v1/messages", {"model": "m", "stream": True, "max_tokens": 9, "messages": [{"role": "user", "content": question}]})):
        got, want = stream_bytes(ENVOY_PORT, path, body), stream_bytes(LLM_UPSTREAM, path, body)
        results.check(f"LLM monitor mode: {path} streamed byte for byte as the stub wrote it", got == want and b"DROP" in got[1],
                      f"{got[0]} {len(got[1])} bytes, the stub's {want[0]} {len(want[1])}")


def answering(call, prompt="go", result="done"):
    """The three APIs' requests with `prompt` from the user, carrying back `result` for `call`
    (name, arguments), each with the call itself just before, as the providers require; whole
    and through the stream helper."""
    name, arguments = call
    chat = [{"role": "user", "content": prompt},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": name, "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": result}]
    responses = [{"role": "user", "content": prompt}, {"type": "function_call", "call_id": "call_9", "name": name, "arguments": arguments},
                 {"type": "function_call_output", "call_id": "call_9", "output": result}]
    messages = [{"role": "user", "content": prompt},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": name, "input": json.loads(arguments)}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": result},
                                             {"type": "text", "text": prompt}]}]
    return {
        "Chat Completions create": lambda c: c.openai.chat.completions.create(model="gpt-stub", messages=chat),
        "Chat Completions stream": lambda c: drain(c.openai.chat.completions.stream(model="gpt-stub", messages=chat)),
        "Responses create": lambda c: c.openai.responses.create(model="gpt-stub", input=responses),
        "Responses stream": lambda c: drain(c.openai.responses.stream(model="gpt-stub", input=responses)),
        "Messages create": lambda c: c.anthropic.messages.create(model="claude-stub", max_tokens=9, messages=messages),
        "Messages stream": lambda c: drain(c.anthropic.messages.stream(model="claude-stub", max_tokens=9, messages=messages)),
    }


def drain(manager):
    with manager as stream:
        for _ in stream:
            pass
    return stream


def permission_denied(error):
    """Whether `error` is the SDK's own permission error for a 403 in the provider's shape."""
    import anthropic  # noqa: PLC0415
    import openai  # noqa: PLC0415

    if isinstance(error, openai.PermissionDeniedError):
        return error.status_code == 403 and error.code in DENIED_BY.values()
    if isinstance(error, anthropic.PermissionDeniedError):
        return error.status_code == 403 and error.body["error"]["type"] == "permission_error"
    return False


def results_sent_back(results, clients, envoy):
    """A request answering a call the policy denies is refused with the SDK's PermissionDeniedError
    and never reaches the stub (one request: no retry); answering an allowed call goes through."""
    for call, denied in ((DROP, True), (DELETE, True), (SELECT, False)):
        for label, send in answering(call).items():
            before, denials = len(llm_stub.REQUESTS), deny_count(envoy)
            try:
                send(clients)
                error = None
            except Exception as raised:  # noqa: BLE001
                error = raised
            reached, counted = len(llm_stub.REQUESTS) - before, deny_count(envoy) - denials
            if denied:
                ok = permission_denied(error) and reached == 0 and counted == 1
            else:
                ok = error is None and reached == 1 and counted == 0
            results.check(f"LLM {label} sending back the result of {call[0]} ({'denied' if denied else 'allowed'})", ok,
                          f"{type(error).__name__}: {str(error)[:200]}; reached the stub {reached}, denials counted {counted}")


def refused_whole(results, envoy):
    """`on_deny: error`: an answer with a denied call is the SDK's PermissionDeniedError, streamed
    or not (the headers wait for the decision), after one request (no retry); an answer with
    none arrives as the stub wrote it."""
    strict = Clients(ENVOY_PORT, STRICT)
    for api, (*ways, _) in WAYS.items():
        for way, label in ways:
            before, denials = len(llm_stub.REQUESTS), deny_count(envoy)
            got, error = attempt_raising(way, strict, SCENARIOS["mixed"])
            reached, counted = len(llm_stub.REQUESTS) - before, deny_count(envoy) - denials
            results.check(f"LLM on_deny: error, {api} {label}: PermissionDeniedError after one request",
                          permission_denied(error) and reached == 1 and counted >= 1,
                          f"{type(error).__name__}: {str(error)[:200]} {got}; requests {reached}, denials {counted}")
    as_the_stub_sent(results, strict, "allowed", "on_deny: error, ")


def masked_out(results):
    """A route's `mask` applies to what goes out: the email and the key of the prompt, the email
    of a tool's result arrive at the stub redacted, and the agent still gets its answer."""
    masked = Clients(ENVOY_PORT, MASKED)
    for label, send in answering(SELECT, PROMPT, RESULT).items():
        before = len(llm_stub.REQUESTS)
        _, error = attempt_raising(lambda clients, _: send(clients), masked, None)
        received = [json.dumps(body, ensure_ascii=False) for _, body in llm_stub.REQUESTS[before:]]
        leaked = [secret for secret in SECRETS if any(secret in text for text in received)]
        ok = (error is None and len(received) == 1 and not leaked and received[0].count("[REDACTED:email]") >= 2
              and "[REDACTED:api_key]" in received[0])
        results.check(f"LLM mask, {label}: the prompt's and the tool result's secrets reach the stub redacted", ok,
                      f"{error!r:.200}; leaked {leaked}; {received and received[0][:400]}")


def deny_count(envoy):
    return envoy.stats("wasmcustom.guardrails.decisions.deny").get("wasmcustom.guardrails.decisions.deny", 0)


def would_deny_count(envoy):
    return envoy.stats("wasmcustom.guardrails.decisions.would_deny").get("wasmcustom.guardrails.decisions.would_deny", 0)


def start_envoy(mode):
    config = bootstraps.guarded_http(json.dumps(policy(mode)), allow_on_headers_stop_iteration=True, upstream=LLM_UPSTREAM)
    return Envoy(config, concurrency=1, name=f"llm-{mode}-envoy").start()


def enforced(results):
    envoy = start_envoy("enforce")
    try:
        clients = Clients(ENVOY_PORT)
        as_the_stub_sent(results, clients, "allowed")
        rewritten(results, clients)
        split_sizes(results, clients)
        unparsable(results, clients)
        done_is_the_end(results, clients, "mixed")
        sent_back(results, clients)
        results_sent_back(results, clients, envoy)
        refused_whole(results, envoy)
        masked_out(results)
    finally:
        envoy.stop()


def monitored(results):
    envoy = start_envoy("monitor")
    try:
        clients = Clients(ENVOY_PORT)
        before = would_deny_count(envoy), deny_count(envoy)
        as_the_stub_sent(results, clients, "mixed")
        after = would_deny_count(envoy), deny_count(envoy)
        # Nine answers (three APIs, three ways), two calls of each that enforcement would deny.
        results.check("LLM monitor mode: each call it would deny counted would_deny, none denied",
                      (after[0] - before[0], after[1] - before[1]) == (18, 0), f"{before} -> {after}")
        unchanged_bytes(results)
    finally:
        envoy.stop()


def llm(results):
    stub = llm_stub.start(LLM_UPSTREAM)
    try:
        enforced(results)
        monitored(results)
    finally:
        stub.shutdown()


if __name__ == "__main__":
    from e2e import run_alone

    run_alone(llm)
