package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
)

// Alert statuses, the lifecycle of an alert: new → acknowledged →
// resolved (and back to new when reopened).
const (
	AlertNew          = "new"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// AlertStatusRequest is the body of POST /v1/alerts/{id}/status.
type AlertStatusRequest struct {
	Status string `json:"status"` // acknowledged, resolved, or new to reopen
	Reason string `json:"reason"` // why: required
}

// AlertStatusResponse is its answer: the record of the change.
type AlertStatusResponse struct {
	Alert  string `json:"alert"` // cdewatch-<seq>
	Status string `json:"status"`
	By     string `json:"by"`
}

// alertStatus implements POST /v1/alerts/{id}/status: a person takes
// responsibility for an alert (acknowledged), closes it (resolved) or
// reopens it (new), saying why. The change is a CdewatchAudit record
// (alert.status: who, when, why, the alert's rule and key), which is the
// alert's lifecycle; the alert's own record is never changed. id is the
// SystemAlertId (cdewatch-<seq>) or the seq.
func (s *Server) alertStatus(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.PathValue("id"), "cdewatch-")
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("alert id %q: want cdewatch-<seq> as SecurityAlert's SystemAlertId gives it", r.PathValue("id")))
		return
	}
	var req AlertStatusRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, `alert status: `+err.Error()+` (want {"status":"acknowledged"|"resolved"|"new","reason":"..."})`)
		return
	}
	switch req.Status {
	case AlertAcknowledged, AlertResolved, AlertNew:
	default:
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("status %q: want acknowledged, resolved or new (to reopen)", req.Status))
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		httpjson.Error(w, http.StatusBadRequest, "reason is required: say why (PCI DSS 10.4.1: reviews and their follow-up are documented)")
		return
	}
	var rec event.Record
	found := false
	err = s.Ledger.ReadRange(seq, seq+1, func(_ uint64, b []byte) error {
		found = true
		return rec.UnmarshalBinary(append([]byte(nil), b...))
	})
	if err != nil || !found || rec.Table != event.TableSecurityAlert {
		if err != nil {
			s.Log.Debug("alert lookup", "seq", seq, "err", err)
		}
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no alert cdewatch-%d: see SecurityAlert | project SystemAlertId", seq))
		return
	}
	p, _ := auth.FromContext(r.Context())
	alertID := "cdewatch-" + strconv.FormatUint(seq, 10)
	if err := s.record(r, event.SelfAudit{Action: event.ActionAlertStatus, User: p.Name(),
		Details: map[string]any{"alert_id": alertID, "seq": seq, "status": req.Status, "reason": req.Reason, "rule": rec.Action, "key": rec.Resource}}); err != nil {
		s.Log.Error("recording an alert status", "alert", alertID, "err", err)
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "the change could not be recorded; nothing changed: retry")
		return
	}
	httpjson.Write(w, http.StatusOK, AlertStatusResponse{Alert: alertID, Status: req.Status, By: p.Name()})
}
