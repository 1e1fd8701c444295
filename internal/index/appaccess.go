package index

import (
	"github.com/cdewatch/cdewatch/internal/appaccess"
)

// appRow is an AppAccess record's envelope, read once per row.
type appRow struct {
	app     string
	a       appaccess.Access
	details []byte // the record as the application sent it
}

func prepareAppAccess(r *row) {
	r.app = appRow{}
	app, a, err := appaccess.DecodeEnvelope(r.rec.Raw)
	if err != nil {
		return
	}
	r.app = appRow{app: app, a: a, details: envelopeRecord(r.rec.Raw)}
}

// envelopeRecord returns the "record" member of an access envelope.
func envelopeRecord(raw []byte) []byte {
	var v [1][]byte
	if !scanMembers(raw, []string{"record"}, v[:], nil) {
		return nil
	}
	return v[0]
}

// AppAccess: applications' card-data access records (internal/appaccess).
var appAccessFields = append([]field{
	{ColTimeGenerated, func(r *row) cell {
		if r.rec.Time.IsZero() {
			return timestamp(r.rec.Received)
		}
		return timestamp(r.rec.Time)
	}},
	{"Application", func(r *row) cell { return text(r.app.app) }},
	{"Action", func(r *row) cell { return text(r.rec.Action) }},
	{"User", func(r *row) cell { return text(r.rec.User) }},
	{"Subject", func(r *row) cell { return text(r.app.a.Subject) }},
	{"DataClass", func(r *row) cell { return text(r.app.a.DataClass) }},
	{"Reason", func(r *row) cell { return text(r.app.a.Reason) }},
	{"Details", func(r *row) cell { return dynamicValue(r.app.details) }},
}, commonFields...)
