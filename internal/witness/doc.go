// Package witness publishes the ledger's signed checkpoints off the node,
// so that rewriting the ledger's history on the node is detectable
// (PCI DSS 10.3.3, 10.3.4).
//
// Two publications are made of each checkpoint the ledger signs:
//
//   - to C2SP transparency-log witnesses (c2sp.org/tlog-witness): a
//     witness cosigns a checkpoint only if it extends, by a Merkle
//     consistency proof, every checkpoint of the same log it cosigned
//     before. A history rewritten on the node, even re-signed with the
//     ledger's own key, is refused by every witness that saw the old one;
//   - to a SIEM through a PublishFunc (syslog), as the checkpoint note with
//     the witnesses' cosignatures attached, which an auditor later passes to
//     `cdewatch verify --against`.
//
// Client speaks the witness protocol with one witness; Publisher runs the
// rounds: every Interval, for every configured witness, with retries, a
// report per witness per round (PCI DSS 10.7.2) and a state directory that
// survives restarts. The wire and on-disk formats are in FORMAT.md.
package witness
