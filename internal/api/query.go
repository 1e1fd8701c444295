package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/kql"
	"github.com/cdewatch/cdewatch/internal/prove"
)

// QueryFunc runs a KQL query over the index: (*kql.Engine).Run. Its errors
// follow Run's: *kql.Error for a wrong query, *kql.LimitError for one a
// limit stopped, anything else for a failure of the database.
type QueryFunc func(ctx context.Context, query string) (*kql.Result, error)

// QueryRequest is the body of POST /v1/query.
type QueryRequest struct {
	Query string `json:"query"`
	// Prove asks for each row's ledger record and its inclusion proof
	// against a signed checkpoint (internal/prove FORMAT.md): every
	// result table must keep the seq column.
	Prove bool `json:"prove,omitempty"`
}

// QueryErrorBody is the JSON body of a failed POST /v1/query. Limit names
// the setting (timeout, max_rows or max_bytes) that stopped a query
// answered 422.
type QueryErrorBody struct {
	Error string `json:"error"`
	Limit string `json:"limit,omitempty"`
}

// Bounds of POST /v1/query.
const (
	// MaxQueryRequestBytes bounds the request body; larger ones get 413.
	MaxQueryRequestBytes = 1 << 20
	// MaxAuditedQueryBytes bounds the query text kept in the audit record;
	// a longer query is stored cut at this size (on a UTF-8 boundary) with
	// "query_truncated": true and its full length in "query_bytes".
	MaxAuditedQueryBytes = 64 << 10
)

// Status 499 (nginx's "client closed request") is what the audit record of
// a query abandoned by its client carries; the client is gone by then.
const statusClientClosed = 499

// Messages of POST /v1/query errors.
const (
	MsgIndexDisabled = "the query index is disabled (index.enabled: false in the configuration)"
	MsgNotRecorded   = "could not record the query in the audit trail"
	msgInternal      = "the query failed because of an internal error; the server log has the details"
	msgClientClosed  = "the client closed the request before the query finished"
	queryBodyHint    = ` (want {"query": "<KQL>"})`
)

// queryOutcome is what a query request came to: what the audit record
// says and what the response will be.
type queryOutcome struct {
	text    string   // the query, "" if the body could not be read
	tables  []string // catalog tables read, as far as known
	nTables int      // result tables
	rows    int      // rows returned
	status  int
	errMsg  string // the message the client gets ("" on success)
	detail  string // the underlying error, recorded in the audit trail as "cause" (never sent)
	limit   string // the limit that stopped the query
	body    []byte // the success response
	prove   bool   // proofs were asked for
}

// query serves POST /v1/query (see the package documentation). Every
// request is recorded as a "query" self-audit action before the response
// is written; if that fails, the client gets 503 and no result.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, _ := auth.FromContext(r.Context())
	out := s.runQueryRequest(w, r)
	elapsed := time.Since(start)
	if err := s.record(r, queryAudit(p, start, elapsed, out)); err != nil {
		s.Log.Error("could not record a query in the audit trail; result withheld", "caller", p.Name(), "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, MsgNotRecorded)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if out.errMsg != "" {
		httpjson.Write(w, out.status, QueryErrorBody{Error: out.errMsg, Limit: out.limit})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(out.status)
	_, _ = w.Write(out.body)
}

// runQueryRequest reads the request and runs the query; it writes nothing
// to w (which MaxBytesReader needs).
func (s *Server) runQueryRequest(w http.ResponseWriter, r *http.Request) queryOutcome {
	fail := func(status int, msg string) queryOutcome { return queryOutcome{status: status, errMsg: msg} }
	var req QueryRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxQueryRequestBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = errors.New("unexpected data after the JSON object")
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("query request: the body is larger than %d MiB", MaxQueryRequestBytes>>20))
	case errors.Is(err, io.EOF):
		return fail(http.StatusBadRequest, "query request: the body is empty"+queryBodyHint)
	case err != nil:
		return fail(http.StatusBadRequest, "query request: "+err.Error()+queryBodyHint)
	case strings.TrimSpace(req.Query) == "":
		out := fail(http.StatusBadRequest, `query request: "query" is missing or empty`+queryBodyHint)
		out.text = req.Query
		return out
	}
	out := queryOutcome{text: req.Query, prove: req.Prove}
	if s.Query == nil {
		out.status, out.errMsg = http.StatusServiceUnavailable, MsgIndexDisabled
		return out
	}
	res, err := s.runQuery(r.Context(), req.Query)
	if err == nil && res == nil {
		err = errors.New("the query engine returned no result and no error")
	}
	if res != nil {
		out.tables = res.TablesRead
	}
	var limit *kql.LimitError
	switch {
	case err == nil:
		if res.Tables == nil {
			res.Tables = []*kql.Table{}
		}
		var answer any = res
		if req.Prove {
			b, perr := s.proveResult(r.Context(), res)
			if perr != nil {
				out.status, out.errMsg = http.StatusUnprocessableEntity, "prove: "+perr.Error()
				return out
			}
			answer = struct {
				Tables []*kql.Table  `json:"Tables"`
				Proof  *prove.Bundle `json:"Proof"`
			}{res.Tables, b}
		}
		body, merr := json.Marshal(answer)
		if merr != nil {
			s.Log.Error("could not encode a query result", "err", merr)
			out.status, out.errMsg, out.detail = http.StatusInternalServerError, msgInternal, "encode result: "+merr.Error()
			return out
		}
		out.status, out.body = http.StatusOK, append(body, '\n')
		out.nTables, out.rows = len(res.Tables), res.Rows()
	case errors.As(err, &limit):
		out.status, out.errMsg, out.limit = http.StatusUnprocessableEntity, limit.Error(), limit.Limit
	case kql.IsQueryError(err):
		out.status, out.errMsg = http.StatusBadRequest, err.Error()
	case r.Context().Err() != nil:
		out.status, out.errMsg, out.detail = statusClientClosed, msgClientClosed, err.Error()
	default:
		s.Log.Error("query failed", kql.LogArgs(err)...)
		out.status, out.errMsg, out.detail = http.StatusInternalServerError, msgInternal, err.Error()
	}
	return out
}

// proveResult proves a result's rows, waiting up to 3 s for a checkpoint
// that covers the newest of them (one is signed about every second).
func (s *Server) proveResult(ctx context.Context, res *kql.Result) (*prove.Bundle, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := prove.Build(s.Ledger, res)
		if !errors.Is(err, prove.ErrNotCovered) || time.Now().After(deadline) {
			return b, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runQuery calls s.Query, turning a panic into an error so that the
// request is still answered and recorded.
func (s *Server) runQuery(ctx context.Context, q string) (res *kql.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.Log.Error("query engine panic", "panic", v, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("query engine panic: %v", v)
		}
	}()
	return s.Query(ctx, q)
}

// queryAudit builds the self-audit record of a query request.
func queryAudit(p auth.Principal, start time.Time, elapsed time.Duration, out queryOutcome) event.SelfAudit {
	text, truncated := truncateUTF8(out.text, MaxAuditedQueryBytes)
	tables := out.tables
	if tables == nil {
		tables = []string{}
	}
	d := map[string]any{
		"token_id":        p.TokenID,
		"role":            p.RoleText(),
		"query":           text,
		"query_bytes":     len(out.text),
		"query_truncated": truncated,
		"tables":          tables,
		"result_tables":   out.nTables,
		"rows":            out.rows,
		"started":         start.UTC().Format(time.RFC3339Nano),
		"duration_ms":     float64(elapsed.Microseconds()) / 1000,
	}
	if out.prove {
		d["prove"] = true
	}
	a := event.SelfAudit{Action: event.ActionQuery, User: p.Name(), Outcome: event.Success, Status: out.status,
		Class: event.LogAccess, Details: d}
	if out.status != http.StatusOK {
		a.Outcome = event.Failure
		d["error"] = out.errMsg
		if out.detail != "" {
			d["cause"] = out.detail
		}
		if out.limit != "" {
			d["limit"] = out.limit
		}
	}
	return a
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
