// oracle: the Go module mirror's reference code (golang.org/x/mod/sumdb/tlog and
// sumdb/note, as Debian packages them) answering the same questions as our
// `talos-conformance merkle-* / note-*` commands, for .ci/ledger-interop/run.sh to diff.
//
//	oracle merkle-root                  leaf data as hex, one per line on stdin → root hex
//	oracle merkle-inclusion SIZE INDEX  same stdin → proof hashes hex, one per line
//	oracle merkle-consistency SIZE1 SIZE2
//	oracle note-sign SKEY               note text on stdin → signed note
//	oracle note-verify VKEY             signed note on stdin → the text; exit 1 if it fails
//	oracle note-keys NAME SEEDHEX       → skey and vkey lines for an Ed25519 seed
package main

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "oracle: "+format+"\n", args...)
	os.Exit(2)
}

// log builds the stored hashes of a tree of the leaves on stdin.
func log() (int64, tlog.HashReaderFunc) {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	var n int64
	for scanner.Scan() {
		data, err := hex.DecodeString(strings.TrimSpace(scanner.Text()))
		if err != nil {
			fail("leaf %d is not hex: %v", n, err)
		}
		hashes, err := tlog.StoredHashes(n, data, reader)
		if err != nil {
			fail("%v", err)
		}
		stored = append(stored, hashes...)
		n++
	}
	return n, reader
}

func number(s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail("%q is not a number", s)
	}
	return v
}

func printHashes(hashes []tlog.Hash) {
	for _, h := range hashes {
		fmt.Println(hex.EncodeToString(h[:]))
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: see the source")
	}
	switch os.Args[1] {
	case "merkle-root":
		n, reader := log()
		root, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("%v", err)
		}
		fmt.Println(hex.EncodeToString(root[:]))
	case "merkle-inclusion":
		size, index := number(os.Args[2]), number(os.Args[3])
		_, reader := log()
		proof, err := tlog.ProveRecord(size, index, reader)
		if err != nil {
			fail("%v", err)
		}
		printHashes(proof)
	case "merkle-consistency":
		size1, size2 := number(os.Args[2]), number(os.Args[3])
		_, reader := log()
		proof, err := tlog.ProveTree(size2, size1, reader)
		if err != nil {
			fail("%v", err)
		}
		printHashes(proof)
	case "note-sign":
		signer, err := note.NewSigner(os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		text, _ := io.ReadAll(os.Stdin)
		signed, err := note.Sign(&note.Note{Text: string(text)}, signer)
		if err != nil {
			fail("%v", err)
		}
		os.Stdout.Write(signed)
	case "note-verify":
		verifier, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		msg, _ := io.ReadAll(os.Stdin)
		n, err := note.Open(msg, note.VerifierList(verifier))
		if err != nil {
			fmt.Fprintf(os.Stderr, "oracle: %v\n", err)
			os.Exit(1)
		}
		os.Stdout.WriteString(n.Text)
	case "note-keys":
		seed, err := hex.DecodeString(os.Args[3])
		if err != nil || len(seed) != ed25519.SeedSize {
			fail("seed must be 32 bytes of hex")
		}
		name := os.Args[2]
		priv := ed25519.NewKeyFromSeed(seed)
		vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
		if err != nil {
			fail("%v", err)
		}
		// The signer key has the verifier key's name and key hash, and the seed.
		parts := strings.SplitN(vkey, "+", 3)
		skey := "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" +
			base64.StdEncoding.EncodeToString(append([]byte{1}, seed...))
		if _, err := note.NewSigner(skey); err != nil {
			fail("%v", err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
