package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/azure"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// Azure receives the exports of Azure Monitor diagnostic settings
// (internal/azure/FORMAT.md): an Event Hubs message {"records":[…]}, or the
// JSON lines of a storage-account blob (PT1H.json). kube-audit and
// kube-audit-admin records become KubeAuditLogs records through the
// Kubernetes audit classifier; Activity Log records AzureActivity,
// sign-ins SigninLogs, other AKS categories AKSControlPlane. A record that
// cannot be decoded — malformed, or of a category cdewatch does not read
// (Entra AuditLogs, a storage account's StorageRead, …) — is stored as an
// ingest.reject record with the reason and an excerpt and counted in the
// answer: narrow the diagnostic setting to the categories cdewatch reads
// rather than let them pile up there.
type Azure struct {
	Store           Storer
	Classifier      *k8saudit.Classifier
	Limits          azure.Limits
	MaxRequestBytes int64
	Now             func() time.Time
	Log             *slog.Logger
}

// AzureResult is the answer of POST /v1/ingest/azure.
type AzureResult struct {
	Result
	// Errors describes the rejected records, at most 100.
	Errors []string `json:"errors,omitempty"`
}

// Records turns decoded export records of source into ledger records.
func (a *Azure) Records(source string, received time.Time, recs []azure.Record) []event.Record {
	out := make([]event.Record, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.Kind == azure.KindAudit && r.Audit != nil {
			out = append(out, *a.Classifier.Normalize(&r.Audit.Item, source, received))
			continue
		}
		if ev, ok := r.Event(); ok {
			out = append(out, ev)
		}
	}
	return out
}

// Reject turns a decoding error into a Reject.
func AzureReject(e *azure.Error) Reject {
	i := e.Index
	if e.Line > 0 {
		i = e.Line
	}
	return Reject{Index: i, Reason: e.Error(), Raw: e.Raw}
}

// Decode reads a body: one JSON document (an Event Hubs message, or a
// single record) or JSON lines (a blob).
func (a *Azure) Decode(body []byte) (recs []azure.Record, bad []*azure.Error, err error) {
	trimmed := bytes.TrimSpace(body)
	if json.Valid(trimmed) && bytes.HasPrefix(trimmed, []byte("{")) {
		recs, bad, err = azure.DecodeBody(trimmed, a.Limits)
		if !errors.Is(err, azure.ErrSingleRecord) {
			return recs, bad, err
		}
		rec, err := azure.DecodeRecord(trimmed, a.Limits)
		var ae *azure.Error
		if errors.As(err, &ae) {
			return nil, []*azure.Error{ae}, nil
		}
		return []azure.Record{rec}, nil, err
	}
	err = azure.DecodeLines(bytes.NewReader(body), a.Limits,
		func(r azure.Record) error { recs = append(recs, r); return nil },
		func(e *azure.Error) error { bad = append(bad, e); return nil })
	return recs, bad, err
}

func (a *Azure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok || p.Role != auth.RoleIngest || p.Source == "" {
		httpjson.Error(w, http.StatusForbidden, "ingest needs a token bound to a source: create one with `cdewatch token create --source <subscription or cluster>`")
		return
	}
	body, status, err := ReadBody(w, r, a.MaxRequestBytes)
	if err != nil {
		httpjson.Error(w, status, err.Error())
		return
	}
	recs, bad, err := a.Decode(body)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("not an Azure diagnostic export: %v", err))
		return
	}
	b := &Batch{Source: p.Source, Via: "azure/http", Records: a.Records(p.Source, a.Now().UTC(), recs)}
	var res AzureResult
	for _, e := range bad {
		b.Rejects = append(b.Rejects, AzureReject(e))
		if len(res.Errors) < 100 {
			res.Errors = append(res.Errors, e.Error())
		}
	}
	stored, err := a.Store.Store(r.Context(), b)
	if err != nil {
		WriteStoreError(w, a.Log, err)
		return
	}
	res.Result = stored
	httpjson.Write(w, http.StatusOK, res)
}
