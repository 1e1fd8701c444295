// Package event defines cdewatch's normalized record: one per accepted event,
// whatever its source, carrying the six PCI DSS 10.2.2 details, the 10.2.1.x
// classes it evidences and the original bytes as evidence.
//
// A Record's binary encoding (see FORMAT.md) is what the ledger stores and
// hashes as a Merkle leaf, so the encoding is deterministic and versioned.
package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
)

// Table names: the KQL table a record belongs to. Columns follow Azure Log
// Analytics so that existing queries run as written.
const (
	TableKubeAudit       = "KubeAuditLogs"
	TableCdewatchAudit   = "CdewatchAudit"
	TableAzureActivity   = "AzureActivity"   // Azure Activity Log events (azure.Record.Event)
	TableSigninLogs      = "SigninLogs"      // Entra ID sign-ins (azure.Record.Event)
	TableAKSControlPlane = "AKSControlPlane" // AKS control-plane component logs (azure.Record.Event)
)

// Outcome is the 10.2.2 success/failure indication.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
	Unknown Outcome = "unknown"
)

// Class is a set of PCI DSS v4.0.1 10.2.1.x event classes, as a bit mask.
type Class uint32

// The 10.2.1.x classes a record can evidence.
const (
	CHDAccess        Class = 1 << iota // 10.2.1.1 individual user access to cardholder data
	AdminAction                        // 10.2.1.2 actions by administrative identities
	LogAccess                          // 10.2.1.3 access to audit logs
	InvalidAccess                      // 10.2.1.4 invalid logical access attempts
	CredentialChange                   // 10.2.1.5 changes to identification and authentication credentials
	LogInitStop                        // 10.2.1.6 initialization, start, stop, pause of audit logs
	SystemObject                       // 10.2.1.7 creation and deletion of system-level objects
	classEnd
)

var classInfo = []struct {
	name, req string
}{
	{"chd-access", "10.2.1.1"},
	{"admin-action", "10.2.1.2"},
	{"log-access", "10.2.1.3"},
	{"invalid-access", "10.2.1.4"},
	{"credential-change", "10.2.1.5"},
	{"log-init-stop", "10.2.1.6"},
	{"system-object", "10.2.1.7"},
}

// Names returns the class names in the set, in requirement order.
func (c Class) Names() []string {
	var out []string
	for i, ci := range classInfo {
		if c&(1<<i) != 0 {
			out = append(out, ci.name)
		}
	}
	return out
}

// Requirements returns the PCI requirement numbers in the set.
func (c Class) Requirements() []string {
	var out []string
	for i, ci := range classInfo {
		if c&(1<<i) != 0 {
			out = append(out, ci.req)
		}
	}
	return out
}

// String renders the set as a comma-separated list of names.
func (c Class) String() string { return strings.Join(c.Names(), ",") }

// ParseClass returns the class with the given name.
func ParseClass(name string) (Class, error) {
	for i, ci := range classInfo {
		if ci.name == name || ci.req == name {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("unknown PCI class %q", name)
}

// Record is the normalized form of one event.
type Record struct {
	Time     time.Time // (3) event time reported by the source, UTC
	Received time.Time // time cdewatch accepted the event, UTC
	Source   string    // the cluster / subscription / application, bound to the sender's credential
	Table    string    // KQL table, e.g. KubeAuditLogs
	// Key identifies the event within its source for redelivery detection
	// (for audit events: auditID/stage). Empty when the source has none.
	Key string

	User      string  // (1) user identification
	Action    string  // (2) type of event, e.g. "get secrets"
	Outcome   Outcome // (4) success or failure
	Status    int     // the source's status code (HTTP code for audit events), 0 if none
	OriginIP  string  // (5) origination: client address
	UserAgent string  // (5) origination: client program
	Resource  string  // (6) affected resource, e.g. "payments/secrets/card-key"

	PCI Class  // 10.2.1.x classes this record evidences
	Raw []byte // the original event bytes
}

// encodingVersion is the first byte of every encoded record.
const encodingVersion = 1

// ErrCorrupt reports a record encoding that cannot be decoded.
var ErrCorrupt = errors.New("corrupt record encoding")

// AppendBinary appends the record's binary encoding (FORMAT.md) to b.
func (r *Record) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, encodingVersion)
	b = binary.AppendVarint(b, unixNano(r.Time))
	b = binary.AppendVarint(b, unixNano(r.Received))
	for _, s := range [...]string{r.Source, r.Table, r.Key, r.User, r.Action, string(r.Outcome), r.OriginIP, r.UserAgent, r.Resource} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, int64(r.Status))
	b = binary.AppendUvarint(b, uint64(r.PCI))
	b = binary.AppendUvarint(b, uint64(len(r.Raw)))
	b = append(b, r.Raw...)
	return b, nil
}

// MarshalBinary returns the record's binary encoding.
func (r *Record) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, 64+len(r.Raw)+len(r.Source)+len(r.User)+len(r.Action)+len(r.Resource)+len(r.UserAgent)))
}

// UnmarshalBinary decodes a record encoded by MarshalBinary. Raw aliases b.
func (r *Record) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); v != encodingVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, encodingVersion)
	}
	r.Time = fromUnixNano(d.varint())
	r.Received = fromUnixNano(d.varint())
	r.Source = d.string()
	r.Table = d.string()
	r.Key = d.string()
	r.User = d.string()
	r.Action = d.string()
	r.Outcome = Outcome(d.string())
	r.OriginIP = d.string()
	r.UserAgent = d.string()
	r.Resource = d.string()
	r.Status = int(d.varint())
	pci := d.uvarint()
	r.Raw = d.bytes()
	if d.err != nil {
		return d.err
	}
	if pci >= uint64(classEnd) {
		return fmt.Errorf("%w: unknown PCI class bits %#x", ErrCorrupt, pci)
	}
	r.PCI = Class(pci)
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return nil
}

// noTime encodes the zero time.Time: a record without a date and time
// (which time.Time.UnixNano cannot represent).
const noTime = math.MinInt64

// zeroUnixNano is what time.Time{}.UnixNano() returns; records written
// before noTime existed hold it for the zero time.
const zeroUnixNano = -6795364578871345152

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == noTime || ns == zeroUnixNano {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("version")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("field")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

// Count returns the number of classes in the set.
func (c Class) Count() int { return bits.OnesCount32(uint32(c)) }
