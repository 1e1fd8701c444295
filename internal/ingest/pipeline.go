package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// Batch is what a receiver hands to Pipeline.Store: the records it decoded
// from one delivery of one source, and what it could not decode.
type Batch struct {
	// Source is the source bound to the sender's credential (token or
	// client certificate); Store sets it on every record.
	Source string
	// Via names the receiver and, where useful, the path or peer, e.g.
	// "syslog/tcp", "esbulk", "otlp", "azure/http", "kafka:topic/3", a file
	// path. It appears in findings and rejects.
	Via string
	// Records are the decoded records. Store sets Source and Received,
	// scrubs Raw and the text fields in place (so the caller must own
	// Raw's bytes until Store returns) and does not retain them.
	Records []event.Record
	// Rejects are inputs the receiver could not decode. Each is stored as
	// an ingest.reject record (reason, size and an excerpt) in the same
	// append, so nothing vanishes silently.
	Rejects []Reject
}

// Reject is one input a receiver could not decode.
type Reject struct {
	Index  int    // position in the delivery (item, line, message), -1 if none
	Reason string // what is wrong, e.g. "line 3: not RFC 5424: no VERSION"
	Raw    []byte // the input; only an excerpt (scrubbed) is kept
}

// Pipeline is the part every receiver shares: it scrubs card data out of
// the records, drops redeliveries, frames rejects and findings, appends
// the whole delivery as one ledger append and counts per source.
type Pipeline struct {
	Ledger Appender
	// Scrubber masks PANs and track data in Raw and in every text field of
	// every record (PCI DSS 3.3.1, 3.5.1), and in reject excerpts. Each
	// delivery where it masked something adds one scrub.pan finding to the
	// append. nil stores records as sent.
	Scrubber *scrub.Scrubber
	// Dedup skips records whose (source, Key) was stored within its window;
	// records with an empty Key are always stored. nil: no deduplication.
	Dedup *Dedup
	// Stats counts per source; nil: not counted.
	Stats *Stats
	Now   func() time.Time
	Log   *slog.Logger

	// bufs holds the buffers deliveries are encoded into (*[]byte), reused
	// once the ledger has them (Appender does not retain records), so that
	// each delivery does not allocate and clear a new one.
	bufs sync.Pool
}

// maxPooledBuf is the largest encoding buffer kept for reuse.
const maxPooledBuf = 16 << 20

// Store durably stores a delivery, all or nothing: when it returns nil
// every fresh record, reject and finding is in the ledger. An error
// wrapping ledger.ErrPushback means "retry later" (answer 429/503, or stop
// reading); on any error nothing of the batch was acknowledged.
func (p *Pipeline) Store(ctx context.Context, b *Batch) (Result, error) {
	now := p.Now().UTC()
	var hits []scrub.Hit
	var finds findings
	for i := range b.Records {
		r := &b.Records[i]
		r.Source, r.Received = b.Source, now
		if p.Scrubber != nil {
			finds.scrubRecord(p.Scrubber, r)
		}
	}
	var keys []string
	var claims *Claims
	fresh := func(int) bool { return true }
	if p.Dedup != nil {
		keys = make([]string, len(b.Records))
		for i := range b.Records {
			keys[i] = b.Records[i].Key
		}
		claims = p.Dedup.Claim(b.Source, keys)
		fresh = func(i int) bool { return claims.Fresh[i] }
	}
	done := func(ok bool) {
		if claims != nil {
			claims.Done(ok)
		}
	}
	var res Result
	recs := make([][]byte, 0, len(b.Records)+len(b.Rejects)+1)
	size := 0
	for i := range b.Records {
		size += len(b.Records[i].Raw) + 256
	}
	bufp, _ := p.bufs.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	buf := (*bufp)[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	defer func() {
		if cap(buf) <= maxPooledBuf {
			*bufp = buf[:0]
			p.bufs.Put(bufp)
		}
	}()
	var ends []int
	var bytes int
	for i := range b.Records {
		if !fresh(i) {
			res.Duplicates++
			continue
		}
		var err error
		buf, err = b.Records[i].AppendBinary(buf)
		if err != nil {
			done(false)
			return Result{}, fmt.Errorf("encode record %d: %w", i, err)
		}
		ends = append(ends, len(buf))
		bytes += len(b.Records[i].Raw)
	}
	start := 0
	for _, end := range ends {
		recs = append(recs, buf[start:end:end])
		start = end
	}
	res.Accepted = len(recs)
	for _, rj := range b.Rejects {
		ex := excerpt(rj.Raw)
		if p.Scrubber != nil {
			// Reasons may quote the input too.
			var h, hr []scrub.Hit
			ex, h = p.Scrubber.String(ex)
			rj.Reason, hr = p.Scrubber.String(rj.Reason)
			hits = append(append(hits, h...), hr...)
		}
		p.Log.Warn("rejected input", "source", b.Source, "via", b.Via, "index", rj.Index, "reason", rj.Reason)
		rec, err := event.SelfAudit{
			Action: event.ActionIngestReject, Outcome: event.Failure, Resource: b.Via,
			Details: map[string]any{"source": b.Source, "via": b.Via, "index": rj.Index, "reason": rj.Reason, "bytes": len(rj.Raw), "excerpt": ex},
		}.Record(now)
		if err != nil {
			done(false)
			return Result{}, fmt.Errorf("recording a rejected input: %w", err)
		}
		enc, _ := rec.MarshalBinary()
		recs = append(recs, enc)
	}
	res.Rejected = len(b.Rejects)
	finds.add("reject", hits)
	if finds.count > 0 {
		p.Log.Warn("card data masked: fix the source that logs it", "source", b.Source, "via", b.Via, "count", finds.count)
		rec, err := finds.selfAudit(b.Source, b.Via).Record(now)
		if err != nil {
			done(false)
			return Result{}, fmt.Errorf("recording the masked card data: %w", err)
		}
		enc, _ := rec.MarshalBinary()
		recs = append(recs, enc)
	}
	if len(recs) == 0 {
		done(true)
		p.Stats.stored(b.Source, b.Via, b.Records, fresh, res, 0, 0, now)
		return res, nil
	}
	first, err := p.Ledger.Append(ctx, recs)
	done(err == nil)
	if err != nil {
		p.Stats.failed(b.Source, b.Via, err)
		return Result{}, err
	}
	if res.Accepted > 0 {
		res.FirstSeq = first
	}
	p.Stats.stored(b.Source, b.Via, b.Records, fresh, res, bytes, finds.count, now)
	return res, nil
}

// findings gathers what the scrubber masked in one delivery.
type findings struct {
	count  int
	kinds  map[string]int
	fields map[string]int
	keys   []string // keys of the records that held card data, at most 100
}

func (f *findings) add(field string, hits []scrub.Hit) {
	if len(hits) == 0 {
		return
	}
	if f.kinds == nil {
		f.kinds, f.fields = map[string]int{}, map[string]int{}
	}
	f.count += len(hits)
	f.fields[field] += len(hits)
	for _, h := range hits {
		f.kinds[h.Kind.String()]++
	}
}

// scrubRecord masks card data in r's raw bytes (in place: masking keeps
// the length, and JSON stays valid) and text fields. Hits in a JSON Raw
// are named by the member path that holds them, e.g. "raw:requestObject.data.note".
func (f *findings) scrubRecord(s *scrub.Scrubber, r *event.Record) {
	n := f.count
	var hits []scrub.Hit
	r.Raw, hits = s.Bytes(r.Raw[:0], r.Raw)
	for _, h := range hits {
		f.add("raw"+pathSuffix(JSONPathAt(r.Raw, h.Offset)), []scrub.Hit{h})
	}
	for _, fld := range []struct {
		name string
		v    *string
	}{{"user", &r.User}, {"action", &r.Action}, {"resource", &r.Resource}, {"user_agent", &r.UserAgent}, {"origin", &r.OriginIP}, {"key", &r.Key}} {
		if !enoughDigits(*fld.v) {
			continue
		}
		var h []scrub.Hit
		*fld.v, h = s.String(*fld.v)
		f.add(fld.name, h)
	}
	if f.count > n && r.Key != "" && len(f.keys) < 100 {
		f.keys = append(f.keys, r.Key)
	}
}

// enoughDigits reports whether s has the 13 digits the shortest card
// number has (track data has more): fields without them need no scan.
func enoughDigits(s string) bool {
	if len(s) < 13 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i]-'0' < 10 {
			if n++; n == 13 {
				return true
			}
		}
	}
	return false
}

func pathSuffix(p string) string {
	if p == "" {
		return ""
	}
	return ":" + p
}

// selfAudit describes the findings as a scrub.pan record: source, via,
// count, kinds, fields and the keys of the records concerned — never the
// numbers themselves.
func (f *findings) selfAudit(source, via string) event.SelfAudit {
	return event.SelfAudit{
		Action: event.ActionPANMasked, Outcome: event.Failure, Resource: via,
		Details: map[string]any{"source": source, "via": via, "count": f.count, "kinds": f.kinds, "fields": f.fields, "events": f.keys},
	}
}
