package index

import (
	"github.com/cdewatch/cdewatch/internal/jsonscan"
	"strconv"

	"github.com/cdewatch/cdewatch/internal/syslog"
)

// syslogRow is a Syslog record's message, parsed once per row.
type syslogRow struct {
	m  syslog.Message
	ok bool // Raw parsed; false leaves the columns from the message empty
}

// prepareSyslog parses r.rec.Raw, the message as received (with card
// numbers masked, which keeps it parsable), as the receiver did
// (internal/ingest/syslog). The receiver's ParseOptions are not in the
// record, so the event time comes from the record (see EventTime) and the
// parse only says whether the message had one.
func prepareSyslog(r *row) {
	m, err := syslog.ParseOptions{Now: r.rec.Received}.Parse(r.rec.Raw)
	r.sys = syslogRow{m: m, ok: err == nil}
}

// eventTime is the record's event time, NULL when the message had no
// TIMESTAMP.
func (s *syslogRow) eventTime(r *row) cell {
	if !s.ok || s.m.Timestamp.IsZero() {
		return cell{}
	}
	return timestamp(r.rec.Time)
}

// processID is PROCID as a number, 0 if none or not a number.
func (s *syslogRow) processID() cell {
	n, err := strconv.ParseInt(s.m.ProcID, 10, 32)
	if err != nil || n < 0 {
		return integer(int32(0))
	}
	return integer(int32(n))
}

// structuredData renders the SD-ELEMENTs as a JSON object: SD-ID →
// {PARAM-NAME: value}, in message order; of a repeated SD-ID or
// PARAM-NAME the first is kept (the whole message is in Raw). NULL when
// there is none.
func (s *syslogRow) structuredData() cell {
	if !s.ok || len(s.m.StructuredData) == 0 {
		return cell{}
	}
	b := []byte{'{'}
	seen := map[string]bool{}
	for _, e := range s.m.StructuredData {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, e.ID, false)
		b = append(b, ':', '{')
		names := map[string]bool{}
		for _, p := range e.Params {
			if names[p.Name] {
				continue
			}
			if len(names) > 0 {
				b = append(b, ',')
			}
			names[p.Name] = true
			b = jsonscan.AppendString(b, p.Name, false)
			b = append(b, ':')
			b = jsonscan.AppendString(b, p.Value, false)
		}
		b = append(b, '}')
	}
	return textBytes(append(b, '}'))
}

// Syslog: syslog messages (internal/ingest/syslog).
var syslogFields = append([]field{
	{ColTimeGenerated, func(r *row) cell {
		if t := r.sys.eventTime(r); t.k != cellNull {
			return t
		}
		return timestamp(r.rec.Received)
	}},
	{"Computer", func(r *row) cell { return text(r.rec.Resource) }},
	{"HostName", func(r *row) cell { return text(r.sys.m.Hostname) }},
	{"HostIP", func(r *row) cell { return text(r.rec.OriginIP) }},
	{"Facility", func(r *row) cell {
		if !r.sys.ok {
			return text("")
		}
		return text(r.sys.m.Facility.String())
	}},
	{"SeverityLevel", func(r *row) cell {
		if !r.sys.ok {
			return text("")
		}
		return text(r.sys.m.Severity.String())
	}},
	{"SyslogMessage", func(r *row) cell {
		if !r.sys.ok {
			return text(string(r.rec.Raw))
		}
		return text(r.sys.m.Message)
	}},
	{"ProcessName", func(r *row) cell { return text(r.sys.m.AppName) }},
	{"ProcessID", func(r *row) cell { return r.sys.processID() }},
	{"EventTime", func(r *row) cell { return r.sys.eventTime(r) }},
	{"SourceSystem", func(r *row) cell { return text("Syslog") }},
	{"MsgId", func(r *row) cell { return text(r.sys.m.MsgID) }},
	{"StructuredData", func(r *row) cell { return r.sys.structuredData() }},
	{"SyslogFormat", func(r *row) cell {
		if !r.sys.ok {
			return text("")
		}
		return text(r.sys.m.Format.String())
	}},
}, commonFields...)
