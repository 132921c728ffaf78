#!/usr/bin/env bash
# Cross-checks talos-ledger's RFC 9162 Merkle log and C2SP signed notes against the Go
# reference code (golang.org/x/mod/sumdb/tlog and sumdb/note, from Debian's
# golang-golang-x-mod-dev; see oracle.go): roots, inclusion and consistency proofs for many
# sizes, byte-identical note signatures from the same key, and each side verifying the
# other's notes (and rejecting a tampered one).
#
#   .ci/ledger-interop/run.sh CONFORMANCE_BINARY
set -euo pipefail

ours="$1"
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" \
    go build -o "$work/oracle" "$here/oracle.go"
oracle="$work/oracle"

# 1100 leaves of 0..80 pseudo-random bytes (the empty leaf included), fixed seed.
python3 - "$work/leaves" <<'PY'
import random, sys
rng = random.Random(9162)
with open(sys.argv[1], "w") as f:
    for i in range(1100):
        f.write(bytes(rng.randrange(256) for _ in range(0 if i == 3 else rng.randrange(81))).hex() + "\n")
PY

checks=0
same() { # name, then two files that must be equal
    if ! cmp -s "$2" "$3"; then
        echo "ledger-interop: MISMATCH $1" >&2
        diff "$2" "$3" | head -5 >&2
        exit 1
    fi
    checks=$((checks + 1))
}

# Go's tlog calls the empty tree's hash all zeros; RFC 9162 says SHA-256 of nothing. Size 0 is
# left out (our own tests pin the RFC value).
sizes="$(seq 1 70) 127 128 129 255 256 257 511 512 513 1000 1023 1024 1025 1100"
for n in $sizes; do
    head -n "$n" "$work/leaves" > "$work/in"
    "$ours" merkle-root < "$work/in" > "$work/a"
    "$oracle" merkle-root < "$work/in" > "$work/b"
    same "root of $n" "$work/a" "$work/b"
done

head -n 1100 "$work/leaves" > "$work/in"
for n in 1 2 3 4 5 7 8 9 31 32 33 100 257 1000 1100; do
    for i in 0 $((n / 2)) $((n / 3)) $((n - 1)); do
        [ "$i" -lt "$n" ] || continue
        head -n "$n" "$work/leaves" > "$work/in"
        "$ours" merkle-inclusion "$n" "$i" < "$work/in" > "$work/a"
        "$oracle" merkle-inclusion "$n" "$i" < "$work/in" > "$work/b"
        same "inclusion of $i in $n" "$work/a" "$work/b"
    done
done

for n in 2 3 7 8 9 33 100 257 1000 1100; do
    for m in 1 2 $((n / 2)) $((n / 3)) $((n - 1)) "$n"; do
        [ "$m" -ge 1 ] && [ "$m" -le "$n" ] || continue
        head -n "$n" "$work/leaves" > "$work/in"
        "$ours" merkle-consistency "$m" "$n" < "$work/in" > "$work/a"
        "$oracle" merkle-consistency "$m" "$n" < "$work/in" > "$work/b"
        same "consistency $m -> $n" "$work/a" "$work/b"
    done
done

# Signed notes: keys from a fixed seed, in the Go formats.
"$oracle" note-keys example.com/talos-interop 9f1c2e6a4b8d0f3a5c7e9b1d3f5a7c9e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a > "$work/keys"
skey="$(sed -n 1p "$work/keys")"
vkey="$(sed -n 2p "$work/keys")"
printf 'example.com/talos-interop\n1100\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n' > "$work/t1"
printf 'If you think cryptography is the answer to your problem,\nthen you don'"'"'t know what your problem is.\n' > "$work/t2"
printf 'line with unicode \xc3\xa9\xe2\x80\x94 ok\n\nafter a blank line\n' > "$work/t3"
for t in t1 t2 t3; do
    "$ours" note-sign --key "$skey" < "$work/$t" > "$work/a"
    "$oracle" note-sign "$skey" < "$work/$t" > "$work/b"
    same "note-sign $t" "$work/a" "$work/b"
    "$oracle" note-verify "$vkey" < "$work/a" > "$work/c"
    same "go opens our $t" "$work/c" "$work/$t"
    "$ours" note-verify --vkey "$vkey" < "$work/b" > "$work/c"
    same "we open go's $t" "$work/c" "$work/$t"
    # Tampered text: both must refuse.
    sed '1s/^./X/' "$work/a" > "$work/bad"
    if "$oracle" note-verify "$vkey" < "$work/bad" > /dev/null 2>&1; then
        echo "ledger-interop: go accepted a tampered note" >&2; exit 1
    fi
    if "$ours" note-verify --vkey "$vkey" < "$work/bad" > /dev/null 2>&1; then
        echo "ledger-interop: we accepted a tampered note ($t)" >&2; exit 1
    fi
    checks=$((checks + 2))
done

echo "ledger-interop: pass, $checks checks against golang.org/x/mod/sumdb (tlog, note)"
