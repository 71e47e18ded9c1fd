"""The official MCP Python SDK on both ends, for the e2e suite: `serve PORT` runs an MCP server
built with the SDK (its Streamable HTTP app under uvicorn), `check URL` drives the SDK's own
client through Envoy and prints one JSON line per call. Runs under either major version: 2.x
(`MCPServer`, `Client`) or 1.x (`FastMCP`, `ClientSession`), whichever the interpreter has.

    python envoy/mcp_sdk.py serve 18103
    python envoy/mcp_sdk.py check http://127.0.0.1:18100/mcp
"""

import asyncio
import json
import sys
from importlib.metadata import version

MAJOR = int(version("mcp").split(".")[0])
AGENT = {"x-agent-id": "agent:e2e"}
# Over the e2e policy's limits.max_body_bytes (65536).
OVERSIZE = "SELECT '" + "x" * 70000 + "'"


def server():
    if MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer  # noqa: PLC0415

        app = MCPServer("e2e")
    else:
        from mcp.server.fastmcp import FastMCP  # noqa: PLC0415

        app = FastMCP("e2e")

    @app.tool()
    def search(q: str) -> str:
        return f"found {q}"

    @app.tool()
    def delete_project(id: int) -> str:
        return f"deleted {id}"

    @app.tool()
    def run_sql(query: str) -> str:
        return f"ran {len(query)} bytes"

    @app.resource("docs://readme")
    def readme() -> str:
        return "read me"

    @app.resource("secret://db/password")
    def password() -> str:
        return "hunter2"

    @app.prompt()
    def summary(topic: str) -> str:
        return f"Summarize {topic}."

    return app


def serve(port):
    import uvicorn  # noqa: PLC0415

    uvicorn.run(server().streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")


class Session:
    """The SDK's client session through `url`, as an agent."""

    def __init__(self, url):
        self.url = url

    async def __aenter__(self):
        if MAJOR >= 2:
            import httpx2  # noqa: PLC0415
            from mcp import Client  # noqa: PLC0415
            from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

            transport = streamable_http_client(self.url, http_client=httpx2.AsyncClient(headers=AGENT, timeout=20))
            self.inner = Client(transport, read_timeout_seconds=20)
            self.client = await self.inner.__aenter__()
        else:
            from datetime import timedelta  # noqa: PLC0415

            from mcp import ClientSession  # noqa: PLC0415
            from mcp.client.streamable_http import streamablehttp_client  # noqa: PLC0415

            self.transport = streamablehttp_client(self.url, headers=AGENT)
            read, write, _ = await self.transport.__aenter__()
            self.inner = ClientSession(read, write, read_timeout_seconds=timedelta(seconds=20))
            self.client = await self.inner.__aenter__()
            await self.client.initialize()
        return self

    async def __aexit__(self, *exc):
        await self.inner.__aexit__(*exc)
        if MAJOR < 2:
            await self.transport.__aexit__(*exc)

    async def ask(self, request):
        """["ok", text] or ["error", JSON-RPC code, message] for any request coroutine."""
        try:
            result = await request
        except Exception as error:  # noqa: BLE001 (the SDK's error type differs across majors)
            inner = getattr(error, "error", None)
            return ["error", getattr(inner, "code", None), str(error)[:200]]
        parts = getattr(result, "contents", None) or getattr(result, "messages", None) or []
        texts = [getattr(getattr(p, "content", p), "text", "") for p in parts]
        return ["ok", "".join(t for t in texts if isinstance(t, str))[:200]]

    async def call(self, name, arguments):
        """["ok" | "tool-error", text] or ["error", JSON-RPC code, message]."""
        try:
            result = await self.client.call_tool(name, arguments)
        except Exception as error:  # noqa: BLE001 (the SDK's error type differs across majors)
            inner = getattr(error, "error", None)
            return ["error", getattr(inner, "code", None), str(error)[:200]]
        text = "".join(getattr(block, "text", "") for block in result.content)
        failed = result.is_error if MAJOR >= 2 else result.isError
        return ["tool-error" if failed else "ok", text[:200]]


async def check(url):
    def report(name, got):
        print(json.dumps({"call": name, "got": got}), flush=True)

    async with Session(url) as session:
        tools = await session.client.list_tools()
        report("tools/list", sorted(t.name for t in tools.tools))
        report("search", await session.call("search", {"q": "orders"}))
        report("delete_project", await session.call("delete_project", {"id": 7}))
        report("search after the denial", await session.call("search", {"q": "after"}))
        report("run_sql DROP", await session.call("run_sql", {"query": "DROP TABLE orders"}))
        report("run_sql oversize", await session.call("run_sql", {"query": OVERSIZE}))
        report("run_sql after the oversize one", await session.call("run_sql", {"query": "SELECT 1"}))
        client = session.client
        report("resources/read docs", await session.ask(client.read_resource(resource("docs://readme"))))
        report("resources/read secret", await session.ask(client.read_resource(resource("secret://db/password"))))
        report("prompts/get", await session.ask(client.get_prompt("summary", {"topic": "orders"})))
        report("tools/list at the end", sorted(t.name for t in (await client.list_tools()).tools))


def resource(uri):
    """A URI as the SDK's read_resource takes it (1.x wants pydantic's AnyUrl)."""
    if MAJOR >= 2:
        return uri
    from pydantic import AnyUrl  # noqa: PLC0415

    return AnyUrl(uri)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        asyncio.run(asyncio.wait_for(check(sys.argv[2]), 120))
