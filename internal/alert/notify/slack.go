package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
)

// ChatConfig configures a Slack or Microsoft Teams incoming webhook.
type ChatConfig struct {
	Name string `yaml:"name"`
	// URL is the incoming webhook URL. It is a secret (whoever has it can
	// post to the channel): it is never logged beyond its host.
	URL string `yaml:"url"`
	// MaxAlerts is how many alerts one message details (default 10); the
	// rest of the batch is counted in a last line.
	MaxAlerts int `yaml:"max_alerts"`
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLSOptions    `yaml:"tls"`
}

// Validate checks the configuration.
func (c ChatConfig) Validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if c.URL == "" {
		return fmt.Errorf("%s: url is required", c.Name)
	}
	if c.MaxAlerts < 0 || c.MaxAlerts > 15 { // Slack: 50 blocks, 3 per alert
		return fmt.Errorf("%s: max_alerts: want 0-15", c.Name)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%s: timeout must not be negative", c.Name)
	}
	return c.TLS.Validate()
}

func (c ChatConfig) maxAlerts() int {
	if c.MaxAlerts == 0 {
		return 10
	}
	return c.MaxAlerts
}

// chat posts one JSON message per batch to a chat service's incoming
// webhook; Slack and Teams differ only in the message.
type chat struct {
	kind    string // "slack", "teams": for errors
	name    string
	max     int
	p       *poster
	message func(alerts []alert.Alert, max int) map[string]any
}

func newChat(kind string, c ChatConfig, message func([]alert.Alert, int) map[string]any) (chat, error) {
	if err := c.Validate(); err != nil {
		return chat{}, err
	}
	p, err := newPoster(c.URL, c.Timeout, c.TLS, nil)
	if err != nil {
		return chat{}, fmt.Errorf("%s %s: %w", kind, c.Name, err)
	}
	return chat{kind: kind, name: c.Name, max: c.maxAlerts(), p: p, message: message}, nil
}

// Name implements Notifier.
func (c *chat) Name() string { return c.name }

// Send implements Notifier.
func (c *chat) Send(ctx context.Context, alerts []alert.Alert) error {
	body, err := json.Marshal(c.message(alerts, c.max))
	if err != nil {
		return Permanent(fmt.Errorf("%s %s: encode: %w", c.kind, c.name, err))
	}
	if err := c.p.post(ctx, body, nil); err != nil {
		return fmt.Errorf("%s %s: %w", c.kind, c.name, err)
	}
	return nil
}

// Slack posts to a Slack incoming webhook: one message per batch, with a
// plain-text fallback ("text") and Block Kit blocks.
type Slack struct{ chat }

// NewSlack validates c and builds the notifier.
func NewSlack(c ChatConfig) (*Slack, error) {
	ch, err := newChat("slack", c, SlackMessage)
	if err != nil {
		return nil, err
	}
	return &Slack{ch}, nil
}

// Slack's limits (Block Kit): 3000 characters in a section's text, 2000
// in a field, 150 in a header, 50 blocks per message.
const (
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackHeaderMax  = 150
)

// SlackMessage returns the Slack payload for a batch, detailing at most
// max alerts: {"text": title, "blocks": [header, per alert: section with
// severity, rule, title and summary + fields source, PCI, MITRE, time;
// context with key, seqs and id; divider], context "…and N more"}.
func SlackMessage(alerts []alert.Alert, max int) map[string]any {
	hi := Highest(alerts)
	blocks := []map[string]any{{
		"type": "header",
		"text": map[string]any{"type": "plain_text", "text": Truncate(fmt.Sprintf("%s cdewatch: %d %s (highest: %s)", severityEmoji(hi), len(alerts), plural(len(alerts), "alert", "alerts"), strings.ToUpper(hi.String())), slackHeaderMax)},
	}}
	for i, a := range alerts {
		if i == max {
			blocks = append(blocks, map[string]any{
				"type":     "context",
				"elements": []map[string]any{{"type": "mrkdwn", "text": fmt.Sprintf("…and %d more %s in this batch", len(alerts)-max, plural(len(alerts)-max, "alert", "alerts"))}},
			})
			break
		}
		text := fmt.Sprintf("%s *%s* `%s`", severityEmoji(a.Severity), strings.ToUpper(a.Severity.String()), slackEscape(a.Rule))
		if a.RuleTitle != "" {
			text += " — " + slackEscape(a.RuleTitle)
		}
		text += "\n" + slackEscape(a.Summary)
		fields := []map[string]any{
			slackField("Source", a.Source),
			slackField("PCI DSS", strings.Join(a.PCI, ", ")),
			slackField("MITRE ATT&CK", strings.Join(a.MITRE, ", ")),
			slackField("Time", a.Time.UTC().Format(time.RFC3339)),
		}
		ctxText := fmt.Sprintf("kind %s · key `%s` · seqs %s · id `%s`", slackEscape(a.Kind), slackEscape(a.Key), slackEscape(seqsText(a.Seqs, 6)), AlertID(a))
		if f := fieldsText(a.Fields); f != "" {
			ctxText += " · " + slackEscape(f)
		}
		blocks = append(blocks,
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": Truncate(text, slackSectionMax)}, "fields": fields},
			map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": Truncate(ctxText, slackSectionMax)}}},
			map[string]any{"type": "divider"},
		)
	}
	return map[string]any{"text": slackEscape(Title(alerts, 3000)), "blocks": blocks}
}

func slackField(name, value string) map[string]any {
	if value == "" {
		value = "-"
	}
	return map[string]any{"type": "mrkdwn", "text": Truncate("*"+slackEscape(name)+"*\n"+slackEscape(value), slackFieldMax)}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func severityEmoji(s alert.Severity) string {
	switch s {
	case alert.Critical:
		return "🟥"
	case alert.High:
		return "🟧"
	case alert.Medium:
		return "🟨"
	case alert.Low:
		return "🟦"
	}
	return "⬜"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
