// Package syslog parses one syslog message: RFC 5424 (the syslog protocol)
// or RFC 3164 (BSD syslog, as logger, rsyslog and most network devices send
// it), detected from the message itself. FORMAT.md says what is accepted and
// how each part of a message maps to the fields of Message.
//
// The package is pure: it does no I/O, keeps no state and is safe for
// concurrent use. Framing (UDP datagrams, RFC 6587 octet counting or LF
// delimiting) is the receiver's job; Parse takes one message without its
// frame.
package syslog

import (
	"fmt"
	"time"
)

// Format is the syslog format a message was parsed as.
type Format uint8

// The formats Parse recognizes.
const (
	RFC5424 Format = 1 + iota // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]
	RFC3164                   // <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG, and the variants FORMAT.md lists
)

// String returns "RFC5424" or "RFC3164".
func (f Format) String() string {
	switch f {
	case RFC5424:
		return "RFC5424"
	case RFC3164:
		return "RFC3164"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Facility is the facility part of a message's PRI, 0 to 23.
type Facility uint8

// The facilities, numbered as in RFC 5424 §6.2.1.
const (
	Kern        Facility = iota // kernel messages
	User                        // user-level messages
	Mail                        // mail system
	Daemon                      // system daemons
	Auth                        // security/authorization messages
	Syslog                      // messages generated internally by syslogd
	LPR                         // line printer subsystem
	News                        // network news subsystem
	UUCP                        // UUCP subsystem
	Cron                        // clock daemon
	AuthPriv                    // security/authorization messages (private)
	FTP                         // FTP daemon
	NTP                         // NTP subsystem
	Security                    // log audit
	Console                     // log alert
	SolarisCron                 // clock daemon (note 2)
	Local0                      // local use 0 … 7
	Local1
	Local2
	Local3
	Local4
	Local5
	Local6
	Local7
)

var facilityNames = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// String returns the facility's name as syslog.conf and rsyslog spell it:
// kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv,
// ftp, ntp, security, console, solaris-cron, local0 … local7.
func (f Facility) String() string {
	if int(f) < len(facilityNames) {
		return facilityNames[f]
	}
	return fmt.Sprintf("facility%d", uint8(f))
}

// ParseFacility returns the facility named name (as String spells it).
func ParseFacility(name string) (Facility, bool) {
	for i, n := range facilityNames {
		if n == name {
			return Facility(i), true
		}
	}
	return 0, false
}

// Severity is the severity part of a message's PRI, 0 (emergency) to 7
// (debug).
type Severity uint8

// The severities, numbered as in RFC 5424 §6.2.1.
const (
	Emerg   Severity = iota // system is unusable
	Alert                   // action must be taken immediately
	Crit                    // critical conditions
	Err                     // error conditions
	Warning                 // warning conditions
	Notice                  // normal but significant condition
	Info                    // informational messages
	Debug                   // debug-level messages
)

var severityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// String returns the severity's name: emerg, alert, crit, err, warning,
// notice, info or debug.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity%d", uint8(s))
}

// ParseSeverity returns the severity named name (as String spells it).
func ParseSeverity(name string) (Severity, bool) {
	for i, n := range severityNames {
		if n == name {
			return Severity(i), true
		}
	}
	return 0, false
}

// DefaultPRI is the priority RFC 3164 §4.3.3 tells a relay to assume for
// a message without one: facility user, severity notice.
const DefaultPRI = 13

// Message is one parsed syslog message. Every string field is valid UTF-8;
// absent values and the NILVALUE "-" are "".
type Message struct {
	Format   Format
	Facility Facility
	Severity Severity
	// NoPRI is set when the message had no PRI: Facility and Severity are
	// then user and notice (DefaultPRI), as RFC 3164 §4.3.3 says a relay
	// must assume.
	NoPRI bool
	// Version is the RFC 5424 VERSION (1); 0 for RFC 3164.
	Version int
	// Timestamp is the message's TIMESTAMP, in the zone the message gives
	// (RFC 5424, RFC 3339) or in ParseOptions.Location (RFC 3164); zero
	// if the message has none.
	Timestamp time.Time
	// Hostname is HOSTNAME (RFC 5424) or the host of an RFC 3164 header.
	Hostname string
	// AppName is APP-NAME (RFC 5424) or the TAG of an RFC 3164 message
	// without its [PID].
	AppName string
	// ProcID is PROCID (RFC 5424) or the PID of an RFC 3164 TAG[PID].
	ProcID string
	// MsgID is MSGID (RFC 5424 only).
	MsgID string
	// StructuredData are the SD-ELEMENTs in message order (RFC 5424 only).
	StructuredData []SDElement
	// Message is MSG (RFC 5424) or CONTENT (RFC 3164) without a leading
	// UTF-8 BOM and without trailing CR, LF and NUL bytes; invalid UTF-8
	// sequences are replaced by U+FFFD.
	Message string
	// BOM reports that MSG started with the UTF-8 byte order mark, which
	// RFC 5424 uses to announce UTF-8 text.
	BOM bool
}

// Priority returns the PRI value: Facility × 8 + Severity.
func (m *Message) Priority() int { return int(m.Facility)*8 + int(m.Severity) }

// SDElement is one RFC 5424 SD-ELEMENT: an SD-ID and its parameters in
// message order.
type SDElement struct {
	ID     string    `json:"id"`
	Params []SDParam `json:"params"`
}

// SDParam is one SD-PARAM, its value unescaped.
type SDParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Param returns the value of the first parameter named name of the first
// element with ID id.
func (m *Message) Param(id, name string) (string, bool) {
	for _, e := range m.StructuredData {
		if e.ID != id {
			continue
		}
		for _, p := range e.Params {
			if p.Name == name {
				return p.Value, true
			}
		}
		return "", false
	}
	return "", false
}

// ParseError reports a message that cannot be parsed: where and why.
type ParseError struct {
	Offset int    // byte offset in the message where the problem is
	Reason string // what is wrong, starting with the part, e.g. "PRI: missing '>'"
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("syslog: byte %d: %s", e.Offset, e.Reason)
}

func perr(off int, format string, args ...any) *ParseError {
	return &ParseError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}
