// Package k8saudit decodes Kubernetes audit events (audit.k8s.io/v1 and
// v1beta1) and turns them into cdewatch's normalized records.
//
// Decode takes the body kube-apiserver's webhook backend POSTs (an EventList
// of up to --audit-webhook-batch-max-size events, 400 by default) and
// DecodeLine a line of the log backend's file, which holds one Event per
// line. Both validate every event before returning any, keep each event's
// original bytes as evidence and never decode a byte more than needed: one
// pass over the body finds and decodes the items of a list (when its kind and
// apiVersion come first, as kube-apiserver writes them), checking them as it
// goes, and the fields cdewatch does not use are only checked.
//
// A Classifier then builds the event.Record of each item: the six PCI DSS
// 10.2.2 details and the 10.2.1.x classes the event evidences (see
// Classifier.Normalize for the rules).
//
// The webhook backend retries whole batches, and one request yields an event
// per stage (RequestReceived, ResponseStarted for long-running requests,
// ResponseComplete or Panic), so the same request appears in several events
// and the same event may arrive more than once: Event.Key, "auditID/stage",
// identifies an event for redelivery detection.
package k8saudit
