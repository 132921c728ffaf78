#!/usr/bin/env python3
"""A small MCP server on the Python `mcp` SDK's own server API (MCPServer, the FastMCP successor).

Served over stdio with the SDK's dual-era loop, so a client that starts with `server/discover`
(or sends requests carrying `_meta["io.modelcontextprotocol/protocolVersion"]`) gets the
stateless 2026-07-28 protocol, and a client that starts with `initialize` gets 2025-11-25.

Tools `add(a, b)`, `echo(message)`, `write_note(path, text)` (a stand-in for a write: it
touches nothing and returns "ok"); resource `note://readme` and template `note://{name}`;
prompt `greet(name)`. `tools/list` is marked cacheable and public (ttlMs 60000) so that a
proxy that filters the list has a `cacheScope` to rewrite to `private`.

    python modern_server.py
"""

from __future__ import annotations

from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer

server = MCPServer(
    name="talos-modern-test",
    version="1.0.0",
    instructions="Test server for talos-mcp transcripts.",
    cache_hints={
        "tools/list": CacheHint(ttl_ms=60_000, scope="public"),
        "resources/list": CacheHint(ttl_ms=60_000, scope="public"),
        "prompts/list": CacheHint(ttl_ms=60_000, scope="public"),
    },
)


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Echo a message back.")
def echo(message: str) -> str:
    return f"Echo: {message}"


@server.tool(description="Pretend to write a note (writes nothing).")
def write_note(path: str, text: str) -> str:
    del path, text
    return "ok"


@server.resource("note://readme", name="readme", description="A fixed note.", mime_type="text/plain")
def readme() -> str:
    return "This is the readme note.\n"


@server.resource("note://{name}", name="note", description="A note by name.", mime_type="text/plain")
def note(name: str) -> str:
    return f"Note {name}.\n"


@server.prompt(description="Greet someone by name.")
def greet(name: str) -> str:
    return f"Please greet {name} warmly."


if __name__ == "__main__":
    server.run("stdio")
