"""Capability tokens (talos-v1.1 compact format) between the upstream Python SDK and talos-acl.

    capability.py CONFORMANCE_BINARY [COUNT]

Theirs -> ours: talos_sdk.security.Capability.create issues COUNT tokens (random seeds, DIDs,
scopes and times, fixed RNG seed); `talos-conformance capability-verify` must call each valid
exactly when the SDK's verify() does, with the capability_hash the SDK's canonical JSON gives
(SHA-256 of the canonical token, sig included); expired tokens must be EXPIRED, tampered ones
SIGNATURE_INVALID. Ours -> theirs: `talos-conformance capability-issue` issues tokens from the
same kind of requests; the SDK's verify() must accept each one and refuse it tampered.
"""

import hashlib
import json
import random
import subprocess
import sys

from talos_sdk.canonical import canonical_json_bytes
from talos_sdk.security import Capability
from talos_sdk.wallet import Wallet

binary = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
rng = random.Random(20261122)


def run(command, lines):
    out = subprocess.run(
        [binary, command],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.splitlines()


def scope():
    tools = ["fs", "git", "search", "read_file", "weather", "db"]
    items = []
    for _ in range(rng.randrange(1, 4)):
        item = "tool:" + rng.choice(tools)
        if rng.random() < 0.6:
            item += "/method:" + rng.choice(["read", "write", "*", "list"])
        if rng.random() < 0.3:
            item += "/resource:" + rng.choice(["repo/src/**", "docs/*.md", "a\u00e9\u2014b"])
        items.append(item)
    return " ".join(items)


def request():
    iat = rng.randrange(1_600_000_000, 1_900_000_000)
    return {
        "seed_hex": rng.randbytes(32).hex(),
        "sub": Wallet.from_seed(rng.randbytes(32)).to_did(),
        "scope": scope(),
        "iat": iat,
        "exp": iat + rng.randrange(1, 10 * 86_400),
    }


def tampered(token):
    bad = dict(token)
    bad["scope"] = bad["scope"] + " tool:extra"
    return bad


failures = []

# Theirs -> ours.
cases = []
for _ in range(count):
    r = request()
    cap = Capability.create(
        Wallet.from_seed(bytes.fromhex(r["seed_hex"])), r["sub"], r["scope"], r["exp"], iat=r["iat"]
    )
    pk = Wallet.from_seed(bytes.fromhex(r["seed_hex"])).public_key
    expired = rng.random() < 0.25
    now = r["exp"] + rng.randrange(1, 1000) if expired else rng.randrange(r["iat"], r["exp"] + 1)
    theirs = cap.verify(pk, now=now)
    digest = hashlib.sha256(canonical_json_bytes(cap.data)).hexdigest()
    cases.append((cap.data, now, theirs, f"valid {digest}" if theirs else "invalid EXPIRED"))
    bad = tampered(cap.data)
    if Capability(bad).verify(pk, now=now):
        failures.append("the SDK accepted a tampered token")
    cases.append((bad, now if not expired else r["exp"], False, "invalid SIGNATURE_INVALID"))
ours = run("capability-verify", [{"token": t, "now": now} for t, now, _, _ in cases])
if len(ours) != len(cases):
    failures.append(f"capability-verify printed {len(ours)} lines for {len(cases)} tokens")
for (token, now, theirs, want), got in zip(cases, ours):
    if got != want:
        failures.append(f"theirs->ours: SDK verify={theirs} at {now}, want {want!r}, got {got!r}: {token}")

# Ours -> theirs.
requests = [request() for _ in range(count)]
issued = run("capability-issue", requests)
if len(issued) != len(requests):
    failures.append(f"capability-issue printed {len(issued)} lines for {len(requests)} requests")
for r, line in zip(requests, issued):
    token = json.loads(line)
    wallet = Wallet.from_seed(bytes.fromhex(r["seed_hex"]))
    if token["iss"] != wallet.to_did():
        failures.append(f"ours->theirs: iss {token['iss']} is not the SDK's DID {wallet.to_did()}")
    if canonical_json_bytes(token).decode() != line:
        failures.append(f"ours->theirs: our token is not the SDK's canonical JSON: {line}")
    now = rng.randrange(r["iat"], r["exp"] + 1)
    if not Capability(token).verify(wallet.public_key, now=now):
        failures.append(f"ours->theirs: the SDK refused {line}")
    if Capability(tampered(token)).verify(wallet.public_key, now=now):
        failures.append(f"ours->theirs: the SDK accepted our token tampered: {line}")

for f in failures[:20]:
    print("capability-interop:", f, file=sys.stderr)
if failures:
    sys.exit(1)
print(
    f"capability-interop: talos-sdk-py and talos-acl agree on {len(cases)} tokens theirs->ours "
    f"and {len(requests)} ours->theirs"
)
