package witness

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/syslog"
)

// Syslog publication of a checkpoint (FORMAT.md, "Syslog message").
const (
	// DefaultSDID is the SD-ID of the checkpoint's structured data element
	// when SyslogOptions.SDID is empty. 32473 is the private enterprise
	// number RFC 5612 reserves for documentation: use your organization's.
	DefaultSDID = "checkpoint@32473"
	// SyslogMsgID is the MSGID of a checkpoint message.
	SyslogMsgID = "checkpoint"
	// MaxSyslogBytes is the size RFC 5424 says every receiver should
	// accept; SyslogMessage keeps the encoded message within it.
	MaxSyslogBytes = 2048
)

// SyslogOptions fill the header of a checkpoint message.
type SyslogOptions struct {
	Hostname string // HOSTNAME; "" is the NILVALUE
	AppName  string // APP-NAME; default "cdewatch"
	SDID     string // default DefaultSDID
	// Facility and Severity default to security (13, "log audit") and
	// info.
	Facility *syslog.Facility
	Severity *syslog.Severity
}

// SyslogMessage returns the RFC 5424 message that publishes p: header
// MSGID "checkpoint", one SD-ELEMENT with the parameters origin, size,
// root, signed, cosigners and note (the cosigned note in standard base64,
// so the message has no newline and survives LF-framed transports), and a
// one-line MSG for people. Encoded with AppendRFC5424 it stays within
// MaxSyslogBytes: when it would not, the MSG is left out, then the
// cosignature lines (note then holds the ledger's signature only, with
// cosigners_omitted="true"; cosigners still names the witnesses, and the
// cosigned files in the state directory keep their cosignatures).
func (p Publication) SyslogMessage(at time.Time, o SyslogOptions) *syslog.Message {
	m := &syslog.Message{
		Facility:  syslog.Security,
		Severity:  syslog.Info,
		Timestamp: at.UTC(),
		Hostname:  o.Hostname,
		AppName:   o.AppName,
		MsgID:     SyslogMsgID,
	}
	if o.Facility != nil {
		m.Facility = *o.Facility
	}
	if o.Severity != nil {
		m.Severity = *o.Severity
	}
	if m.AppName == "" {
		m.AppName = "cdewatch"
	}
	sdid := o.SDID
	if sdid == "" {
		sdid = DefaultSDID
	}
	element := func(n []byte, cosigners []string, omitted bool) syslog.SDElement {
		e := syslog.SDElement{ID: sdid, Params: []syslog.SDParam{
			{Name: "origin", Value: p.Origin},
			{Name: "size", Value: strconv.FormatUint(p.Size, 10)},
			{Name: "root", Value: base64.StdEncoding.EncodeToString(p.Root)},
		}}
		if !p.Signed.IsZero() {
			e.Params = append(e.Params, syslog.SDParam{Name: "signed", Value: p.Signed.UTC().Format(time.RFC3339)})
		}
		e.Params = append(e.Params, syslog.SDParam{Name: "cosigners", Value: strings.Join(cosigners, ",")})
		if omitted {
			e.Params = append(e.Params, syslog.SDParam{Name: "cosigners_omitted", Value: "true"})
		}
		e.Params = append(e.Params, syslog.SDParam{Name: "note", Value: base64.StdEncoding.EncodeToString(n)})
		return e
	}
	m.StructuredData = []syslog.SDElement{element(p.Note, p.Cosigners, false)}
	m.Message = fmt.Sprintf("ledger checkpoint %s size %d cosigned by %d witness(es)", p.Origin, p.Size, len(p.Cosigners))
	if len(m.AppendRFC5424(nil)) <= MaxSyslogBytes {
		return m
	}
	m.Message = ""
	if len(m.AppendRFC5424(nil)) <= MaxSyslogBytes || len(p.Checkpoint) == 0 {
		return m
	}
	m.StructuredData = []syslog.SDElement{element(p.Checkpoint, p.Cosigners, true)}
	return m
}
