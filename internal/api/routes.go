package api

import (
	"net/http"
	"slices"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/httpjson"
)

// Route is one endpoint of the API and who may call it. Routes is the
// permission table: Handler registers exactly its routes, each behind a
// check of its roles, and docs/ACCESS.md's matrix is generated from it.
type Route struct {
	// Pattern is the http.ServeMux pattern, e.g. "GET /v1/tokens".
	Pattern string
	// Public routes need no credential (and are not recorded).
	Public bool
	// Roles may call the route; a caller holding any of them is let in.
	Roles []auth.Role
	// Summary says what the route is for.
	Summary string
	// handler returns the route's handler in s; nil: the route is not
	// enabled in s (it is then not registered).
	handler func(s *Server) http.Handler
}

// Allows reports whether a caller with principal p may use the route.
func (r Route) Allows(p auth.Principal) bool {
	return r.Public || slices.ContainsFunc(p.AllRoles(), func(x auth.Role) bool { return slices.Contains(r.Roles, x) })
}

// Patterns of the receivers that Server.Ingest maps to their handlers.
const (
	PatternIngestApp   = "POST /v1/ingest/app"
	PatternIngestAzure = "POST /v1/ingest/azure"
	PatternOTLPLogs    = "POST /v1/logs"
	PatternESBulk      = "/es/"
)

// Routes returns the permission table: every route of the API with the
// roles that may use it.
func Routes() []Route {
	const (
		logReader     = auth.RoleLogReader
		socAnalyst    = auth.RoleSOCAnalyst
		platformAdmin = auth.RolePlatformAdmin
		compliance    = auth.RoleCompliance
		auditor       = auth.RoleAuditor
		ingest        = auth.RoleIngest
		metrics       = auth.RoleMetrics
	)
	var (
		// Reading the audit logs' content (10.3.1).
		readLogs = []auth.Role{logReader, socAnalyst, compliance, auditor}
		// What each source sent: volume, last event, missing details.
		sources = []auth.Role{logReader, socAnalyst, platformAdmin, compliance, auditor}
		// The integrity evidence: signed checkpoints, proofs, hash tiles
		// (hashes only, no log content).
		integrity = []auth.Role{platformAdmin, compliance, auditor}
		all       = []auth.Role{logReader, socAnalyst, platformAdmin, compliance, auditor, ingest, metrics}
	)
	// method binds a handler method to the server.
	method := func(m func(*Server, http.ResponseWriter, *http.Request)) func(*Server) http.Handler {
		return func(s *Server) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m(s, w, r) })
		}
	}
	// enabled registers h only when the server has what it needs.
	enabled := func(on func(*Server) bool, h func(*Server) http.Handler) func(*Server) http.Handler {
		return func(s *Server) http.Handler {
			if !on(s) {
				return nil
			}
			return h(s)
		}
	}
	ingestRoute := func(pattern, summary string) Route {
		return Route{Pattern: pattern, Roles: []auth.Role{ingest}, Summary: summary, handler: func(s *Server) http.Handler {
			if h, ok := s.Ingest[pattern]; ok && h != nil {
				return h
			}
			return nil
		}}
	}
	return []Route{
		{Pattern: "GET /healthz", Public: true, Summary: "liveness: 200 while the ledger accepts writes",
			handler: method((*Server).healthz)},
		{Pattern: "GET /readyz", Public: true, Summary: "readiness: 200 when the server can serve, else 503 with the reason",
			handler: method((*Server).readyz)},
		{Pattern: "POST /v1/ingest/k8s-audit", Roles: []auth.Role{ingest}, Summary: "kube-apiserver audit webhook (EventList)",
			handler: func(s *Server) http.Handler {
				if s.K8sAudit == nil {
					return nil
				}
				return s.K8sAudit
			}},
		ingestRoute(PatternIngestApp, "application card-data access records"),
		ingestRoute(PatternIngestAzure, "Azure diagnostic-setting exports"),
		ingestRoute(PatternOTLPLogs, "OTLP/HTTP logs"),
		ingestRoute(PatternESBulk, "Elasticsearch bulk API for log shippers"),
		{Pattern: "POST /v1/query", Roles: readLogs, Summary: "run a KQL query over the audit logs (recorded, 10.2.1.3)",
			handler: method((*Server).query)},
		{Pattern: "GET /v1/sources", Roles: sources, Summary: "per source: volume, last event, records missing 10.2.2 details",
			handler: method((*Server).sources)},
		{Pattern: "GET /metrics", Roles: []auth.Role{platformAdmin, auditor, metrics}, Summary: "Prometheus metrics",
			handler: func(s *Server) http.Handler { return s.Metrics }},
		{Pattern: "GET /v1/checkpoint", Roles: integrity, Summary: "the latest signed checkpoint",
			handler: method((*Server).checkpoint)},
		{Pattern: "GET /v1/log/checkpoint", Roles: integrity, Summary: "the latest signed checkpoint (tlog-tiles path)",
			handler: method((*Server).checkpoint)},
		{Pattern: "GET /v1/log/tile/{path...}", Roles: integrity, Summary: "hash tiles (c2sp.org/tlog-tiles)",
			handler: method((*Server).tile)},
		{Pattern: "GET /v1/proof/inclusion", Roles: integrity, Summary: "inclusion proof of a record",
			handler: method((*Server).inclusion)},
		{Pattern: "GET /v1/proof/consistency", Roles: integrity, Summary: "consistency proof between two tree sizes",
			handler: method((*Server).consistency)},
		{Pattern: "GET /v1/tokens", Roles: []auth.Role{platformAdmin, auditor}, Summary: "list API tokens (never secrets or hashes)",
			handler: method((*Server).listTokens)},
		{Pattern: "POST /v1/tokens", Roles: []auth.Role{platformAdmin}, Summary: "create a token (recorded, 10.2.1.5)",
			handler: method((*Server).createToken)},
		{Pattern: "DELETE /v1/tokens/{id}", Roles: []auth.Role{platformAdmin}, Summary: "revoke a token (recorded)",
			handler: method((*Server).revokeToken)},
		{Pattern: "POST /v1/tokens/{id}/rotate", Roles: []auth.Role{platformAdmin}, Summary: "give a token a new secret, the old one valid for a grace period (recorded)",
			handler: method((*Server).rotateToken)},
		{Pattern: "POST /v1/tokens/{id}/role", Roles: []auth.Role{platformAdmin}, Summary: "change a token's role (recorded)",
			handler: method((*Server).setTokenRole)},
		{Pattern: "POST /v1/alerts/{id}/status", Roles: []auth.Role{socAnalyst}, Summary: "acknowledge, resolve or reopen an alert, with a reason (recorded, 10.4.1)",
			handler: method((*Server).alertStatus)},
		{Pattern: "GET /v1/retention", Roles: []auth.Role{platformAdmin, compliance, auditor}, Summary: "retention policy, pending changes, legal hold, what expired (10.5.1)",
			handler: enabled(func(s *Server) bool { return s.Retention != nil }, method((*Server).retentionStatus))},
		{Pattern: "POST /v1/retention/hold", Roles: []auth.Role{compliance}, Summary: "set or release the legal hold, with a reason (recorded)",
			handler: enabled(func(s *Server) bool { return s.Retention != nil }, method((*Server).retentionHold))},
		{Pattern: "POST /v1/rehydrate", Roles: []auth.Role{socAnalyst, compliance, auditor}, Summary: "put records older than the index's hot window back into it for a while (recorded, 10.2.1.3)",
			handler: enabled(func(s *Server) bool { return s.Rehydrate != nil }, method((*Server).rehydrate))},
		{Pattern: "GET /v1/incidents", Roles: readLogs, Summary: "the open incidents",
			handler: enabled(func(s *Server) bool { return s.Incidents != nil }, method((*Server).listIncidents))},
		{Pattern: "POST /v1/incidents/{id}/status", Roles: []auth.Role{socAnalyst}, Summary: "acknowledge or resolve an incident, with a reason (recorded, 10.4.1)",
			handler: enabled(func(s *Server) bool { return s.Incidents != nil }, method((*Server).incidentStatus))},
		{Pattern: "GET /v1/health", Roles: []auth.Role{socAnalyst, platformAdmin, compliance, auditor}, Summary: "health of the sources and of cdewatch's controls: open and recent failures (10.7)",
			handler: enabled(func(s *Server) bool { return s.Health != nil }, method((*Server).healthSummary))},
		{Pattern: "POST /v1/health/failures/{id}/resolution", Roles: []auth.Role{socAnalyst, platformAdmin}, Summary: "record how a failure was resolved (recorded, 10.7.3)",
			handler: enabled(func(s *Server) bool { return s.Health != nil }, method((*Server).resolveFailure))},
		{Pattern: "/", Roles: all, Summary: "any other path: 404 to a valid credential (so that probing is recorded)",
			handler: func(*Server) http.Handler { return http.HandlerFunc(notFound) }},
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httpjson.Error(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
}
