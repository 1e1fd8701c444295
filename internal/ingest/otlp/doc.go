// Package otlp receives OpenTelemetry logs over OTLP/HTTP (POST /v1/logs):
// from the OpenTelemetry Collector's otlphttp exporter, the SDKs' OTLP log
// exporters, or any sender of ExportLogsServiceRequest messages.
//
// # What is stored
//
// Each log record of a request is rendered as one JSON document (Render;
// internal/logdoc/FORMAT.md, "OTLP log records as documents") and handed
// to ingest.Router.Document with the source bound to the sender's token:
//
//   - a body holding a Kubernetes audit event as a JSON string (e.g. the
//     Collector's filelog receiver reading the API server's audit log)
//     becomes a KubeAuditLogs record, classified like the webhook's;
//   - a record from an application listed in Handler.AppServices (by its
//     resource's service.name) whose body is a map, or a string holding a
//     JSON object, is that application's card-data access record
//     (internal/appaccess): the body itself is the document, routed with
//     Hint.App set to the service name, and becomes an AppAccess record.
//     Records of such an application whose body is anything else (a plain
//     line) are rendered and stored like any other;
//   - everything else becomes a ContainerLog record whose Raw is the
//     rendered document (pod, namespace, container and node from the
//     k8s.* resource attributes).
//
// All records of a request go to the ledger in one ingest.Pipeline.Store
// (card data masked, redeliveries of audit events dropped): all or
// nothing. A record the router refuses (e.g. an access record that is not
// valid JSON, a document over 1 MiB) is stored as an ingest.reject record
// in the same append and counted in the answer's partial_success.
//
// # Answers
//
// As the OTLP/HTTP specification says: a success is an
// ExportLogsServiceResponse, a failure a google.rpc.Status (message set,
// code the matching google.rpc.Code; a 400 adds a google.rpc.BadRequest
// detail), each encoded as the request was (Content-Type
// application/x-protobuf or application/json).
//
//	200  every log record is stored, or was refused and recorded: then
//	     partial_success holds rejected_log_records and an error_message
//	     naming the first three (resourceLogs[i].scopeLogs[j].logRecords[k]:
//	     reason). Do not retry.
//	400  the body is not an ExportLogsServiceRequest in the declared
//	     encoding, or its gzip is corrupt. The request is recorded as one
//	     ingest.reject (reason and an excerpt) before the answer. Do not
//	     retry.
//	403  the token is not an ingest token bound to a source.
//	405  a method other than POST.
//	413  the body, as sent or decompressed, exceeds MaxRequestBytes
//	     (ingest.max_request_bytes, 12 MiB by default), or it holds more
//	     than MaxRecords log records (100,000 by default), or its rendered
//	     documents would exceed 8 × MaxRequestBytes (every document
//	     repeats its resource). Nothing is stored. Send smaller batches.
//	415  a Content-Type other than application/x-protobuf and
//	     application/json (answered as JSON), or a Content-Encoding other
//	     than gzip or identity.
//	429  the ledger pushed back (ledger.ErrPushback): Retry-After says when
//	     to retry (RetryAfter, one second by default). Nothing was stored.
//	503  the records could not be stored for another reason (Retry-After:
//	     5), or the request was cancelled. Nothing was stored; retry.
//
// 429 and 503 are among the codes OTLP clients retry (429, 502, 503, 504);
// a retry after a 429 or 503 stores the request once, since nothing of the
// refused attempt was stored.
package otlp
