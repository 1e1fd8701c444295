package event

import (
	"encoding/json"
	"time"
)

// Self-audit actions: what cdewatch records about itself in its own ledger.
const (
	ActionLedgerInit      = "ledger.init"   // 10.2.1.6 a new audit log was initialized
	ActionServeStart      = "serve.start"   // 10.2.1.6 logging started
	ActionServeStop       = "serve.stop"    // 10.2.1.6 logging stopped (clean shutdown)
	ActionAuthFailed      = "auth.failed"   // 10.2.1.4 a request presented no or an invalid credential
	ActionAuthDenied      = "auth.denied"   // 10.2.1.4 a valid credential was used beyond its role
	ActionTokenCreate     = "token.create"  // 10.2.1.5 a credential was created
	ActionTokenRevoke     = "token.revoke"  // 10.2.1.5 a credential was revoked
	ActionTokenInit       = "token.init"    // 10.2.1.5 the first credential of a new data directory was created
	ActionTokenRotate     = "token.rotate"  // 10.2.1.5 a credential's secret was replaced
	ActionTokenRole       = "token.role"    // 10.2.1.5 a credential's role was changed
	ActionTokenMigrate    = "token.migrate" // 10.2.1.5 stored credentials' old role names were mapped to the current roles
	ActionAuthRateLimited = "auth.limited"  // 10.2.1.4 a client was refused for a while after repeated failed authentication
	ActionIngestReject    = "ingest.reject" // input that could not be stored, recorded so nothing vanishes silently
	ActionQuery           = "query"         // 10.2.1.3 audit logs were read: a query over the index, successful or not
	ActionPANMasked       = "scrub.pan"     // PCI 3.3.1/3.5.1: card data arrived in a log and was masked before storage
	ActionAlertStatus     = "alert.status"  // 10.4.1 a person acknowledged, resolved or reopened an alert, and why
	// 10.3.3 the archive was restored into an empty directory and verified
	// (or not): evidence that the backup can be restored.
	ActionArchiveRestoreTest = "archive.restore_test"

	// 10.3.4 the integrity monitor found stored audit data altered, or
	// completed a full re-verification (evidence).
	ActionIntegrityDamage = "integrity.damage"
	ActionIntegrityPass   = "integrity.pass"
	// 10.5.1 retention (internal/retention): a policy change scheduled,
	// applied or withdrawn; a legal hold set or released; records that
	// left the ledger.
	ActionRetentionChange = "retention.change"
	ActionRetentionHold   = "retention.hold"
	ActionRetentionExpire = "retention.expire"
	// Rows older than the hot window left the query index (not the
	// ledger); a range was put back into it on request (10.2.1.3).
	ActionIndexExpire    = "index.expire"
	ActionIndexRehydrate = "index.rehydrate"

	// 10.7.2/10.7.3 failures of a critical control or of a source of audit
	// logs (internal/health): when each started and ended, and how a
	// person resolved it. Details carry failure_id, which joins them.
	ActionHealthFailureStart      = "health.failure.start"
	ActionHealthFailureEnd        = "health.failure.end"
	ActionHealthFailureResolution = "health.failure.resolution"
)

// SelfSource is the source name of records cdewatch writes about itself.
const SelfSource = "cdewatch"

// SelfAudit describes one action of cdewatch itself.
type SelfAudit struct {
	Action   string
	User     string
	Outcome  Outcome
	Status   int
	OriginIP string
	Agent    string
	Resource string
	Class    Class
	Details  map[string]any // stored as the record's raw JSON
}

// Record builds the CdewatchAudit record for a self-audit action at time now.
func (s SelfAudit) Record(now time.Time) (*Record, error) {
	raw := map[string]any{"action": s.Action}
	for k, v := range s.Details {
		raw[k] = v
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	now = now.UTC()
	user := s.User
	if user == "" {
		user = "system:cdewatch"
	}
	out := s.Outcome
	if out == "" {
		out = Success
	}
	return &Record{
		Time: now, Received: now, Source: SelfSource, Table: TableCdewatchAudit,
		User: user, Action: s.Action, Outcome: out, Status: s.Status,
		OriginIP: s.OriginIP, UserAgent: s.Agent, Resource: s.Resource,
		PCI: s.Class, Raw: b,
	}, nil
}
