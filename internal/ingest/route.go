package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"

	"github.com/cdewatch/cdewatch/internal/appaccess"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/k8saudit"
	"github.com/cdewatch/cdewatch/internal/logdoc"
)

// Router decides what a JSON document sent through a generic channel (an
// Elasticsearch bulk item, an OTLP log record, a Kafka message, a line of
// JSON) is, and turns it into records of the right table:
//
//  1. a Kubernetes audit event (apiVersion audit.k8s.io/…, kind Event), as
//     sent or wrapped by a shipper as the JSON string of its "log",
//     "message" or "body" member → KubeAuditLogs, classified like the
//     webhook's events;
//  2. an application's card-data access record (a "user_id" member, or
//     three of the other fields the guide requires — timestamp, action,
//     resource, result, source_ip —, or any object when the channel is
//     declared to carry one application's access log, Hint.App) →
//     AppAccess;
//  3. anything else → ContainerLog, the document kept as sent, its columns
//     found by logdoc.Extract.
//
// Azure diagnostic exports have their own channel (POST /v1/ingest/azure
// and the Kafka consumer configured for them).
type Router struct {
	Classifier *k8saudit.Classifier
	Limits     k8saudit.Limits
}

// Hint is what the channel knows about a document.
type Hint struct {
	// App, when set, declares the documents access records of this
	// application (e.g. the Elasticsearch index "app-checkout", the OTLP
	// service.name of an application registered as such).
	App string
}

// MaxDocumentBytes bounds one document.
const MaxDocumentBytes = 1 << 20

// Document turns one document of source into records (Received is set by
// the pipeline; received is only used for the audit classifier's time
// fallback). The records' Raw may alias doc. An error means the document
// is not a JSON object or is too large: make it a Reject.
func (rt *Router) Document(doc []byte, source string, received time.Time, h Hint) (event.Record, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) > MaxDocumentBytes {
		return event.Record{}, fmt.Errorf("document of %d bytes is over the limit of %d", len(doc), MaxDocumentBytes)
	}
	if len(doc) == 0 || doc[0] != '{' {
		return event.Record{}, errors.New("not a JSON object")
	}
	if bytes.Contains(doc, []byte("audit.k8s.io")) {
		if it, err := k8saudit.DecodeLine(doc, rt.Limits); err == nil {
			return *rt.Classifier.Normalize(&it, source, received), nil
		}
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return event.Record{}, fmt.Errorf("malformed JSON: %w", err)
	}
	for _, k := range []string{"log", "message", "body"} {
		if s, ok := m[k].(string); ok && len(s) > 0 && s[0] == '{' && bytes.Contains([]byte(s), []byte("audit.k8s.io")) {
			if it, err := k8saudit.DecodeLine([]byte(s), rt.Limits); err == nil {
				return *rt.Classifier.Normalize(&it, source, received), nil
			}
		}
	}
	if h.App != "" || looksLikeAccess(m) {
		a, err := appaccess.Decode(doc)
		if err != nil {
			return event.Record{}, err
		}
		app := h.App
		if app == "" {
			app = source
		}
		return a.Record(app, doc)
	}
	return ContainerRecord(logdoc.FromMap(m), doc), nil
}

// looksLikeAccess tells an access record (internal/appaccess) by its
// fields.
func looksLikeAccess(m map[string]any) bool {
	if _, ok := m["user_id"]; ok {
		return true
	}
	n := 0
	for _, k := range []string{"timestamp", "action", "resource", "result", "source_ip"} {
		if _, ok := m[k]; ok {
			n++
		}
	}
	return n >= 3
}

// ContainerRecord is the ContainerLog record of a shipped document: the
// document is Raw, the pod its resource, the node its origin.
func ContainerRecord(c logdoc.Container, doc []byte) event.Record {
	res := c.PodName
	if c.PodNamespace != "" {
		res = c.PodNamespace + "/pods/" + c.PodName
		if c.ContainerName != "" {
			res += "/" + c.ContainerName
		}
	}
	action := "log"
	if c.Stream != "" {
		action = "log " + c.Stream
	}
	return event.Record{
		Table: event.TableContainerLog, Time: c.Time, Action: action, Outcome: event.Unknown,
		OriginIP: "", Resource: res, Raw: doc,
	}
}
