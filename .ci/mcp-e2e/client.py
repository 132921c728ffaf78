"""The Python `mcp` client (pinned in ../mcp-capture/requirements.txt) talking to an MCP server
through `talos mcp-connect`, for talos-node's end-to-end test (crates/talos-node/tests/mcp_e2e.rs).

    client.py TALOS DATA_DIR PEER CAPABILITY MODE STEPS_JSON

runs `TALOS --data-dir DATA_DIR mcp-connect PEER --capability CAPABILITY` as a stdio MCP server,
connects in MODE ("legacy", "auto" or "2026-07-28"), then runs STEPS_JSON, a list of steps:
["list"] (tools/list), ["call", NAME, ARGUMENTS] (tools/call), ["discover"] (server/discover).
Prints one JSON document: {"protocol": ..., "results": [...]}, one result per step:
{"ok": true, "tools": [...]} / {"ok": true, "text": ..., "is_error": ...} or
{"ok": false, "code": ..., "message": ..., "data": ...}; or, when the session itself is refused
(e.g. `initialize` denied for a bad capability), {"refused": {"code": ..., ...}}.
"""

import json
import sys

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

TIMEOUT = 30.0


async def run(talos: str, data_dir: str, peer: str, capability: str, mode: str, steps: list) -> dict:
    server = StdioServerParameters(
        command=talos,
        args=["--data-dir", data_dir, "mcp-connect", peer, "--capability", capability],
    )
    results = []
    async with Client(server, mode=mode, read_timeout_seconds=TIMEOUT) as client:
        for step in steps:
            try:
                if step[0] == "discover":
                    await client.session.send_discover("2026-07-28")
                    results.append({"ok": True})
                elif step[0] == "list":
                    listed = await client.list_tools()
                    results.append({"ok": True, "tools": sorted(t.name for t in listed.tools)})
                elif step[0] == "call":
                    called = await client.call_tool(step[1], step[2])
                    text = " ".join(getattr(c, "text", "") for c in called.content)
                    results.append({"ok": True, "text": text, "is_error": bool(called.is_error)})
                else:
                    raise SystemExit(f"unknown step {step!r}")
            except MCPError as e:
                results.append(
                    {"ok": False, "code": e.error.code, "message": e.error.message, "data": e.error.data}
                )
        protocol = client.protocol_version
    return {"protocol": protocol, "results": results}


def mcp_error(e: BaseException) -> MCPError | None:
    """The MCPError inside `e` (possibly nested in exception groups), if any."""
    if isinstance(e, MCPError):
        return e
    for inner in getattr(e, "exceptions", ()):
        found = mcp_error(inner)
        if found is not None:
            return found
    return None


def main() -> None:
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    talos, data_dir, peer, capability, mode, steps = sys.argv[1:]
    try:
        out = anyio.run(run, talos, data_dir, peer, capability, mode, json.loads(steps))
    except BaseException as e:  # noqa: BLE001 - a refused session is a result, anything else is not
        refused = mcp_error(e)
        if refused is None:
            raise
        out = {"refused": {"code": refused.error.code, "message": refused.error.message, "data": refused.error.data}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
