package event

import "strings"

// Detail is a set of the six PCI DSS 10.2.2 details an audit log record
// must carry, as a bit mask.
type Detail uint8

// The 10.2.2 details, in the requirement's order.
const (
	DetailUser     Detail = 1 << iota // user identification
	DetailType                        // type of event
	DetailTime                        // date and time
	DetailOutcome                     // success or failure indication
	DetailOrigin                      // origination of event
	DetailResource                    // identity or name of affected data, system component, resource, or service
	detailEnd
)

// DetailNames are the names of the details, in order: user, type, time,
// outcome, origin, resource.
var DetailNames = []string{"user", "type", "time", "outcome", "origin", "resource"}

// Names returns the names of the details in the set.
func (d Detail) Names() []string {
	var out []string
	for i, n := range DetailNames {
		if d&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String renders the set as a comma-separated list of names.
func (d Detail) String() string { return strings.Join(d.Names(), ",") }

// Missing returns the 10.2.2 details r lacks: an empty user, action,
// resource or origin, a zero event time, an outcome that is neither
// success nor failure.
func (r *Record) Missing() Detail {
	var d Detail
	if r.User == "" {
		d |= DetailUser
	}
	if r.Action == "" {
		d |= DetailType
	}
	if r.Time.IsZero() {
		d |= DetailTime
	}
	if r.Outcome != Success && r.Outcome != Failure {
		d |= DetailOutcome
	}
	if r.OriginIP == "" {
		d |= DetailOrigin
	}
	if r.Resource == "" {
		d |= DetailResource
	}
	return d
}
