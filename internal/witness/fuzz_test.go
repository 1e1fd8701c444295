package witness

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// FuzzParseCosignatures: the parser never panics, and what it accepts
// formats back to the same bytes.
func FuzzParseCosignatures(f *testing.F) {
	w := newCosigner(f, "witness.example/w1", 1)
	cp := newTestLog(f).checkpoint(f, 9, "fuzz")
	f.Add(w.cosign(f, cp.Note))
	f.Add([]byte("\u2014 a AAAAAAA=\n\u2014 b AAAAAAA=\n"))
	f.Add([]byte("\u2014 a\n"))
	f.Add([]byte("old 1\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sigs, err := ParseCosignatures(body)
		if err != nil {
			return
		}
		if back := FormatSignatures(sigs); !bytes.Equal(back, body) {
			t.Fatalf("ParseCosignatures(%q) formats back as %q", body, back)
		}
	})
}

// FuzzParseSize: the parser never panics and accepts only the canonical
// decimal of a size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0\n", "26\n", "18446744073709551615\n", "026\n", "", "\n", "1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseSize(body)
		if err != nil {
			return
		}
		if want := strconv.FormatUint(n, 10) + "\n"; string(body) != want {
			t.Fatalf("ParseSize(%q) = %d, but that size is written %q", body, n, want)
		}
	})
}

// FuzzAnswer feeds arbitrary answers (status, Content-Type, body) to the
// client's answer handling: it never panics, a success always carries a
// cosignature that verifies with the witness key, and a failure is an
// error.
func FuzzAnswer(f *testing.F) {
	w := newCosigner(f, "witness.example/w1", 1)
	log := newTestLog(f)
	cp := log.checkpoint(f, 9, "fuzz")
	good := w.cosign(f, cp.Note)
	f.Add(200, "", good)
	f.Add(200, "text/plain", append(bytes.Clone(good), good...))
	f.Add(409, "text/x.tlog.size", []byte("3\n"))
	f.Add(409, "text/x.tlog.size; a=b", []byte("03\n"))
	f.Add(403, "", []byte("unknown log\n"))
	f.Add(422, "", []byte("bad consistency proof\n"))
	f.Add(503, "", []byte{})
	c, err := NewClient(Witness{URL: "http://127.0.0.1:1", Key: w.vkey}, nil)
	if err != nil {
		f.Fatal(err)
	}
	v := note.VerifierList(log.verifier, w.verifier(f))
	f.Fuzz(func(t *testing.T, code int, contentType string, body []byte) {
		sigs, err := c.interpret(code, contentType, body, 3, cp.Note)
		if err != nil {
			var ce *ConflictError
			if errors.As(err, &ce) && code != 409 {
				t.Fatalf("status %d gave a conflict", code)
			}
			return
		}
		if code != 200 || len(sigs) == 0 {
			t.Fatalf("status %d accepted with %d cosignatures", code, len(sigs))
		}
		n, err := note.Open(append(bytes.Clone(cp.Note), FormatSignatures(sigs)...), v)
		if err != nil || len(n.Sigs) != 1+len(sigs) {
			t.Fatalf("accepted cosignatures do not verify: %v", err)
		}
	})
}
