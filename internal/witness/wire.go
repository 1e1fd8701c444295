package witness

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Limits of the add-checkpoint exchange (c2sp.org/tlog-witness).
const (
	// MaxProofLines is the most consistency proof lines a request may
	// carry; a proof between trees of fewer than 2^63 leaves has fewer.
	MaxProofLines = 63
	// maxResponseBytes bounds what is read of a witness's answer.
	maxResponseBytes = 64 << 10
	// maxCosignatureLines bounds the signature lines of a 200 answer (the
	// signed-note spec asks verifiers to accept at least 16).
	maxCosignatureLines = 64
	// sizeContentType is the media type of a 409 answer's body.
	sizeContentType = "text/x.tlog.size"
	hashSize        = 32
)

// sigPrefix starts every signature line of a signed note: U+2014 EM DASH
// and a space (c2sp.org/signed-note).
const sigPrefix = "\u2014 "

// FormatRequest returns the body of an add-checkpoint request: the line
// "old <size>", one line per consistency proof hash in base64, an empty
// line, then the signed checkpoint note. The proof must be empty when old
// is 0 and have at most MaxProofLines hashes of 32 bytes.
func FormatRequest(old uint64, proof [][]byte, checkpoint []byte) ([]byte, error) {
	if old == 0 && len(proof) > 0 {
		return nil, errors.New("a request from old size 0 carries no consistency proof")
	}
	if len(proof) > MaxProofLines {
		return nil, fmt.Errorf("consistency proof has %d hashes; the protocol allows at most %d", len(proof), MaxProofLines)
	}
	if len(checkpoint) == 0 || checkpoint[len(checkpoint)-1] != '\n' {
		return nil, errors.New("checkpoint note is empty or does not end with a newline")
	}
	b := make([]byte, 0, 32+len(proof)*45+len(checkpoint))
	b = append(b, "old "...)
	b = strconv.AppendUint(b, old, 10)
	b = append(b, '\n')
	for i, h := range proof {
		if len(h) != hashSize {
			return nil, fmt.Errorf("consistency proof hash %d has %d bytes, want %d", i, len(h), hashSize)
		}
		b = base64.StdEncoding.AppendEncode(b, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, checkpoint...), nil
}

// ParseSize parses the body of a 409 Conflict answer: the size of the
// latest checkpoint the witness cosigned, in decimal without leading
// zeros, followed by a newline.
func ParseSize(body []byte) (uint64, error) {
	s, ok := strings.CutSuffix(string(body), "\n")
	if !ok {
		return 0, fmt.Errorf("tree size %q does not end with a newline", clip(body))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("tree size %q is not a decimal number without leading zeros", clip(body))
	}
	return n, nil
}

// ParseCosignatures parses the body of a 200 answer: one or more note
// signature lines "— <name> <base64(key hash || signature)>\n". It checks
// the syntax only; VerifyCosignatures checks the signatures.
func ParseCosignatures(body []byte) ([]note.Signature, error) {
	if len(body) == 0 {
		return nil, errors.New("empty answer: want at least one cosignature line")
	}
	if body[len(body)-1] != '\n' {
		return nil, errors.New("answer does not end with a newline")
	}
	if !utf8.Valid(body) {
		return nil, errors.New("answer is not valid UTF-8")
	}
	lines := strings.Split(string(body[:len(body)-1]), "\n")
	if len(lines) > maxCosignatureLines {
		return nil, fmt.Errorf("answer has %d lines; at most %d cosignatures are accepted", len(lines), maxCosignatureLines)
	}
	sigs := make([]note.Signature, 0, len(lines))
	for i, line := range lines {
		rest, ok := strings.CutPrefix(line, sigPrefix)
		if !ok {
			return nil, fmt.Errorf("line %d %q is not a signature line (want \"\u2014 <name> <base64>\")", i+1, clip([]byte(line)))
		}
		name, b64, ok := strings.Cut(rest, " ")
		if !ok || !validKeyName(name) {
			return nil, fmt.Errorf("line %d: malformed key name", i+1)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(raw) < 5 || base64.StdEncoding.EncodeToString(raw) != b64 {
			return nil, fmt.Errorf("line %d: signature is not canonical base64 of a key hash and a signature", i+1)
		}
		sigs = append(sigs, note.Signature{Name: name, Hash: binary.BigEndian.Uint32(raw), Base64: b64})
	}
	return sigs, nil
}

// FormatSignatures returns the signature lines of sigs, the inverse of
// ParseCosignatures.
func FormatSignatures(sigs []note.Signature) []byte {
	var b []byte
	for _, s := range sigs {
		b = append(b, sigPrefix...)
		b = append(b, s.Name...)
		b = append(b, ' ')
		b = append(b, s.Base64...)
		b = append(b, '\n')
	}
	return b
}

// validKeyName reports whether name may name a note key: non-empty, valid
// UTF-8, no Unicode space and no '+' (c2sp.org/signed-note).
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// VerifyCosignatures checks a 200 answer against the checkpoint it
// answers: the answer must parse (ParseCosignatures), and the witness key v
// must have signed the checkpoint, with no invalid signature by v; lines
// by other keys are ignored (c2sp.org/tlog-witness). It returns v's
// cosignatures.
func VerifyCosignatures(checkpoint, body []byte, v note.Verifier) ([]note.Signature, error) {
	if _, err := ParseCosignatures(body); err != nil {
		return nil, err
	}
	cosigned := append(append(make([]byte, 0, len(checkpoint)+len(body)), checkpoint...), body...)
	n, err := note.Open(cosigned, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: the cosignature by %s does not verify", ErrBadCosignature, v.Name())
	case errors.As(err, &unverified):
		return nil, fmt.Errorf("%w: no cosignature by the configured key %s+%08x (the witness signs with another key: check the witness key in the configuration)",
			ErrBadCosignature, v.Name(), v.KeyHash())
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadCosignature, err)
	}
	var out []note.Signature
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no cosignature by %s", ErrBadCosignature, v.Name())
	}
	return out, nil
}

// splitNote returns the text of a signed note (through its final
// newline) and its signature lines.
func splitNote(n []byte) (text, sigs []byte, err error) {
	i := bytes.LastIndex(n, []byte("\n\n"))
	if i < 0 {
		return nil, nil, errors.New("malformed note: no blank line before the signatures")
	}
	return n[:i+1], n[i+2:], nil
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
