// Package kafka consumes log records from Kafka, and from Azure Event Hubs
// through its Kafka endpoint (AKS diagnostic exports: each event is a JSON
// body {"records":[…]}), and hands them to a Handler that stores them in the
// cdewatch ledger. Offsets are committed only after the Handler reported the
// records durable.
//
// # Configuration
//
// Plain Kafka:
//
//	kafka.Config{
//		Brokers: []string{"kafka-0:9093"},
//		Topics:  []string{"k8s-audit"},
//		Group:   "cdewatch",
//		Source:  "aks-prod-audit",            // every record is bound to this source
//		TLS:     true, CAFile: "/etc/cdewatch/kafka-ca.pem", // or TLSConfig
//		SASL:    kafka.SASL{Mechanism: "SCRAM-SHA-512", User: "cdewatch", Password: pw},
//	}
//
// Event Hubs (namespace with the Kafka endpoint, Standard tier or higher):
//
//	kafka.Config{
//		EventHubsConnectionString: cs, // Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=<hub>]
//		Topics: []string{"insights-logs-kube-audit"}, // the event hub; may be left empty if the string has EntityPath
//		Group:  "$Default",                          // the Event Hubs consumer group
//		Source: "aks-prod-audit",
//	}
//
// The connection string implies the broker <ns>.servicebus.windows.net:9093,
// TLS (system roots, TLS 1.2 or later; TLSConfig may replace it) and SASL
// PLAIN with the user "$ConnectionString" and the whole connection string as
// the password; Brokers and SASL must then be empty. Config.Validate checks
// the string (Endpoint=sb://host, SharedAccessKeyName and SharedAccessKey, or
// SharedAccessSignature; EntityPath consistent with Topics) and names what is
// wrong without ever echoing the key. Config's String, GoString and LogValue
// redact the connection string and the SASL password; the package logs
// neither.
//
// Other settings: MaxPollRecords (records per Handler call, default 5000),
// MinBackoff/MaxBackoff (Handler retry wait, 100 ms doubling to 10 s),
// CommitTimeout (10 s), SessionTimeout/RebalanceTimeout (franz-go defaults
// 45 s/60 s), ClientID ("cdewatch"), Logger (log/slog). A group without a
// committed offset starts at the oldest retained record, never at the end.
//
// # Delivery semantics: at least once
//
// The consumer uses one franz-go client per Run, a consumer group with
// automatic commits disabled and BlockRebalanceOnPoll, and loops:
//
//  1. PollRecords (at most MaxPollRecords records, in partition order);
//  2. call the Handler with those records until it returns nil;
//  3. commit, for each partition, the offset after the last record handed
//     over (CommitOffsetsSync) — never an offset the Handler has not
//     acknowledged;
//  4. AllowRebalance.
//
// Commit after durable append: the Handler must return nil only once every
// record is fsynced in the ledger (ledger.Append returns after the fsync). A
// record is therefore committed only if it is durable, and a record that is
// not durable is delivered again. A failed commit is logged and retried with
// the next batch, on revocation and on shutdown; it never re-delivers within
// the run.
//
// Pushback: a Handler error wrapping ledger.ErrPushback (the ledger has too
// much queued) is retried with the same records after a backoff (MinBackoff,
// doubling up to MaxBackoff). No further poll happens meanwhile, so fetching
// is paused (franz-go buffers at most one fetch per broker), nothing is
// skipped and nothing is committed. Other Handler errors are treated the same
// way, logged at error level: the consumer assumes they are transient. A
// record that can never be decoded must not be returned as an error — the
// Handler stores it as a reject — or it would block its partition forever.
//
// Rebalance: with BlockRebalanceOnPoll the group cannot rebalance between a
// poll and AllowRebalance, so offsets are only ever committed for partitions
// this member owns. If a rebalance is waiting while the Handler is being
// retried (franz-go signals it through OnPartitionsCallbackBlocked), the
// consumer gives the unstored batch back: it resets the fetch positions to
// the batch's first offsets (SetOffsets) and allows the rebalance, instead of
// holding it until the broker evicts the member. Partitions it keeps are
// fetched again from those offsets; revoked ones are taken over by another
// member from the committed offset. On revocation (OnPartitionsRevoked) the
// consumer commits whatever it stored for the revoked partitions and forgets
// them. On loss (OnPartitionsLost: session expired, member evicted) it
// cannot commit; records stored and not committed are delivered again to the
// new owner (duplicates, counted in the log line).
//
// Shutdown: cancelling Run's context stops the loop. A Handler call in
// progress sees its context cancelled (ledger.Append still completes if the
// records were already queued, else stores nothing and returns the context
// error); if it returns nil its offsets are committed with a fresh deadline
// (CommitTimeout), otherwise they are not committed. Then the client leaves the group, which
// commits anything still uncommitted in OnPartitionsRevoked. After a clean
// stop nothing is delivered twice.
//
// Crash: if the process dies after the Handler stored a batch and before its
// commit, the next owner of those partitions (this process restarted, or
// another member) starts at the last committed offset and stores those
// records again. Duplicates are bounded by one batch per partition (plus any
// batches whose commits had failed) and are counted (Stats.Stored minus
// Stats.Committed before the crash). cdewatch deduplicates downstream by key
// where records have one (Kubernetes audit events carry auditID); the ledger
// itself keeps both copies, as an append-only ledger must.
//
// Failures franz-go retries silently (unreachable brokers, TLS failures, a
// broker closing the connection on bad credentials) are surfaced by a
// connectivity probe (Ping) that logs an error until a broker answers. An
// explicit SASL_AUTHENTICATION_FAILED or an authorization error makes Run
// return that error.
//
// # Observability
//
// Stats returns counters (polls, consumed, stored, committed, handler
// errors, pushbacks, commit errors, rewinds, revoked and lost partitions)
// and, per owned partition, the high watermark of the last fetch, the stored
// and committed offsets and the lag. Lag returns that lag per
// "topic/partition" without I/O; GroupLag asks the brokers (kadm: end offsets
// minus the group's committed offsets).
package kafka
