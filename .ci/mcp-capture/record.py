#!/usr/bin/env python3
"""Recording stdio shim for MCP servers.

    record.py OUT.jsonl -- CMD ARGS...

Spawns CMD and sits between its stdio and ours: every line read from our stdin is copied
unchanged to the child's stdin, every line the child writes to its stdout is copied unchanged
to our stdout, and each line is appended to OUT.jsonl as

    {"dir":"c2s","line":"<line text without its newline>"}   (client -> server, our stdin)
    {"dir":"s2c","line":"<line text without its newline>"}   (server -> client, child stdout)

in the order the shim saw them (one JSON object per line, flushed per line). The child's stderr
is inherited (passed to our stderr) and not recorded. The exit status is the child's.
Standard library only, so it runs under any Python 3.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from typing import BinaryIO


class Recorder:
    """Appends one JSON line per observed stdio line; safe to call from several threads."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._out = open(path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115

    def record(self, direction: str, raw: bytes) -> None:
        text = raw[:-1] if raw.endswith(b"\n") else raw
        entry = {"dir": direction, "line": text.decode("utf-8", errors="replace")}
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if not self._out.closed:
                self._out.write(line + "\n")
                self._out.flush()

    def close(self) -> None:
        with self._lock:
            self._out.close()


def pump(src: BinaryIO, dst: BinaryIO, recorder: Recorder, direction: str) -> None:
    """Copies src to dst line by line, recording each line, until EOF; then closes dst."""
    try:
        while True:
            raw = src.readline()
            if not raw:
                break
            # Record first so the transcript order is the order in which lines were seen,
            # even when the peer answers faster than we return from write().
            recorder.record(direction, raw)
            try:
                dst.write(raw)
                dst.flush()
            except (BrokenPipeError, ValueError, OSError):
                # The reader is gone; keep draining our source until EOF (no EPIPE crash).
                continue
    finally:
        try:
            dst.close()
        except (BrokenPipeError, ValueError, OSError):
            pass


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: record.py OUT.jsonl -- CMD ARGS...", file=sys.stderr)
        return 2
    out_path, command = argv[1], argv[3:]
    recorder = Recorder(out_path)
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, bufsize=0)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    assert child.stdin is not None and child.stdout is not None
    to_child = threading.Thread(
        target=pump, args=(sys.stdin.buffer, child.stdin, recorder, "c2s"), daemon=True, name="c2s"
    )
    to_child.start()
    # The child's stdout is pumped on the main thread; it ends when the child closes stdout.
    pump(child.stdout, sys.stdout.buffer, recorder, "s2c")
    status = child.wait()
    # The stdin thread may be blocked on a client that never closes stdin: it is a daemon.
    to_child.join(timeout=0.5)
    recorder.close()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
