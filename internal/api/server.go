// Package api is cdewatch's HTTP API: ingest, the transparency log
// (checkpoints, proofs, tiles), token administration and queries. Every
// endpoint but /healthz needs a bearer token; a missing or invalid one is
// answered 401 and recorded as auth.failed, one of the wrong role 403 and
// recorded as auth.denied. Errors are JSON objects {"error": "..."}.
//
// # Queries
//
// POST /v1/query runs a KQL query over the index (the tables of
// internal/index: KubeAuditLogs, AKSAudit, AKSAuditAdmin, CdewatchAudit, …).
// It needs a reader or an admin token. The body is {"query": "<KQL>"}, at
// most 1 MiB, no other member. Answers:
//
//	200  {"Tables": [{"TableName", "Columns": [{"ColumnName", "ColumnType"}], "Rows": [[...]]}, ...]}
//	     one table per tabular statement, as kql.Result marshals it
//	400  the body is not such an object, or the query is empty, or it is
//	     wrong: the error names the line and column ("line 1, column 15: ...")
//	413  the body is larger than 1 MiB
//	422  a limit stopped the query: {"error": "...", "limit": "timeout"}
//	     (or "max_rows", "max_bytes"; configuration section query:)
//	500  the database failed; the message is generic, the server log and the
//	     audit record have the cause
//	503  the index is disabled (index.enabled: false), or the query could
//	     not be recorded in the audit trail (then no result is returned)
//
// Every request that reaches the endpoint with a reader or admin token,
// successful or not, is appended to the ledger (PCI DSS 10.2.1.3) before
// the response is written, as a CdewatchAudit record with OperationName
// "query", Caller the token ("token:<id> (reader)"), Outcome success or
// failure, Status the HTTP status, CallerIpAddress and UserAgent the
// client's, Pci log-access, and Details holding token_id, role, query (cut
// at 64 KiB: query_truncated, query_bytes), tables (the catalog tables the
// query read; empty when unknown, e.g. for a query that did not parse),
// result_tables, rows, started, duration_ms, and for failures error (as
// sent), limit and cause (the internal error of a 500). If that append
// fails the answer is 503 and the result is withheld: there is no
// unrecorded access to the audit logs.
//
// Results lag ingest: the index is fed from the ledger asynchronously, so a
// query sees what the ledger held about a second (the index's batch delay
// plus one batch) before it started; a query's own record becomes visible
// to later queries the same way.
package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// AuditFunc records a self-audit action durably; it returns an error if the
// record could not be stored.
type AuditFunc func(ctx context.Context, a event.SelfAudit) error

// Server wires the API's handlers.
type Server struct {
	Ledger   *ledger.Ledger
	Tokens   *auth.Store
	K8sAudit http.Handler
	Audit    AuditFunc
	// Query runs queries for POST /v1/query; nil when the index is
	// disabled (the endpoint then answers 503).
	Query QueryFunc
	// Ingest maps route patterns (http.ServeMux syntax, e.g.
	// "POST /v1/ingest/app") to receivers; each needs an ingest token.
	Ingest map[string]http.Handler
	// Stats is the live per-source view of the receivers (GET
	// /v1/sources, GET /metrics); Sources the durable one from the index
	// (nil when the index is disabled).
	Stats   *ingest.Stats
	Sources func(context.Context) ([]index.SourceSummary, error)
	// Metrics serves GET /metrics (Prometheus text format) to any valid
	// token; nil: no metrics endpoint.
	Metrics http.Handler
	Log     *slog.Logger
}

// Handler returns the routed, authenticated handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("POST /v1/ingest/k8s-audit", s.require(s.K8sAudit, auth.RoleIngest))
	for pattern, h := range s.Ingest {
		mux.Handle(pattern, s.require(h, auth.RoleIngest))
	}
	mux.Handle("GET /v1/sources", s.require(http.HandlerFunc(s.sources), auth.RoleReader, auth.RoleAdmin))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.require(s.Metrics))
	}
	admin := func(h http.HandlerFunc) http.Handler { return s.require(h, auth.RoleAdmin) }
	mux.Handle("GET /v1/checkpoint", admin(s.checkpoint))
	mux.Handle("GET /v1/log/checkpoint", admin(s.checkpoint))
	mux.Handle("GET /v1/log/tile/{path...}", admin(s.tile))
	mux.Handle("GET /v1/proof/inclusion", admin(s.inclusion))
	mux.Handle("GET /v1/proof/consistency", admin(s.consistency))
	mux.Handle("GET /v1/tokens", admin(s.listTokens))
	mux.Handle("POST /v1/tokens", admin(s.createToken))
	mux.Handle("DELETE /v1/tokens/{id}", admin(s.revokeToken))
	mux.Handle("POST /v1/alerts/{id}/status", admin(s.alertStatus))
	mux.Handle("POST /v1/query", s.require(http.HandlerFunc(s.query), auth.RoleReader, auth.RoleAdmin))
	mux.Handle("/", s.require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})))
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.Ledger.Err(); err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "ledger stopped"})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

// require authenticates the bearer token and checks that its role is one
// of roles (none: any valid token). Failures are answered 401/403 and
// recorded in the ledger.
func (s *Server) require(next http.Handler, roles ...auth.Role) http.Handler {
	need := make([]string, len(roles))
	for i, r := range roles {
		need[i] = string(r)
	}
	needText := strings.Join(need, " or ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := auth.Credential(r)
		p, valid := s.Tokens.Authenticate(secret)
		if secret == "" || !valid {
			reason := "missing bearer token"
			if secret != "" {
				reason = "invalid token"
			}
			s.audit(r, event.SelfAudit{Action: event.ActionAuthFailed, User: "unauthenticated", Outcome: event.Failure, Status: http.StatusUnauthorized, Class: event.InvalidAccess,
				Details: map[string]any{"reason": reason, "method": r.Method, "path": r.URL.Path}})
			w.Header().Set("WWW-Authenticate", `Bearer realm="cdewatch"`)
			httpjson.Error(w, http.StatusUnauthorized, reason+": send Authorization: Bearer <token> (or Basic with the token as password, or ApiKey)")
			return
		}
		if len(roles) > 0 && !slices.Contains(roles, p.Role) {
			s.audit(r, event.SelfAudit{Action: event.ActionAuthDenied, User: p.Name(), Outcome: event.Failure, Status: http.StatusForbidden, Class: event.InvalidAccess,
				Details: map[string]any{"reason": "role " + string(p.Role) + " may not use this endpoint", "need": needText, "method": r.Method, "path": r.URL.Path}})
			httpjson.Error(w, http.StatusForbidden, fmt.Sprintf("this endpoint needs a %s token; the token presented is %s", needText, p.Role))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// audit records a self-audit action about request r, logging a failure.
func (s *Server) audit(r *http.Request, a event.SelfAudit) {
	if err := s.record(r, a); err != nil {
		s.Log.Error("could not record self-audit event", "action", a.Action, "err", err)
	}
}

// record records a self-audit action about request r (with the client's
// address and agent, and the path as the resource) and returns once it is
// durable, or the error.
func (s *Server) record(r *http.Request, a event.SelfAudit) error {
	a.OriginIP = remoteIP(r)
	a.Agent = r.UserAgent()
	a.Resource = r.URL.Path
	return s.Audit(r.Context(), a)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp := s.Ledger.LatestCheckpoint()
	if cp == nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "no checkpoint signed yet")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(cp.Note)
}

func (s *Server) tile(w http.ResponseWriter, r *http.Request) {
	data, err := s.Ledger.Tile("tile/" + r.PathValue("path"))
	if err != nil {
		s.proofError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}

func uintParam(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("query parameter %s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

// ProofResponse is the JSON answer of the proof endpoints. Hashes are base64.
type ProofResponse struct {
	Index    *uint64  `json:"index,omitempty"`
	Size     uint64   `json:"size,omitempty"`
	From     uint64   `json:"from,omitempty"`
	To       uint64   `json:"to,omitempty"`
	LeafHash string   `json:"leaf_hash,omitempty"`
	Root     string   `json:"root,omitempty"`
	Proof    []string `json:"proof"`
}

func (s *Server) inclusion(w http.ResponseWriter, r *http.Request) {
	index, err := uintParam(r, "index")
	if err == nil {
		var size uint64
		if size, err = uintParam(r, "size"); err == nil {
			var proof [][]byte
			var root, leaf []byte
			if proof, root, err = s.Ledger.InclusionProof(index, size); err == nil {
				if leaf, err = s.Ledger.LeafHash(index); err == nil {
					httpjson.Write(w, http.StatusOK, ProofResponse{Index: &index, Size: size, LeafHash: b64(leaf), Root: b64(root), Proof: b64s(proof)})
					return
				}
			}
		}
	}
	s.proofError(w, err)
}

func (s *Server) consistency(w http.ResponseWriter, r *http.Request) {
	from, err := uintParam(r, "from")
	if err == nil {
		var to uint64
		if to, err = uintParam(r, "to"); err == nil {
			var proof [][]byte
			if proof, err = s.Ledger.ConsistencyProof(from, to); err == nil {
				httpjson.Write(w, http.StatusOK, ProofResponse{From: from, To: to, Proof: b64s(proof)})
				return
			}
		}
	}
	s.proofError(w, err)
}

func (s *Server) proofError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ledger.ErrOutOfRange):
		httpjson.Error(w, http.StatusNotFound, err.Error())
	case strings.HasPrefix(err.Error(), "query parameter"):
		httpjson.Error(w, http.StatusBadRequest, err.Error())
	default:
		s.Log.Error("proof failed", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func b64s(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b64(b)
	}
	return out
}
