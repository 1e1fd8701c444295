package index

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// alertRow is a SecurityAlert record's alert, read once per row. Its
// Raw is the alert as JSON with the detector's cursor (internal/detect).
type alertRow struct {
	alert.Alert
	ok bool
}

func prepareSecurityAlert(r *row) {
	r.al = alertRow{}
	if json.Unmarshal(r.rec.Raw, &r.al.Alert) == nil {
		r.al.ok = true
	}
}

// laSeverity writes a severity as Log Analytics does.
func laSeverity(s alert.Severity) string {
	switch s {
	case alert.Info:
		return "Informational"
	case 0:
		return ""
	}
	n := s.String()
	return strings.ToUpper(n[:1]) + n[1:]
}

func jsonValue(v any) cell {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return cell{}
	}
	return textBytes(b)
}

// SecurityAlert: the detector's alerts.
var securityAlertFields = append([]field{
	{ColTimeGenerated, func(r *row) cell {
		if r.al.ok && !r.al.Detected.IsZero() {
			return timestamp(r.al.Detected)
		}
		return timestamp(r.rec.Received)
	}},
	{"DisplayName", func(r *row) cell { return text(r.al.RuleTitle) }},
	{"AlertName", func(r *row) cell { return text(r.al.RuleTitle) }},
	{"AlertType", func(r *row) cell { return text(r.rec.Action) }},
	{"AlertSeverity", func(r *row) cell { return text(laSeverity(r.al.Severity)) }},
	{"Description", func(r *row) cell { return text(r.al.Summary) }},
	{"ProviderName", func(r *row) cell { return text("cdewatch") }},
	{"VendorName", func(r *row) cell { return text("cdewatch") }},
	{"SystemAlertId", func(r *row) cell { return text("cdewatch-" + strconv.FormatUint(r.seq, 10)) }},
	{"StartTime", func(r *row) cell { return timestamp(r.rec.Time) }},
	{"EndTime", func(r *row) cell { return timestamp(r.rec.Time) }},
	{"CompromisedEntity", func(r *row) cell { return text(r.al.Key) }},
	{"Techniques", func(r *row) cell { return text(strings.Join(r.al.MITRE, ", ")) }},
	{"Status", func(r *row) cell { return text("New") }},
	{"ExtendedProperties", func(r *row) cell {
		if len(r.al.Fields) == 0 {
			return cell{}
		}
		return jsonValue(r.al.Fields)
	}},
	{"AlertKind", func(r *row) cell { return text(r.al.Kind) }},
	{"PciRequirements", func(r *row) cell { return text(strings.Join(r.al.PCI, ",")) }},
	{"EvidenceSeqs", func(r *row) cell {
		if len(r.al.Seqs) == 0 {
			return cell{}
		}
		return jsonValue(r.al.Seqs)
	}},
	{"IncidentName", func(r *row) cell { return text(r.al.Incident) }},
}, tailFields(nil, "Status")...)
