package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// Teams posts to a Microsoft Teams webhook: the URL of a Teams Workflow
// ("When a Teams webhook request is received", which replaced the retired
// Office 365 connectors and accepts Adaptive Cards only) or of a legacy
// incoming-webhook connector, which accepts the same payload. One message
// per batch: a "message" activity with one Adaptive Card 1.4 attachment.
type Teams struct{ chat }

// NewTeams validates c and builds the notifier.
func NewTeams(c ChatConfig) (*Teams, error) {
	ch, err := newChat("teams", c, TeamsMessage)
	if err != nil {
		return nil, err
	}
	return &Teams{ch}, nil
}

// teamsTextMax keeps a card's text blocks well inside the 28 KB a Teams
// message may hold.
const teamsTextMax = 1000

// TeamsMessage returns the Teams payload for a batch, detailing at most
// max alerts:
//
//	{"type": "message", "attachments": [{
//	  "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
//	  "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//	    "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
//	    "body": [title TextBlock, per alert a Container: TextBlock severity+rule+title,
//	             TextBlock summary, FactSet source/PCI DSS/MITRE ATT&CK/time/key/seqs/id]}}]}
func TeamsMessage(alerts []alert.Alert, max int) map[string]any {
	hi := Highest(alerts)
	body := []map[string]any{{
		"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
		"color": teamsColor(hi),
		"text":  fmt.Sprintf("cdewatch: %d %s (highest: %s)", len(alerts), plural(len(alerts), "alert", "alerts"), strings.ToUpper(hi.String())),
	}}
	for i, a := range alerts {
		if i == max {
			body = append(body, map[string]any{
				"type": "TextBlock", "wrap": true, "isSubtle": true,
				"text": fmt.Sprintf("…and %d more %s in this batch", len(alerts)-max, plural(len(alerts)-max, "alert", "alerts")),
			})
			break
		}
		head := fmt.Sprintf("%s · %s", strings.ToUpper(a.Severity.String()), a.Rule)
		if a.RuleTitle != "" {
			head += " — " + a.RuleTitle
		}
		facts := []map[string]any{
			teamsFact("Source", a.Source),
			teamsFact("PCI DSS", strings.Join(a.PCI, ", ")),
			teamsFact("MITRE ATT&CK", strings.Join(a.MITRE, ", ")),
			teamsFact("Time", a.Time.UTC().Format(time.RFC3339)),
			teamsFact("Kind", a.Kind),
			teamsFact("Key", a.Key),
			teamsFact("Seqs", seqsText(a.Seqs, 6)),
			teamsFact("Id", AlertID(a)),
		}
		if f := fieldsText(a.Fields); f != "" {
			facts = append(facts, teamsFact("Fields", f))
		}
		body = append(body, map[string]any{
			"type": "Container", "separator": true, "spacing": "Medium",
			"style": teamsStyle(a.Severity),
			"items": []map[string]any{
				{"type": "TextBlock", "weight": "Bolder", "wrap": true, "color": teamsColor(a.Severity), "text": Truncate(teamsEscape(head), teamsTextMax)},
				{"type": "TextBlock", "wrap": true, "text": Truncate(teamsEscape(a.Summary), teamsTextMax)},
				{"type": "FactSet", "facts": facts},
			},
		})
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema":      "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":         "AdaptiveCard",
				"version":      "1.4",
				"msteams":      map[string]any{"width": "Full"},
				"fallbackText": teamsEscape(Title(alerts, teamsTextMax)),
				"body":         body,
			},
		}},
	}
}

func teamsFact(title, value string) map[string]any {
	if value == "" {
		value = "-"
	}
	return map[string]any{"title": title, "value": Truncate(teamsEscape(value), teamsTextMax)}
}

// teamsEscape makes text one line and breaks Markdown link syntax
// ("[text](url)"), which Adaptive Card TextBlocks would render as a link
// named by whoever controls the text (a resource name, a user agent).
func teamsEscape(s string) string {
	return strings.ReplaceAll(OneLine(s), "](", "]\u200b(")
}

func teamsColor(s alert.Severity) string {
	switch s {
	case alert.Critical, alert.High:
		return "Attention"
	case alert.Medium:
		return "Warning"
	}
	return "Default"
}

func teamsStyle(s alert.Severity) string {
	switch s {
	case alert.Critical, alert.High:
		return "attention"
	case alert.Medium:
		return "warning"
	}
	return "default"
}
