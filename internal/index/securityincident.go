package index

import (
	"encoding/json"
	"strings"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// incidentRow is a SecurityIncident record's change, read once per row.
type incidentRow struct {
	alert.IncidentChange
	ok bool
}

func prepareSecurityIncident(r *row) {
	r.inc = incidentRow{}
	if json.Unmarshal(r.rec.Raw, &r.inc.IncidentChange) == nil {
		r.inc.ok = true
	}
}

// laIncidentStatus writes a status as a title, as Sentinel writes its own.
func laIncidentStatus(s string) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// SecurityIncident: one row per change of an incident.
var securityIncidentFields = append([]field{
	{ColTimeGenerated, func(r *row) cell { return timestamp(r.rec.Received) }},
	{"IncidentName", func(r *row) cell { return text(r.inc.ID) }},
	{"Title", func(r *row) cell { return text(r.inc.Title) }},
	{"Severity", func(r *row) cell { return text(laSeverity(r.inc.Severity)) }},
	{"Status", func(r *row) cell { return text(laIncidentStatus(r.inc.Status)) }},
	{"ModifiedBy", func(r *row) cell { return text(r.inc.By) }},
	{"ClassificationComment", func(r *row) cell { return text(r.inc.Reason) }},
	{"CreatedTime", func(r *row) cell { return timestamp(r.inc.Opened) }},
	{"LastModifiedTime", func(r *row) cell { return timestamp(r.rec.Received) }},
	{"RuleName", func(r *row) cell { return text(r.inc.Rule) }},
	{"Key", func(r *row) cell { return text(r.inc.Key) }},
	{"PciRequirements", func(r *row) cell { return text(strings.Join(r.inc.PCI, ",")) }},
}, tailFields(nil, "Status")...)

func securityIncidentColumns() []Column {
	cols := []Column{
		{Name: ColTimeGenerated, Type: DateTime, Doc: "when the change was recorded"},
		{Name: "IncidentName", Type: String, Doc: "the incident's id, INC- and 12 hex digits; SecurityAlert.IncidentName of its alerts"},
		{Name: "Title", Type: String, Doc: "the title of the rule whose alert opened the incident"},
		{Name: "Severity", Type: String, Doc: "the severity of the alert that opened it, as SecurityAlert.AlertSeverity"},
		{Name: "Status", Type: String, Doc: "New (opened by the detector), Acknowledged or Resolved (by a person); the incident's state is its latest row: summarize arg_max(TimeGenerated, *) by IncidentName. Takes the place of the cdewatch Status (int) column"},
		{Name: "ModifiedBy", Type: String, Doc: "who made the change: system:cdewatch:detector for New, else the person's identity"},
		{Name: "ClassificationComment", Type: String, Doc: "why: the opening alert's summary, or the reason the person gave"},
		{Name: "CreatedTime", Type: DateTime, Doc: "when the incident opened"},
		{Name: "LastModifiedTime", Type: DateTime, Doc: "as TimeGenerated"},
		{Name: "RuleName", Type: String, Doc: "the rule's id (SecurityAlert.AlertType); a cdewatch column"},
		{Name: "Key", Type: String, Doc: "what the incident concerns (SecurityAlert.CompromisedEntity); alerts of the same rule and key join the open incident; a cdewatch column"},
		{Name: "PciRequirements", Type: String, Doc: "the PCI DSS requirements of the rule, comma-separated; a cdewatch column"},
	}
	return append(cols, withDocs(commonTail("Status"), map[string]string{
		"Source":   "the source of the events of the opening alert",
		"Resource": "as IncidentName",
	})...)
}
