package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/health"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/retention"
)

// Retention is the retention policy (internal/retention.Manager): its
// state, and the legal hold, whose changes it records before returning.
type Retention interface {
	Status() retention.Status
	SetHold(ctx context.Context, on bool, by, reason string) error
}

// Incidents are the open incidents (internal/detect.Detector); a status
// change is recorded in the ledger before SetIncidentStatus returns.
type Incidents interface {
	Incidents() []alert.IncidentChange
	SetIncidentStatus(ctx context.Context, id, status, by, reason string) (alert.IncidentChange, error)
}

// Health is the health monitor (internal/health.Monitor); Resolve records
// a person's resolution of a failure before it returns.
type Health interface {
	Summary() health.Summary
	Resolve(ctx context.Context, id, who, text string) error
}

// RehydrateFunc puts the records the ledger accepted between from and to
// back into the query index until until, returning the ledger range and
// the rows written.
type RehydrateFunc func(ctx context.Context, from, to, until time.Time) (first, end, rows uint64, err error)

// decodeRequest reads a small JSON body strictly into v; on failure it
// answers 400 naming the expected shape and returns false.
func decodeRequest(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	if err := decodeBody(w, r, v, false); err != nil {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("%s (want %s)", err, shape))
		return false
	}
	return true
}

func caller(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.Name()
}

// unrecorded answers 503 when a change could not be recorded.
func (s *Server) unrecorded(w http.ResponseWriter, what string, err error) {
	s.Log.Error("recording "+what, "err", err)
	w.Header().Set("Retry-After", "1")
	httpjson.Error(w, http.StatusServiceUnavailable, what+" could not be recorded; nothing changed: retry")
}

func (s *Server) retentionStatus(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, s.Retention.Status())
}

// HoldRequest is the body of POST /v1/retention/hold.
type HoldRequest struct {
	Hold   bool   `json:"hold"`   // true sets the legal hold, false releases it
	Reason string `json:"reason"` // e.g. a case reference: required
}

// retentionHold sets or releases the legal hold: while it is set nothing
// expires (10.5.1). The change is recorded (retention.hold) before the
// answer.
func (s *Server) retentionHold(w http.ResponseWriter, r *http.Request) {
	var req HoldRequest
	if !decodeRequest(w, r, &req, `{"hold":true|false,"reason":"..."}`) {
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		httpjson.Error(w, http.StatusBadRequest, "reason is required: name the case or request the hold is for")
		return
	}
	if err := s.Retention.SetHold(r.Context(), req.Hold, caller(r), req.Reason); err != nil {
		s.unrecorded(w, "the legal hold change", err)
		return
	}
	httpjson.Write(w, http.StatusOK, s.Retention.Status())
}

// RehydrateRequest is the body of POST /v1/rehydrate.
type RehydrateRequest struct {
	From   time.Time `json:"from"`   // records the ledger accepted from
	To     time.Time `json:"to"`     // to (exclusive)
	Days   int       `json:"days"`   // how long they stay in the index; default 7, at most 90
	Reason string    `json:"reason"` // why they are needed: required
}

// RehydrateResponse is its answer.
type RehydrateResponse struct {
	FirstSeq uint64    `json:"first_seq"`
	EndSeq   uint64    `json:"end_seq"`
	Rows     uint64    `json:"rows"`
	Until    time.Time `json:"until"`
}

// rehydrate puts records older than the index's hot window back into it
// for a while. It is a read of the audit logs, recorded before the rows
// are written (index.rehydrate, 10.2.1.3).
func (s *Server) rehydrate(w http.ResponseWriter, r *http.Request) {
	var req RehydrateRequest
	if !decodeRequest(w, r, &req, `{"from":"<RFC 3339>","to":"<RFC 3339>","days":7,"reason":"..."}`) {
		return
	}
	switch {
	case req.From.IsZero() || req.To.IsZero() || !req.From.Before(req.To):
		httpjson.Error(w, http.StatusBadRequest, "from and to are required, from before to (RFC 3339 times)")
		return
	case strings.TrimSpace(req.Reason) == "":
		httpjson.Error(w, http.StatusBadRequest, "reason is required: say what the records are needed for")
		return
	case req.Days < 0 || req.Days > 90:
		httpjson.Error(w, http.StatusBadRequest, "days must be between 1 and 90 (default 7)")
		return
	}
	if req.Days == 0 {
		req.Days = 7
	}
	until := time.Now().UTC().Add(time.Duration(req.Days) * 24 * time.Hour)
	details := map[string]any{"from": req.From, "to": req.To, "until": until, "reason": req.Reason}
	if err := s.record(r, event.SelfAudit{Action: event.ActionIndexRehydrate, User: caller(r), Class: event.LogAccess, Details: details}); err != nil {
		s.unrecorded(w, "the rehydration", err)
		return
	}
	first, end, rows, err := s.Rehydrate(r.Context(), req.From, req.To, until)
	if err != nil {
		s.Log.Error("rehydrate", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "rehydrating failed: "+err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, RehydrateResponse{FirstSeq: first, EndSeq: end, Rows: rows, Until: until})
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	out := s.Incidents.Incidents()
	if out == nil {
		out = []alert.IncidentChange{}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// IncidentStatusRequest is the body of POST /v1/incidents/{id}/status.
type IncidentStatusRequest struct {
	Status string `json:"status"` // acknowledged or resolved
	Reason string `json:"reason"` // required
}

// incidentStatus moves an open incident forward (acknowledged, resolved)
// with who and why, recorded as a SecurityIncident ledger record (10.4.1).
func (s *Server) incidentStatus(w http.ResponseWriter, r *http.Request) {
	var req IncidentStatusRequest
	if !decodeRequest(w, r, &req, `{"status":"acknowledged"|"resolved","reason":"..."}`) {
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		httpjson.Error(w, http.StatusBadRequest, "reason is required: say why (PCI DSS 10.4.1: reviews and their follow-up are documented)")
		return
	}
	if req.Status != alert.IncidentAcknowledged && req.Status != alert.IncidentResolved {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("status %q: want acknowledged or resolved", req.Status))
		return
	}
	c, err := s.Incidents.SetIncidentStatus(r.Context(), r.PathValue("id"), req.Status, caller(r), req.Reason)
	switch {
	case err == nil:
		httpjson.Write(w, http.StatusOK, c)
	case errors.Is(err, alert.ErrNoIncident):
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no open incident %q: GET /v1/incidents lists them", r.PathValue("id")))
	case errors.Is(err, alert.ErrTransition):
		httpjson.Error(w, http.StatusConflict, err.Error())
	default:
		s.unrecorded(w, "the incident change", err)
	}
}

func (s *Server) healthSummary(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, s.Health.Summary())
}

// ResolutionRequest is the body of POST /v1/health/failures/{id}/resolution.
type ResolutionRequest struct {
	Text string `json:"text"` // what was done about the failure (10.7.3)
}

// resolveFailure records how a person resolved a failure of a control or
// a source (10.7.3): cause and duration are recorded by the monitor, the
// remediation by the person.
func (s *Server) resolveFailure(w http.ResponseWriter, r *http.Request) {
	var req ResolutionRequest
	if !decodeRequest(w, r, &req, `{"text":"..."}`) {
		return
	}
	err := s.Health.Resolve(r.Context(), r.PathValue("id"), caller(r), req.Text)
	switch {
	case err == nil:
		httpjson.Write(w, http.StatusOK, map[string]string{"failure": r.PathValue("id"), "resolved_by": caller(r)})
	case errors.Is(err, health.ErrFailureID), errors.Is(err, health.ErrResolution):
		httpjson.Error(w, http.StatusBadRequest, err.Error())
	default:
		s.unrecorded(w, "the resolution", err)
	}
}
