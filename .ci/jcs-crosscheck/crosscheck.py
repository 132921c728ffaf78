#!/usr/bin/env python3
"""Cross-check `talos-conformance jcs` against two RFC 8785 implementations nobody here wrote:
the Python package rfc8785 (Trail of Bits) and the npm package canonicalize (S. Erdtman, an
author of RFC 8785).

Usage: crosscheck.py TALOS_CONFORMANCE_BINARY [N] [SEED]

Random documents stress what RFC 8785 is about: key order by UTF-16 code units (astral
characters against U+E000..U+FFFF), string escapes, and numbers (random IEEE-754 bit
patterns, integers up to 2^53 - 1, negative zero). Each document is written with random
whitespace and escaping, canonicalised by all three, and the outputs must be identical.
"""
import json
import math
import random
import struct
import subprocess
import sys

import rfc8785

KEY_CHARS = ["a", "b", "A", "Z", "0", "_", "é", "\u0080", "\u20ac", "\ue000", "\uff01", "\ufb33",
             "\U0001f600", "\U0001f510", "\U00010000", "\r", "\n", "\u0000", "\u001f", "\"", "\\",
             "\u2028", "\u7f51"]


def rand_string(rng, max_len=6):
    return "".join(rng.choice(KEY_CHARS) for _ in range(rng.randint(0, max_len)))


def rand_number(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randint(-(2**53 - 1), 2**53 - 1)
    if kind == 1:
        return rng.randint(-1000, 1000)
    if kind == 2:
        return rng.choice([0.0, -0.0, 1.0, 0.1, 1e21, 1e-7, 1e-6, 1e20, 5e-324,
                           1.7976931348623157e308, 1424953923781206.25, 333333333.33333325])
    while True:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            return x


def rand_value(rng, depth=0):
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rand_number(rng)
    if kind == 1:
        return rand_string(rng, 10)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rand_number(rng)
    if kind in (4, 5):
        return {rand_string(rng): rand_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 8785)
    docs = [rand_value(rng, 0) for _ in range(count)]
    texts = [json.dumps(d, ensure_ascii=rng.random() < 0.5,
                        indent=rng.choice([None, 1, 2]),
                        separators=rng.choice([(",", ":"), (", ", ": "), (" ,", " :")]))
             for d in docs]

    js = subprocess.run(["node", "canon.mjs"], input="\n".join(json.dumps(d) for d in docs) + "\n",
                        capture_output=True, text=True, check=True,
                        cwd=__file__.rsplit("/", 1)[0] or ".")
    js_out = [json.loads(line) for line in js.stdout.split("\n") if line]
    assert len(js_out) == count, "node produced %d lines for %d docs" % (len(js_out), count)

    failures = 0
    for i, (doc, text) in enumerate(zip(docs, texts)):
        ours = subprocess.run([binary, "jcs"], input=text.encode(), capture_output=True)
        py = rfc8785.dumps(doc)
        js_bytes = js_out[i].encode()
        if ours.returncode != 0 or ours.stdout != py or py != js_bytes:
            failures += 1
            if failures <= 5:
                print("MISMATCH on document %d:\n input: %r\n talos: %r (exit %d, %r)\n rfc8785: %r\n canonicalize: %r"
                      % (i, text, ours.stdout, ours.returncode, ours.stderr, py, js_bytes))
    print("jcs cross-check: %d documents, %d mismatches (talos vs rfc8785 %s vs canonicalize %s)"
          % (count, failures, "0.1.4", "5.1.0"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
