package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/cdewatch/cdewatch/internal/appaccess"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
)

// Storer stores a delivery durably (Pipeline.Store's contract).
type Storer interface {
	Store(ctx context.Context, b *Batch) (Result, error)
}

// App receives applications' card-data access logs: POST
// /v1/ingest/app?app=NAME with JSON lines (internal/appaccess/FORMAT.md).
// Every line is stored: an access record missing a 10.2.2 detail is kept
// and flagged (counted in the answer's "flagged" and in GET /v1/sources);
// a line that is not a JSON object is stored as an ingest.reject record
// and listed in the answer's "rejects". The request is all or nothing.
type App struct {
	Store           Storer
	MaxRequestBytes int64
	Log             *slog.Logger
}

// AppResult is the answer of POST /v1/ingest/app.
type AppResult struct {
	Result
	// Flagged counts stored records that lack one or more 10.2.2 details.
	Flagged int `json:"flagged"`
	// Missing counts, per 10.2.2 detail, the stored records without it.
	Missing map[string]int `json:"missing,omitempty"`
	// Rejects lists the lines that were not access records.
	Rejects []LineError `json:"rejects,omitempty"`
}

// LineError names a line of a request that could not be taken.
type LineError struct {
	Line   int    `json:"line"` // 1-based
	Reason string `json:"reason"`
}

var appName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok || p.Role != auth.RoleIngest || p.Source == "" {
		httpjson.Error(w, http.StatusForbidden, "ingest needs a token bound to a source: create one with `cdewatch token create --source <name>`")
		return
	}
	app := r.URL.Query().Get("app")
	if !appName.MatchString(app) {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("query parameter app=%q: name the application sending the records (letters, digits, '.', '_', '-'; at most 128)", app))
		return
	}
	body, status, err := ReadBody(w, r, a.MaxRequestBytes)
	if err != nil {
		httpjson.Error(w, status, err.Error())
		return
	}
	b := &Batch{Source: p.Source, Via: "app/" + app}
	res := AppResult{Missing: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		acc, err := appaccess.Decode(line)
		var rec event.Record
		if err == nil {
			rec, err = acc.Record(app, line)
		}
		if err != nil {
			b.Rejects = append(b.Rejects, Reject{Index: n, Reason: fmt.Sprintf("line %d: %v", n, err), Raw: line})
			res.Rejects = append(res.Rejects, LineError{Line: n, Reason: err.Error()})
			continue
		}
		b.Records = append(b.Records, rec)
	}
	stored, err := a.Store.Store(r.Context(), b)
	if err != nil {
		WriteStoreError(w, a.Log, err)
		return
	}
	res.Result = stored
	for i := range b.Records {
		if m := b.Records[i].Missing(); m != 0 {
			res.Flagged++
			for _, n := range m.Names() {
				res.Missing[n]++
			}
		}
	}
	httpjson.Write(w, http.StatusOK, res)
}

// ReadBody reads a request body of at most limit bytes, inflating it when
// Content-Encoding is gzip (the limit then applies to the inflated
// bytes too). On error it returns the HTTP status to answer.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("reading gzip request body: %w", err)
		}
		rd = io.LimitReader(zr, limit+1)
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q is not supported: send gzip or nothing", enc)
	}
	body, err := ReadAll(rd, r.ContentLength, limit, nil)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(body)) > limit:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds %d bytes (ingest.max_request_bytes): send smaller batches", limit)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading request body: %w", err)
	}
	return body, 0, nil
}
