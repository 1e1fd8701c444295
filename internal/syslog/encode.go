package syslog

import (
	"strconv"
	"strings"
	"time"
)

// AppendRFC5424 appends m, encoded as an RFC 5424 message without framing,
// to b and returns the extended buffer. Empty fields are written as the
// NILVALUE; header fields are cut to the lengths RFC 5424 allows and bytes
// outside printable US-ASCII in them are written as '?' (a parsed
// Message never has either); SD-PARAM values are escaped; MSG starts with
// the UTF-8 BOM when m.BOM is set or Message starts with U+FEFF (which
// would otherwise be taken for one). A timestamp outside years 0-9999 is
// written as the NILVALUE. Parsing the result gives m back, whatever the
// format m was parsed from, except for Format, Version, NoPRI and BOM.
func (m *Message) AppendRFC5424(b []byte) []byte {
	f, s := int(m.Facility), int(m.Severity)&7
	if f > 23 {
		f = 23
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(f*8+s), 10)
	b = append(b, ">1 "...)
	b = appendTimestamp(b, m.Timestamp)
	b = append(b, ' ')
	b = appendHeader(b, m.Hostname, maxHostname)
	b = append(b, ' ')
	b = appendHeader(b, m.AppName, maxAppName)
	b = append(b, ' ')
	b = appendHeader(b, m.ProcID, maxProcID)
	b = append(b, ' ')
	b = appendHeader(b, m.MsgID, maxMsgID)
	b = append(b, ' ')
	if len(m.StructuredData) == 0 {
		b = append(b, '-')
	}
	for _, e := range m.StructuredData {
		b = append(b, '[')
		b = appendSDName(b, e.ID)
		for _, p := range e.Params {
			b = append(b, ' ')
			b = appendSDName(b, p.Name)
			b = append(b, '=', '"')
			for i := 0; i < len(p.Value); i++ {
				if c := p.Value[i]; c == '"' || c == '\\' || c == ']' {
					b = append(b, '\\')
				}
				b = append(b, p.Value[i])
			}
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if m.Message != "" || m.BOM {
		b = append(b, ' ')
		if m.BOM || strings.HasPrefix(m.Message, "\uFEFF") {
			b = append(b, bom...)
		}
		b = append(b, m.Message...)
	}
	return b
}

func appendTimestamp(b []byte, t time.Time) []byte {
	if t.IsZero() || t.Year() < 0 || t.Year() > 9999 {
		return append(b, '-')
	}
	if _, off := t.Zone(); off%60 != 0 {
		t = t.UTC()
	}
	return t.AppendFormat(b, "2006-01-02T15:04:05.999999999Z07:00")
}

func appendHeader(b []byte, s string, limit int) []byte {
	if s == "" {
		return append(b, '-')
	}
	if len(s) > limit {
		s = s[:limit]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '?'
		}
		b = append(b, c)
	}
	return b
}

func appendSDName(b []byte, s string) []byte {
	if s == "" {
		return append(b, '_')
	}
	if len(s) > maxSDName {
		s = s[:maxSDName]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}
