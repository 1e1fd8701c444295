// Package api is cdewatch's HTTP API: ingest, queries, the per-source
// view, the transparency log (checkpoints, proofs, tiles), API tokens and
// the alert lifecycle. Errors are JSON objects {"error": "..."}.
//
// # Access
//
// Routes is the permission table: every endpoint with the roles that may
// use it (internal/auth describes the roles; docs/ACCESS.md shows the
// matrix, generated from the table). Handler registers exactly its routes.
// GET /healthz and GET /readyz need no credential; every other request
// needs one:
//
//   - a cdewatch token (cdw_…) as "Authorization: Bearer <token>" (or as
//     the password of Basic authentication, or an ApiKey, for log
//     shippers; auth.Credential);
//   - when OIDC is configured, a JWT (ID token or access token) of the
//     configured issuer, whose claims map to roles.
//
// A missing, invalid or expired credential is answered 401 and recorded
// as auth.failed (PCI DSS 10.2.1.4) with the reason; a valid one whose
// roles do not include the endpoint's is answered 403 and recorded as
// auth.denied; an OIDC token that maps to no role is such a 403 too.
// After Limiter's number of failures from one client address within its
// window, the client is answered 429 with Retry-After for a window
// without its credential being looked at; the block is recorded once
// (auth.limited), the refused requests are not, so that an attacker
// cannot flood the ledger.
//
// Token administration (POST, DELETE /v1/tokens…) records every change
// (token.create, token.rotate, token.role, token.revoke; 10.2.1.5) with
// who made it before the change is kept; if the record cannot be stored
// the answer is 503 and nothing changed. No endpoint changes or deletes
// what the ledger holds (10.3.2).
//
// # Queries
//
// POST /v1/query runs a KQL query over the index (the tables of
// internal/index: KubeAuditLogs, AKSAudit, AKSAuditAdmin, CdewatchAudit, …).
// It needs a log-reader, soc-analyst, compliance or auditor role. The body
// is {"query": "<KQL>"}, at most 1 MiB, no other member. Answers:
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
// Every request that reaches the endpoint, successful or not, is appended
// to the ledger (PCI DSS 10.2.1.3) before the response is written, as a
// CdewatchAudit record with OperationName "query", Caller the principal
// ("token:<id> (log-reader)", "oidc:<user> (soc-analyst)"), Outcome
// success or failure, Status the HTTP status, CallerIpAddress and
// UserAgent the client's, Pci log-access, and Details holding token_id,
// role (the caller's roles, comma-separated), query (cut at 64 KiB:
// query_truncated, query_bytes), tables (the catalog tables the query
// read; empty when unknown, e.g. for a query that did not parse),
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
	"strconv"
	"strings"
	"time"

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
	Ledger *ledger.Ledger
	Tokens *auth.Store
	// OIDC, when set, accepts the JWTs of an OpenID Connect provider
	// besides cdewatch tokens.
	OIDC *auth.OIDC
	// Limiter counts failed authentications per client address; nil: each
	// Handler gets a limiter with the defaults (auth.LimiterConfig).
	Limiter  *auth.FailureLimiter
	K8sAudit http.Handler
	Audit    AuditFunc
	// Ready reports whether the server can serve (GET /readyz); nil: ready
	// while the ledger accepts writes. The ledger is checked first either way.
	Ready func() error
	// Query runs queries for POST /v1/query; nil when the index is
	// disabled (the endpoint then answers 503).
	Query QueryFunc
	// Ingest maps route patterns to receivers (PatternIngestApp,
	// PatternIngestAzure, PatternOTLPLogs, PatternESBulk); each needs an
	// ingest token. A pattern that Routes does not list makes Handler panic.
	Ingest map[string]http.Handler
	// Stats is the live per-source view of the receivers (GET
	// /v1/sources, GET /metrics); Sources the durable one from the index
	// (nil when the index is disabled).
	Stats   *ingest.Stats
	Sources func(context.Context) ([]index.SourceSummary, error)
	// Metrics serves GET /metrics (Prometheus text format); nil: no
	// metrics endpoint.
	Metrics http.Handler
	// Retention, Incidents, Health and Rehydrate serve their endpoints
	// (/v1/retention, /v1/incidents, /v1/health, /v1/rehydrate); nil: the
	// endpoints are not registered.
	Retention Retention
	Incidents Incidents
	Health    Health
	Rehydrate RehydrateFunc
	Log       *slog.Logger
}

// Handler returns the routed, authenticated handler: the routes of Routes
// enabled in s, each behind the check of its roles. It panics if Ingest
// names a pattern that Routes does not list, as http.ServeMux panics on a
// conflicting pattern: every endpoint is in the permission table.
func (s *Server) Handler() http.Handler {
	routes := Routes()
	listed := map[string]bool{}
	for _, rt := range routes {
		listed[rt.Pattern] = true
	}
	for pattern := range s.Ingest {
		if !listed[pattern] {
			panic(fmt.Sprintf("api: ingest route %q is not in the permission table (api.Routes)", pattern))
		}
	}
	lim := s.Limiter
	if lim == nil {
		lim = auth.NewFailureLimiter(auth.LimiterConfig{})
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		h := rt.handler(s)
		if h == nil {
			continue
		}
		if !rt.Public {
			h = s.guard(rt, lim, h)
		}
		mux.Handle(rt.Pattern, h)
	}
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.Ledger.Err(); err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "ledger stopped"})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyAnswer is the body of GET /readyz.
type ReadyAnswer struct {
	Status string `json:"status"` // ready or not ready
	Reason string `json:"reason,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.Ledger.Err(); err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, ReadyAnswer{Status: "not ready", Reason: "the ledger stopped after a failure; the server log has the cause"})
		return
	}
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			httpjson.Write(w, http.StatusServiceUnavailable, ReadyAnswer{Status: "not ready", Reason: err.Error()})
			return
		}
	}
	httpjson.Write(w, http.StatusOK, ReadyAnswer{Status: "ready"})
}

// credentialHint says how to present a credential.
const credentialHint = "send Authorization: Bearer <token> (or Basic with the token as password, or ApiKey)"

// authFailure is why a request's credential was not accepted.
type authFailure struct {
	status  int
	msg     string         // for the client
	reason  string         // for the record
	details map[string]any // more for the record
	// denied: the caller is known (an OIDC user without a role); recorded
	// as auth.denied, not counted as a failed authentication.
	denied bool
	user   string
}

// authenticate returns the principal of r's credential.
func (s *Server) authenticate(r *http.Request) (auth.Principal, *authFailure) {
	secret := auth.Credential(r)
	invalid := &authFailure{status: http.StatusUnauthorized, reason: "invalid token", msg: "invalid token: " + credentialHint}
	switch {
	case secret == "":
		return auth.Principal{}, &authFailure{status: http.StatusUnauthorized, reason: "missing bearer token", msg: "missing bearer token: " + credentialHint}
	case strings.HasPrefix(secret, "cdw_"):
		p, err := s.Tokens.Verify(secret)
		var exp *auth.ExpiredError
		switch {
		case err == nil:
			return p, nil
		case errors.As(err, &exp):
			reason := "token expired"
			if exp.Replaced {
				reason = "rotated secret past its grace period"
			}
			return auth.Principal{}, &authFailure{status: http.StatusUnauthorized, reason: reason, msg: err.Error(),
				details: map[string]any{"token_id": exp.TokenID, "expired_at": exp.At.UTC().Format(time.RFC3339)}}
		}
		return auth.Principal{}, invalid
	case s.OIDC != nil && auth.LooksLikeJWT(secret):
		p, err := s.OIDC.Verify(r.Context(), secret)
		var oerr *auth.OIDCError
		var norole *auth.NoRoleError
		switch {
		case err == nil:
			return p, nil
		case errors.As(err, &norole):
			return auth.Principal{}, &authFailure{status: http.StatusForbidden, denied: true, user: "oidc:" + norole.User,
				reason: "no role: the OIDC token's claims map to no role", msg: err.Error(),
				details: map[string]any{"subject": norole.Subject, "issuer": s.OIDC.Issuer(), "claim": norole.Claim, "values": norole.Values}}
		case errors.As(err, &oerr):
			return auth.Principal{}, &authFailure{status: http.StatusUnauthorized, reason: "oidc token " + oerr.Reason, msg: err.Error(),
				details: map[string]any{"issuer": s.OIDC.Issuer(), "error": oerr.Err.Error()}}
		case errors.Is(err, auth.ErrOIDCUnavailable):
			s.Log.Error("OIDC provider unavailable", "err", err)
			return auth.Principal{}, &authFailure{status: http.StatusServiceUnavailable, reason: "oidc provider unavailable",
				msg: auth.ErrOIDCUnavailable.Error() + "; retry later", details: map[string]any{"issuer": s.OIDC.Issuer(), "error": err.Error()}}
		}
		return auth.Principal{}, invalid
	}
	return auth.Principal{}, invalid
}

// guard authenticates the request's credential and checks that the
// caller holds one of rt's roles. Failures are answered 401, 403, 429 or
// 503 and recorded in the ledger (see the package documentation).
func (s *Server) guard(rt Route, lim *auth.FailureLimiter, next http.Handler) http.Handler {
	need := make([]string, len(rt.Roles))
	for i, r := range rt.Roles {
		need[i] = string(r)
	}
	needText := strings.Join(need, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := auth.ClientKey(remoteIP(r))
		if wait, blocked := lim.Blocked(client); blocked {
			secs := int64((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			httpjson.Error(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed authentications from your address: retry after %d s", secs))
			return
		}
		p, fail := s.authenticate(r)
		if fail != nil {
			s.refuse(w, r, lim, client, fail)
			return
		}
		if !rt.Allows(p) {
			s.audit(r, event.SelfAudit{Action: event.ActionAuthDenied, User: p.Name(), Outcome: event.Failure, Status: http.StatusForbidden, Class: event.InvalidAccess,
				Details: map[string]any{"reason": "role " + p.RoleText() + " may not use this endpoint", "need": needText, "method": r.Method, "path": r.URL.Path}})
			httpjson.Error(w, http.StatusForbidden, fmt.Sprintf("this endpoint needs one of the roles %s; %s", needText, presented(p)))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// presented describes the caller's roles in a 403 message.
func presented(p auth.Principal) string {
	if p.TokenID == "" && p.Subject != "" {
		return fmt.Sprintf("%s is signed in with the roles %s", p.User, p.RoleText())
	}
	return "the token presented is " + p.RoleText()
}

// refuse answers and records a credential that was not accepted, and
// counts a failed authentication against the client, recording the block
// it may start.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, lim *auth.FailureLimiter, client string, f *authFailure) {
	d := map[string]any{"reason": f.reason, "method": r.Method, "path": r.URL.Path}
	for k, v := range f.details {
		d[k] = v
	}
	if f.denied {
		s.audit(r, event.SelfAudit{Action: event.ActionAuthDenied, User: f.user, Outcome: event.Failure, Status: f.status, Class: event.InvalidAccess, Details: d})
		httpjson.Error(w, f.status, f.msg)
		return
	}
	s.audit(r, event.SelfAudit{Action: event.ActionAuthFailed, User: "unauthenticated", Outcome: event.Failure, Status: f.status, Class: event.InvalidAccess, Details: d})
	if until, blocked := lim.Failure(client); blocked {
		s.audit(r, event.SelfAudit{Action: event.ActionAuthRateLimited, User: "unauthenticated", Outcome: event.Failure, Status: http.StatusTooManyRequests, Class: event.InvalidAccess,
			Details: map[string]any{"client": client, "failures": lim.MaxFailures(), "window_seconds": int64(lim.Window() / time.Second),
				"blocked_until": until.UTC().Format(time.RFC3339)}})
	}
	if f.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cdewatch"`)
	}
	httpjson.Error(w, f.status, f.msg)
}

// audit records a self-audit action about request r, logging a failure.
func (s *Server) audit(r *http.Request, a event.SelfAudit) {
	if err := s.record(r, a); err != nil {
		s.Log.Error("could not record self-audit event", "action", a.Action, "err", err)
	}
}

// record records a self-audit action about request r (with the client's
// address and agent, and the path as the resource unless a names one) and
// returns once it is durable, or the error.
func (s *Server) record(r *http.Request, a event.SelfAudit) error {
	a.OriginIP = remoteIP(r)
	a.Agent = r.UserAgent()
	if a.Resource == "" {
		a.Resource = r.URL.Path
	}
	return s.Audit(r.Context(), a)
}

// recorder is an auth.Recorder that records about request r.
func (s *Server) recorder(r *http.Request) auth.Recorder {
	return func(_ context.Context, a event.SelfAudit) error { return s.record(r, a) }
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
