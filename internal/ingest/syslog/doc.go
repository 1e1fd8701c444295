// Package syslog receives syslog messages over UDP (RFC 5426), TCP (RFC
// 6587) and TLS (RFC 5425) and stores them, through the shared ingest
// pipeline, as records of the Syslog table.
//
// # Listeners and sources
//
// A Server serves one Listener. Every message it receives is stored under
// a source: the Listener's Source or, on a TLS listener with client
// certificate authentication, the source its ClientSources map gives the
// client certificate's CommonName or DNS SAN. A client whose certificate
// maps to no source is refused.
//
// # Framing
//
// UDP carries one message per datagram. On TCP and TLS the framing is
// detected frame by frame (RFC 6587 §3.4): a frame starting with a digit
// 1-9 is octet-counted ("MSG-LEN SP MSG", the only framing of RFC 5425),
// anything else ends at LF (non-transparent framing, rsyslog's and
// logger's default over plain TCP; accepted over TLS too). So a sender
// must not use LF framing for messages that start with a digit (RFC 3164
// without PRI). A message longer than Listener.MaxMessageBytes is stored
// as a reject with an excerpt and the rest of its frame skipped (to the
// next LF for LF framing).
//
// # Records
//
// Each message becomes an event.Record of table Syslog: Raw is the message
// exactly as received (after framing), Time its timestamp (zero if none),
// OriginIP the sender's address, Resource the message's hostname (the
// sender's address if it has none), Action "<facility>.<severity>
// <app-name>" (e.g. "authpriv.info sshd"), Outcome unknown and User empty:
// syslog has no standard field for either, and guessing them from free
// text would put unreliable values into evidence. A message that does not
// parse (internal/syslog) is stored as an ingest reject with the parser's
// reason, never dropped silently.
//
// # Batching and backpressure
//
// Messages are stored in batches of up to Options.MaxBatchMessages
// messages or MaxBatchBytes bytes, a message waiting at most
// MaxBatchDelay. Each TCP or TLS connection has its own batches, stored in
// order by one goroutine while the connection's reader fills the next one.
// When the store refuses a batch (ledger.ErrPushback, or any other error)
// it is retried with exponential backoff, with the same messages, until it
// is stored or the server shuts down; meanwhile the reader stops reading,
// TCP flow control fills the sender's window and the sender blocks or
// buffers. Nothing is dropped.
//
// UDP has no flow control: there is no way to make a UDP sender wait. A
// refused UDP batch is retried for at most Options.UDPRetryFor; when
// batches arrive faster than they can be stored, at most Options.UDPQueue
// wait. Messages given up on either way are counted (Stats.Lost, the
// cdewatch_syslog_lost_messages_total metric) and logged — never silently
// dropped. Datagrams the kernel drops when the socket buffer overflows
// are not seen by the server (see RcvbufErrors in /proc/net/snmp). Use
// TCP or TLS where losing messages matters (PCI DSS 10.3, 10.5).
//
// # Shutdown
//
// When the context given to Serve is cancelled or Close is called, the
// server stops accepting, stops reading, stores the batches it holds
// (retrying for at most Options.ShutdownTimeout) and returns. Syslog over
// TCP has no application-level acknowledgement (RFC 6587): what a sender
// wrote but the server had not read when it stopped — and bytes of an
// incomplete frame — are lost with the connection and cannot be counted;
// they are logged when known.
package syslog
