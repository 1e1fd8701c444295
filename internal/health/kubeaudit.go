package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/jsonscan"
)

// Stages of a Kubernetes audit event.
const (
	stageReceived = "RequestReceived"
	stageStarted  = "ResponseStarted"
	stageComplete = "ResponseComplete"
	stagePanic    = "Panic"
)

// splitKey splits a KubeAuditLogs record's Key, "<auditID>/<stage>" (see
// k8saudit.Event.Key), into its parts; ok is false when the key is not of
// that form or names no known stage. The auditID may itself hold a "/":
// the stage is after the last.
func splitKey(key string) (auditID, stage string, ok bool) {
	i := strings.LastIndexByte(key, '/')
	if i <= 0 {
		return "", "", false
	}
	switch stage = key[i+1:]; stage {
	case stageReceived, stageStarted, stageComplete, stagePanic:
		return key[:i], stage, true
	}
	return "", "", false
}

// scanIDStage finds the auditID and stage members of an audit event's
// top-level JSON object without decoding the rest, for records stored
// without a Key. It declines (ok false) what is not an object, a member
// name or either value with an escape or a byte outside ASCII, and either
// value that is not a string; a member given twice counts as the last, as
// encoding/json takes it. The strings returned are copies.
func scanIDStage(raw []byte) (auditID, stage string, ok bool) {
	p := jsonscan.SkipSpace(raw, 0)
	if p >= len(raw) || raw[p] != '{' {
		return "", "", false
	}
	p = jsonscan.SkipSpace(raw, p+1)
	if p < len(raw) && raw[p] == '}' {
		return "", "", false
	}
	var id, st []byte
	for {
		if p >= len(raw) || raw[p] != '"' {
			return "", "", false
		}
		e := jsonscan.SkipString(raw, p)
		if e < 0 {
			return "", "", false
		}
		name := raw[p+1 : e-1]
		if !plainASCII(name) {
			return "", "", false
		}
		p = jsonscan.SkipSpace(raw, e)
		if p >= len(raw) || raw[p] != ':' {
			return "", "", false
		}
		p = jsonscan.SkipSpace(raw, p+1)
		var dst *[]byte
		switch string(name) {
		case "auditID":
			dst = &id
		case "stage":
			dst = &st
		}
		v := p
		if p = jsonscan.SkipValue(raw, p); p < 0 {
			return "", "", false
		}
		if dst != nil {
			val := raw[v:p]
			if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' || !plainASCII(val[1:len(val)-1]) {
				return "", "", false
			}
			*dst = val[1 : len(val)-1]
		}
		var more bool
		if p, more = jsonscan.Next(raw, p, '}'); !more {
			if p < 0 || id == nil || st == nil {
				return "", "", false
			}
			return string(id), string(st), true
		}
	}
}

// plainASCII reports whether b is printable ASCII without quote or
// backslash: string content that needs no unescaping.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// pendingReq is a request seen at RequestReceived, awaiting its end.
type pendingReq struct {
	id  string
	at  int64 // received, Unix ns
	seq uint64
}

// lossReport gathers the requests found lost (or evicted unchecked)
// since the last loss alert of a source.
type lossReport struct {
	Lost    uint64   `json:"lost"`
	Evicted uint64   `json:"evicted"`
	Sample  []string `json:"sample,omitempty"` // auditIDs of lost requests
	Seqs    []uint64 `json:"seqs,omitempty"`   // their RequestReceived records
	First   int64    `json:"first"`            // received time of the first lost, Unix ns
	Last    int64    `json:"last"`
}

// maxLossSeqs caps the evidence of a loss alert.
const maxLossSeqs = 100

// auditStream watches the stages of one source's Kubernetes audit events.
type auditStream struct {
	pending map[string]int64 // auditID → received time of its RequestReceived
	queue   []pendingReq     // in order of arrival; may hold requests since ended
	head    int

	received, matched, lost, evicted, unchecked uint64
	paired                                      bool  // the source logs both stages
	nextSweep                                   int64 // stream time of the next sweep, Unix ns
	report                                      lossReport
	lastAlert                                   int64
}

func newAuditStream() *auditStream { return &auditStream{pending: map[string]int64{}} }

// auditEvent watches one KubeAuditLogs record.
func (m *Monitor) auditEvent(src *source, r *event.Record, seq uint64, rcv int64, emit func(alert.Alert)) {
	id, stage, ok := splitKey(r.Key)
	if !ok {
		if r.Key != "" {
			return
		}
		if id, stage, ok = scanIDStage(r.Raw); !ok {
			return
		}
	}
	a := src.audit
	if a == nil {
		a = newAuditStream()
		src.audit = a
	}
	// Expired requests first: they free room for this one.
	if rcv >= a.nextSweep {
		m.sweepAudit(src, a, rcv, emit)
	}
	c := &m.cfg.KubeAudit
	switch stage {
	case stageReceived:
		if _, dup := a.pending[id]; dup {
			return
		}
		a.received++
		if len(a.pending) >= c.MaxPending {
			a.evictOldest()
		}
		id = strings.Clone(id) // kept: the event's strings are the detector's
		a.pending[id] = rcv
		a.queue = append(a.queue, pendingReq{id: id, at: rcv, seq: seq})
		if len(a.queue)-a.head > 2*c.MaxPending {
			a.compact()
		}
	default:
		if _, ok := a.pending[id]; ok {
			delete(a.pending, id)
			a.matched++
			if !a.paired && a.matched >= uint64(c.MinPairs) {
				a.paired = true
			}
		}
	}
}

// evictOldest drops the oldest request still pending (the pending map is
// full): it can no longer be checked, which is itself a finding.
func (a *auditStream) evictOldest() {
	for a.head < len(a.queue) {
		q := a.queue[a.head]
		a.queue[a.head] = pendingReq{}
		a.head++
		if at, ok := a.pending[q.id]; ok && at == q.at {
			delete(a.pending, q.id)
			a.evicted++
			a.report.Evicted++
			return
		}
	}
}

// compact drops the queued requests that ended.
func (a *auditStream) compact() {
	out := a.queue[:0]
	for _, q := range a.queue[a.head:] {
		if at, ok := a.pending[q.id]; ok && at == q.at {
			out = append(out, q)
		}
	}
	clear(a.queue[len(out):])
	a.queue, a.head = out, 0
}

// sweepAudit counts the requests pending for longer than the timeout at
// stream time now (Unix ns) as lost, and raises a loss alert when one is
// due.
func (m *Monitor) sweepAudit(src *source, a *auditStream, now int64, emit func(alert.Alert)) {
	c := &m.cfg.KubeAudit
	a.nextSweep = now + int64(min(c.Timeout/4, time.Minute))
	limit := now - int64(c.Timeout)
	for a.head < len(a.queue) && a.queue[a.head].at <= limit {
		q := a.queue[a.head]
		a.queue[a.head] = pendingReq{}
		a.head++
		at, ok := a.pending[q.id]
		if !ok || at != q.at {
			continue
		}
		delete(a.pending, q.id)
		if !a.paired {
			a.unchecked++
			continue
		}
		a.lost++
		rep := &a.report
		if rep.Lost == 0 {
			rep.First = q.at
		}
		rep.Lost++
		rep.Last = q.at
		if len(rep.Sample) < c.Sample {
			rep.Sample = append(rep.Sample, q.id)
		}
		if len(rep.Seqs) < maxLossSeqs {
			rep.Seqs = append(rep.Seqs, q.seq)
		}
	}
	if a.head > 1024 && 2*a.head > len(a.queue) {
		n := copy(a.queue, a.queue[a.head:])
		clear(a.queue[n:])
		a.queue, a.head = a.queue[:n], 0
	}
	rep := &a.report
	if rep.Lost+rep.Evicted == 0 || a.lastAlert != 0 && now-a.lastAlert < int64(c.ReportEvery) {
		return
	}
	a.lastAlert = now
	at := time.Unix(0, rep.Last).UTC()
	if rep.Lost == 0 {
		at = time.Unix(0, now).UTC()
	}
	summary := fmt.Sprintf("source %s: %s logged at RequestReceived had no ResponseStarted, ResponseComplete or Panic within %s",
		src.all.source, plural(rep.Lost, "request"), c.Timeout)
	if rep.Lost > 0 {
		summary += fmt.Sprintf(" (received %s to %s; auditIDs %s", time.Unix(0, rep.First).UTC().Format(time.RFC3339),
			at.Format(time.RFC3339), strings.Join(rep.Sample, ", "))
		if uint64(len(rep.Sample)) < rep.Lost {
			summary += ", …"
		}
		summary += ")"
	}
	if rep.Evicted > 0 {
		summary += fmt.Sprintf("; %s evicted unchecked (more than %d awaited their end)", plural(rep.Evicted, "pending request"), c.MaxPending)
	}
	emit(alert.Alert{Rule: RuleAuditLoss, RuleTitle: "Kubernetes audit events lost", Kind: "health", Severity: alert.High,
		PCI: []string{"10.2.1", "10.7.2"}, Source: src.all.source, Time: at, Seqs: rep.Seqs,
		Key: RuleAuditLoss + "/" + src.all.source, Summary: summary,
		Fields: map[string]string{
			"lost": fmt.Sprint(rep.Lost), "evicted": fmt.Sprint(rep.Evicted), "timeout": c.Timeout.String(),
			"audit_ids": strings.Join(rep.Sample, ","),
		}})
	a.report = lossReport{}
}

// plural returns "1 thing" or "n things".
func plural(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
