package ingest

import (
	"context"
	"fmt"
	"time"
)

// Message formats a queue consumer (Kafka, Azure Event Hubs) can be set to.
const (
	// FormatAzure: each message is an Azure diagnostic export, as a
	// diagnostic setting sends to Event Hubs ({"records":[…]}).
	FormatAzure = "azure"
	// FormatDocuments: each message is one JSON document (a Kubernetes
	// audit event, an access record, a shipper's log document), routed by
	// the Router.
	FormatDocuments = "documents"
)

// Messages stores the messages of a queue consumer through the pipeline,
// decoding each as its Format says. A message that cannot be decoded is
// stored as an ingest.reject record naming where it came from (Label), so
// a consumer never blocks on it and nothing is skipped silently.
type Messages struct {
	Store  Storer
	Format string
	Azure  *Azure  // FormatAzure
	Router *Router // FormatDocuments
	Now    func() time.Time
}

// Message is one message as Messages.Deliver takes it.
type Message struct {
	Label string // where it came from, e.g. "insights-logs-kube-audit/2@1337"
	Value []byte // its body; not modified, not retained
}

// Deliver stores msgs of source in one append and returns when they are
// durable, or the error (an error wrapping ledger.ErrPushback means retry
// the same messages later).
func (m *Messages) Deliver(ctx context.Context, source, via string, msgs []Message) error {
	received := m.Now().UTC()
	b := &Batch{Source: source, Via: via}
	for i, msg := range msgs {
		// The pipeline masks card data in place: work on a copy.
		v := append([]byte(nil), msg.Value...)
		switch m.Format {
		case FormatAzure:
			recs, bad, err := m.Azure.Decode(v)
			if err != nil {
				b.Rejects = append(b.Rejects, Reject{Index: i, Reason: fmt.Sprintf("%s: not an Azure diagnostic export: %v", msg.Label, err), Raw: v})
				continue
			}
			b.Records = append(b.Records, m.Azure.Records(source, received, recs)...)
			for _, e := range bad {
				rj := AzureReject(e)
				rj.Reason = msg.Label + ": " + rj.Reason
				b.Rejects = append(b.Rejects, rj)
			}
		case FormatDocuments:
			rec, err := m.Router.Document(v, source, received, Hint{})
			if err != nil {
				b.Rejects = append(b.Rejects, Reject{Index: i, Reason: fmt.Sprintf("%s: %v", msg.Label, err), Raw: v})
				continue
			}
			b.Records = append(b.Records, rec)
		default:
			return fmt.Errorf("message format %q: want %s or %s", m.Format, FormatAzure, FormatDocuments)
		}
	}
	_, err := m.Store.Store(ctx, b)
	return err
}
