package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// Errors of the witness protocol, for errors.Is. Each error returned says
// more (witness, sizes, what to do).
var (
	// ErrInconsistent: the witness holds a history of this log that the
	// checkpoint does not extend. It rejected the consistency proof, holds
	// another root at the same size, or has cosigned a larger tree than
	// the ledger has. The ledger was rewritten, forked, or restored from an
	// older copy since the witness last cosigned it (PCI DSS 10.3.4).
	ErrInconsistent = errors.New("the witness holds a history of this log that the ledger does not extend")
	// ErrUnknownLog: the witness does not know the log's origin or has no
	// key for it; the log must be registered with the witness.
	ErrUnknownLog = errors.New("the witness does not know this log")
	// ErrLogSignature: the witness knows the origin but the checkpoint's
	// signature does not verify with the key it holds for it.
	ErrLogSignature = errors.New("the witness does not accept the log's signature")
	// ErrBadCosignature: the witness answered 200 without a valid
	// cosignature by the configured witness key.
	ErrBadCosignature = errors.New("the witness's answer carries no valid cosignature")
	// ErrProtocol: the witness's answer does not follow c2sp.org/tlog-witness.
	ErrProtocol = errors.New("the witness's answer does not follow the protocol")
)

// ConflictError is a 409 Conflict answer: the old size of the request is
// not the size of the latest checkpoint the witness cosigned, Known.
type ConflictError struct {
	Witness string
	Known   uint64
	Sent    uint64
}

// Error says which sizes conflict.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness %s: conflict: it has cosigned size %d, the request said %d", e.Witness, e.Known, e.Sent)
}

// StatusError is an answer whose status the protocol gives no meaning
// used here (a server error, a proxy's answer, a rate limit).
type StatusError struct {
	Witness string
	Code    int
	Body    string // the start of the body, for the message
}

// Error names the witness, the status and the start of the body.
func (e *StatusError) Error() string {
	return fmt.Sprintf("witness %s: HTTP %d %s: %s", e.Witness, e.Code, http.StatusText(e.Code), e.Body)
}

// Temporary reports whether retrying later may succeed: a server error,
// a timeout or a rate limit.
func (e *StatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// Temporary reports whether err is worth retrying: a network error or a
// StatusError that is Temporary. Refusals (ErrInconsistent, ErrUnknownLog,
// ErrLogSignature), bad answers and a cancelled context are not.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}

// Witness is one witness as configured.
type Witness struct {
	// URL is the witness's submission prefix: requests go to
	// URL + "/add-checkpoint". http and https are accepted: cosignatures
	// are verified with Key, so a forged one cannot pass; https keeps
	// others on the path from answering with refusals or errors.
	URL string
	// Key is the witness's cosignature verifier key,
	// "<name>+<key hash>+<base64 key>" with key type 0x04
	// (c2sp.org/tlog-cosignature); litewitness prints it at start as vkey.
	// A plain Ed25519 note key (type 0x01) of the witness is taken as its
	// cosignature key.
	Key string
}

// Client submits checkpoints to one witness and verifies its cosignatures.
// It is safe for concurrent use.
type Client struct {
	base     string // the submission prefix as configured
	url      string
	key      string
	verifier note.Verifier
	hc       *http.Client
}

// NewClient checks w and returns its client. hc nil means a client with a
// 30 s timeout.
func NewClient(w Witness, hc *http.Client) (*Client, error) {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("witness url %q: want http(s)://host[:port][/prefix], the witness's submission prefix", w.URL)
	}
	v, err := fnote.NewVerifierForCosignatureV1(strings.TrimSpace(w.Key))
	if err != nil {
		return nil, fmt.Errorf("witness key %q: %w (want the witness's cosignature verifier key, \"<name>+<hash>+<base64>\", as litewitness prints it at start)", w.Key, err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: w.URL, url: strings.TrimSuffix(w.URL, "/") + "/add-checkpoint", key: strings.TrimSpace(w.Key), verifier: v, hc: hc}, nil
}

// Name returns the witness's name, the key name of its cosignatures.
func (c *Client) Name() string { return c.verifier.Name() }

// Verifier returns the verifier of the witness's cosignatures.
func (c *Client) Verifier() note.Verifier { return c.verifier }

// AddCheckpoint makes one add-checkpoint request: the signed checkpoint
// note with a consistency proof from the tree of size old, which must be
// the size the witness last cosigned (0 the first time). It returns the
// witness's cosignatures, verified. A 409 answer is a *ConflictError
// naming the witness's size; refusals wrap ErrUnknownLog, ErrLogSignature
// or ErrInconsistent.
func (c *Client) AddCheckpoint(ctx context.Context, old uint64, proof [][]byte, checkpoint []byte) ([]note.Signature, error) {
	body, err := FormatRequest(old, proof, checkpoint)
	if err != nil {
		return nil, fmt.Errorf("witness %s: build request: %w", c.Name(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Name(), err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", "cdewatch")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: POST %s: %w", c.Name(), c.url, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("witness %s: read answer: %w", c.Name(), err)
	}
	if len(answer) > maxResponseBytes {
		return nil, fmt.Errorf("witness %s: %w: answer longer than %d bytes", c.Name(), ErrProtocol, maxResponseBytes)
	}
	return c.interpret(resp.StatusCode, resp.Header.Get("Content-Type"), answer, old, checkpoint)
}

// interpret turns an answer into cosignatures or an error.
func (c *Client) interpret(code int, contentType string, answer []byte, old uint64, checkpoint []byte) ([]note.Signature, error) {
	origin, _, _ := strings.Cut(string(checkpoint), "\n")
	text := strings.TrimSpace(clip(answer))
	switch code {
	case http.StatusOK:
		sigs, err := VerifyCosignatures(checkpoint, answer, c.verifier)
		if err != nil {
			if !errors.Is(err, ErrBadCosignature) {
				err = fmt.Errorf("%w: %v", ErrProtocol, err)
			}
			return nil, fmt.Errorf("witness %s: %w", c.Name(), err)
		}
		return sigs, nil
	case http.StatusConflict:
		if mt, _, _ := mime.ParseMediaType(contentType); mt != sizeContentType {
			return nil, fmt.Errorf("witness %s: %w: 409 Conflict with Content-Type %q, want %s: %s", c.Name(), ErrProtocol, contentType, sizeContentType, text)
		}
		known, err := ParseSize(answer)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w: 409 Conflict: %v", c.Name(), ErrProtocol, err)
		}
		return nil, &ConflictError{Witness: c.Name(), Known: known, Sent: old}
	case http.StatusNotFound:
		return nil, c.unknownLog(origin, code, text)
	case http.StatusForbidden:
		// litewitness answers 403 "unknown log" where the protocol now says 404.
		if strings.Contains(text, "unknown log") {
			return nil, c.unknownLog(origin, code, text)
		}
		return nil, fmt.Errorf("witness %s: %w (HTTP 403: %s): it holds another key for origin %q; register the ledger's verifier key (`cdewatch version --verifier`) with the witness, or check that the ledger's key was not replaced",
			c.Name(), ErrLogSignature, text, origin)
	case http.StatusUnprocessableEntity:
		return nil, fmt.Errorf("witness %s: %w: it rejected the consistency proof from size %d (HTTP 422: %s): the ledger's first %d leaves are not the ones the witness cosigned — history was rewritten, forked or restored from an older copy; run `cdewatch verify --against` with a cosigned checkpoint",
			c.Name(), ErrInconsistent, old, text, old)
	case http.StatusBadRequest:
		return nil, fmt.Errorf("witness %s: %w: HTTP 400 Bad Request: %s", c.Name(), ErrProtocol, text)
	}
	return nil, &StatusError{Witness: c.Name(), Code: code, Body: text}
}

func (c *Client) unknownLog(origin string, code int, text string) error {
	return fmt.Errorf("witness %s: %w (HTTP %d: %s): register origin %q and the ledger's verifier key with the witness (litewitness: witnessctl add-log -origin %s; witnessctl add-key -origin %s -key \"$(cdewatch version --verifier)\")",
		c.Name(), ErrUnknownLog, code, text, origin, origin, origin)
}

// ProofFunc returns the RFC 6962 consistency proof from the tree of size
// from to the tree of size to (0 < from < to); ledger.Ledger.ConsistencyProof
// is one.
type ProofFunc func(from, to uint64) ([][]byte, error)

// Cosigned is a checkpoint a witness cosigned.
type Cosigned struct {
	Witness string // the witness's name
	Size    uint64
	Root    []byte
	// Old is the size the witness had cosigned before (the old size of
	// the request it accepted).
	Old uint64
	// Note is the checkpoint note with the witness's cosignature lines
	// appended: it verifies with the ledger's key (the witness lines are
	// ignored by `cdewatch verify --against`) and with the witness's key.
	Note []byte
	// Time is the witness's cosignature timestamp.
	Time time.Time
}

// maxConflicts bounds the 409 answers followed in one Cosign: a witness
// that other clients feed concurrently may move between two requests.
const maxConflicts = 4

// Cosign has the witness cosign cp, starting from the size old the caller
// believes the witness has (0 if unknown). On a 409 answer it retries with
// a proof from the size the witness names, when the ledger has that size;
// a witness size beyond cp is ErrInconsistent.
func (c *Client) Cosign(ctx context.Context, cp *ledger.Checkpoint, old uint64, prove ProofFunc) (*Cosigned, error) {
	for range maxConflicts {
		if old > cp.Size {
			return nil, fmt.Errorf("witness %s: %w: it has cosigned a tree of %d leaves and the ledger's latest checkpoint has %d: the ledger was cut back, forked or restored from an older copy; run `cdewatch verify --against` with a cosigned checkpoint",
				c.Name(), ErrInconsistent, old, cp.Size)
		}
		var proof [][]byte
		if old > 0 && old < cp.Size {
			p, err := prove(old, cp.Size)
			if err != nil {
				return nil, fmt.Errorf("witness %s: consistency proof from %d to %d: %w", c.Name(), old, cp.Size, err)
			}
			proof = p
		}
		sigs, err := c.AddCheckpoint(ctx, old, proof, cp.Note)
		var conflict *ConflictError
		if errors.As(err, &conflict) {
			if conflict.Known == old {
				if old == cp.Size {
					return nil, fmt.Errorf("witness %s: %w: it has cosigned another root at size %d: the ledger's history was rewritten; run `cdewatch verify --against` with a cosigned checkpoint",
						c.Name(), ErrInconsistent, old)
				}
				return nil, fmt.Errorf("witness %s: %w: 409 Conflict naming the size sent, %d", c.Name(), ErrProtocol, old)
			}
			old = conflict.Known
			continue
		}
		if err != nil {
			return nil, err
		}
		out := &Cosigned{Witness: c.Name(), Size: cp.Size, Root: cp.Root, Old: old,
			Note: append(append([]byte(nil), cp.Note...), FormatSignatures(sigs)...)}
		if t, err := fnote.CoSigV1Timestamp(sigs[0]); err == nil {
			out.Time = t.UTC()
		}
		return out, nil
	}
	return nil, fmt.Errorf("witness %s: its size changed under %d successive requests: another client is submitting checkpoints of this log", c.Name(), maxConflicts)
}
