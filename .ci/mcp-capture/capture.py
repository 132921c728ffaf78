#!/usr/bin/env python3
"""Capture transcripts of real MCP traffic for the talos-mcp tests.

Drives the Python `mcp` client (pinned in requirements.txt) against the reference servers
(pinned in package.json, installed by `npm ci` into ./node_modules) and against
modern_server.py. Each server runs behind record.py, which writes every stdio line, in order,
to a transcript. One client session per transcript:

    everything-legacy.jsonl   server-everything, mode "legacy" (initialize, 2025-11-25)
    everything-auto.jsonl     server-everything, mode "auto" (discover -> -32601 -> initialize)
    filesystem-legacy.jsonl   server-filesystem on /tmp/talos-mcp-capture/root, mode "legacy"
    modern-2026.jsonl         modern_server.py, mode "2026-07-28" (stateless, server/discover)

    capture.py OUT_DIR

Run it through capture.sh, which prepares the venv and node_modules. The servers run with a
minimal environment (PATH and HOME only) so no variable of this machine lands in a transcript;
the script checks that afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

HERE = Path(__file__).resolve().parent
RECORD = HERE / "record.py"
MODULES = HERE / "node_modules" / "@modelcontextprotocol"
EVERYTHING = MODULES / "server-everything" / "dist" / "index.js"
FILESYSTEM = MODULES / "server-filesystem" / "dist" / "index.js"
MODERN = HERE / "modern_server.py"

SCRATCH = Path("/tmp/talos-mcp-capture")
FS_ROOT = SCRATCH / "root"
SERVER_HOME = SCRATCH / "home"
MIN_PATH = "/usr/local/bin:/usr/bin:/bin"
TIMEOUT = 30.0


def recorded(out: Path, command: list[str]) -> StdioServerParameters:
    """Server parameters that run `command` behind record.py, with a minimal environment."""
    env = ["/usr/bin/env", "-i", f"PATH={MIN_PATH}", f"HOME={SERVER_HOME}"]
    return StdioServerParameters(
        command=sys.executable,
        args=[str(RECORD), str(out), "--", *env, *command],
        cwd=str(SERVER_HOME),
    )


def node() -> str:
    path = shutil.which("node")
    if path is None:
        raise SystemExit("capture: node not found")
    return path


# --- client callbacks (server -> client requests) ---------------------------------------------


async def list_roots(_ctx: ClientRequestContext) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/talos-mcp-capture/root", name="capture-root")])


async def sampling(_ctx: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    del params
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="A canned answer from the capture client."),
        model="talos-capture-model",
        stop_reason="endTurn",
    )


async def elicitation(_ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    del params
    return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True, "integer": 7})


# --- steps ------------------------------------------------------------------------------------

Log = list[str]


async def step(log: Log, label: str, action: Callable[[], Awaitable[Any]]) -> Any:
    """Runs one scenario step; a failure is logged and the scenario goes on (the brief's rule)."""
    try:
        value = await action()
    except MCPError as e:
        log.append(f"{label}: MCPError {e.error.code} {e.error.message}")
        return None
    except Exception as e:  # noqa: BLE001 - any failure of one step is reported, not fatal
        log.append(f"{label}: FAILED {type(e).__name__}: {e}")
        return None
    log.append(f"{label}: ok")
    return value


async def everything_legacy(out: Path, log: Log) -> None:
    async with Client(
        recorded(out, [node(), str(EVERYTHING), "stdio"]),
        mode="legacy",
        read_timeout_seconds=TIMEOUT,
        list_roots_callback=list_roots,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
    ) as client:
        # The server registers its conditional tools on `notifications/initialized` and asks
        # for roots 350 ms later: let that happen before the first request.
        await anyio.sleep(1.0)
        await step(log, "tools/list", client.list_tools)
        await step(log, "tools/call echo", lambda: client.call_tool("echo", {"message": "hello"}))
        await step(log, "tools/call get-sum", lambda: client.call_tool("get-sum", {"a": 2, "b": 3}))
        await step(log, "tools/call get-env", lambda: client.call_tool("get-env", {}))
        listed = await step(log, "resources/list", client.list_resources)
        if listed is not None and listed.resources:
            uri = str(listed.resources[0].uri)
            await step(log, f"resources/read {uri}", lambda: client.read_resource(uri))
        else:
            log.append("resources/read: skipped (no resource listed)")
        await step(log, "resources/templates/list", client.list_resource_templates)
        prompts = await step(log, "prompts/list", client.list_prompts)
        if prompts is not None:
            simple = next((p for p in prompts.prompts if not any(a.required for a in p.arguments or [])), None)
            if simple is not None:
                await step(log, f"prompts/get {simple.name}", lambda: client.get_prompt(simple.name))
        await step(log, "tools/call get-roots-list", lambda: client.call_tool("get-roots-list", {}))
        await step(
            log,
            "tools/call trigger-sampling-request",
            lambda: client.call_tool("trigger-sampling-request", {"prompt": "Say hello", "maxTokens": 20}),
        )
        await step(log, "tools/call trigger-elicitation-request", lambda: client.call_tool("trigger-elicitation-request", {}))

        async def progress(_progress: float, _total: float | None, _message: str | None) -> None:
            return None

        # A call the client abandons after 1.5 s: the client sends `notifications/cancelled`.
        await step(
            log,
            "tools/call trigger-long-running-operation (cancelled by timeout)",
            lambda: client.call_tool(
                "trigger-long-running-operation",
                {"duration": 4, "steps": 4},
                read_timeout_seconds=1.5,
                progress_callback=progress,
            ),
        )
        # Let the server's late progress notifications (if any) arrive before we close.
        await anyio.sleep(3.0)


async def everything_auto(out: Path, log: Log) -> None:
    async with Client(
        recorded(out, [node(), str(EVERYTHING), "stdio"]), mode="auto", read_timeout_seconds=TIMEOUT
    ) as client:
        log.append(f"negotiated protocol version: {client.protocol_version}")
        await anyio.sleep(0.5)
        await step(log, "tools/list", client.list_tools)
        await step(log, "tools/call echo", lambda: client.call_tool("echo", {"message": "hello"}))


async def filesystem_legacy(out: Path, log: Log) -> None:
    async with Client(
        recorded(out, [node(), str(FILESYSTEM), str(FS_ROOT)]), mode="legacy", read_timeout_seconds=TIMEOUT
    ) as client:
        await anyio.sleep(0.5)
        await step(log, "tools/list", client.list_tools)
        await step(log, "tools/call list_allowed_directories", lambda: client.call_tool("list_allowed_directories", {}))
        await step(log, "tools/call list_directory", lambda: client.call_tool("list_directory", {"path": str(FS_ROOT)}))
        await step(
            log,
            "tools/call read_text_file",
            lambda: client.call_tool("read_text_file", {"path": str(FS_ROOT / "hello.txt")}),
        )
        await step(
            log,
            "tools/call write_file",
            lambda: client.call_tool("write_file", {"path": str(FS_ROOT / "new.txt"), "content": "new\n"}),
        )
        await step(
            log, "tools/call get_file_info", lambda: client.call_tool("get_file_info", {"path": str(FS_ROOT / "hello.txt")})
        )


async def modern(out: Path, log: Log) -> None:
    async with Client(
        recorded(out, [sys.executable, str(MODERN)]), mode="2026-07-28", read_timeout_seconds=TIMEOUT
    ) as client:
        # A version pin adopts without a probe; send the discover explicitly, as a modern
        # client does first on stdio.
        await step(log, "server/discover", lambda: client.session.send_discover("2026-07-28"))
        await step(log, "tools/list", client.list_tools)
        await step(log, "tools/call add", lambda: client.call_tool("add", {"a": 2, "b": 3}))
        await step(log, "tools/call echo", lambda: client.call_tool("echo", {"message": "hello"}))
        await step(
            log, "tools/call write_note", lambda: client.call_tool("write_note", {"path": "notes/x.txt", "text": "hi"})
        )
        await step(log, "resources/list", client.list_resources)
        await step(log, "resources/read note://readme", lambda: client.read_resource("note://readme"))
        await step(log, "resources/templates/list", client.list_resource_templates)
        await step(log, "prompts/list", client.list_prompts)
        await step(log, "prompts/get greet", lambda: client.get_prompt("greet", {"name": "Ada"}))


SCENARIOS: list[tuple[str, Callable[[Path, Log], Awaitable[None]]]] = [
    ("everything-legacy", everything_legacy),
    ("everything-auto", everything_auto),
    ("filesystem-legacy", filesystem_legacy),
    ("modern-2026", modern),
]


# --- checks -----------------------------------------------------------------------------------


def leaked_secrets(text: str) -> list[str]:
    """Names of this machine's environment variables whose values appear in a transcript."""
    harmless = {"PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "TERM", "SHELL", "USER", "LOGNAME", "LANG"}
    found = []
    for name, value in os.environ.items():
        if name in harmless or len(value) < 8 or value in (str(SCRATCH), MIN_PATH):
            continue
        if value in text or json.dumps(value)[1:-1] in text:
            found.append(name)
    return found


def summarize(path: Path) -> str:
    counts = {"c2s": 0, "s2c": 0}
    for raw in path.read_text(encoding="utf-8").splitlines():
        counts[json.loads(raw)["dir"]] += 1
    return f"{counts['c2s']} c2s, {counts['s2c']} s2c"


async def main(out_dir: Path) -> int:
    for required in (EVERYTHING, FILESYSTEM):
        if not required.is_file():
            print(f"capture: {required} missing (run npm ci in {HERE})", file=sys.stderr)
            return 1
    shutil.rmtree(SCRATCH, ignore_errors=True)
    FS_ROOT.mkdir(parents=True)
    SERVER_HOME.mkdir(parents=True)
    (FS_ROOT / "hello.txt").write_text("hello\n", encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)

    status = 0
    for name, scenario in SCENARIOS:
        out = out_dir / f"{name}.jsonl"
        out.unlink(missing_ok=True)
        log: Log = []
        started = time.monotonic()
        try:
            with anyio.fail_after(120):
                await scenario(out, log)
        except Exception as e:  # noqa: BLE001 - report and go on with the next scenario
            log.append(f"session FAILED {type(e).__name__}: {e}")
            status = 1
        elapsed = time.monotonic() - started
        print(f"== {name} ({elapsed:.1f} s): {summarize(out) if out.exists() else 'no transcript'}")
        for entry in log:
            print(f"   {entry}")
        if out.exists():
            leaks = leaked_secrets(out.read_text(encoding="utf-8"))
            if leaks:
                print(f"capture: {out} contains values of {leaks}; deleting it", file=sys.stderr)
                out.unlink()
                status = 1
    return status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: capture.py OUT_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(anyio.run(main, Path(sys.argv[1]).resolve()))
