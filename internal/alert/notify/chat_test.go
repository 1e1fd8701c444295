package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/alert"
)

func TestSlackPayload(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s, err := NewSlack(ChatConfig{Name: "slack", URL: srv.URL + "/services/T000/B000/XXXX"})
	if err != nil {
		t.Fatal(err)
	}
	alerts := sampleAlerts(t)
	if err := s.Send(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, reqs[0].body, "", "  ")
	golden(t, "slack.golden.json", pretty.Bytes())

	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Type, Text string
			} `json:"text"`
			Fields []struct{ Text string } `json:"fields"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(reqs[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	if want := "[cdewatch CRITICAL] 3 alerts: pci.clusteradmin-binding: "; !strings.HasPrefix(msg.Text, want) {
		t.Errorf("text %q, want prefix %q", msg.Text, want)
	}
	if len(msg.Blocks) != 1+3*len(alerts) || msg.Blocks[0].Type != "header" {
		t.Fatalf("%d blocks, first %q", len(msg.Blocks), msg.Blocks[0].Type)
	}
	sec := msg.Blocks[4] // second alert's section
	if sec.Type != "section" || !strings.Contains(sec.Text.Text, "*CRITICAL* `pci.clusteradmin-binding`") ||
		!strings.Contains(sec.Text.Text, "&lt;sa:ci/builder&gt; &amp;") {
		t.Errorf("section %q: severity, rule or escaping missing", sec.Text.Text)
	}
	joined := ""
	for _, f := range sec.Fields {
		joined += f.Text + "|"
	}
	for _, want := range []string{"*Source*\naks-prod-weu", "*PCI DSS*\n10.2.1.2, 10.2.1.5", "*MITRE ATT&amp;CK*\nT1098"} {
		if !strings.Contains(joined, want) {
			t.Errorf("fields %q lack %q", joined, want)
		}
	}
}

func TestSlackTruncatesLongBatches(t *testing.T) {
	var alerts []alert.Alert
	for range 40 {
		alerts = append(alerts, sampleAlerts(t)...)
	}
	m := SlackMessage(alerts, 15)
	blocks := m["blocks"].([]map[string]any)
	if len(blocks) > 50 {
		t.Errorf("%d blocks, Slack accepts 50", len(blocks))
	}
	last, _ := json.Marshal(blocks[len(blocks)-1])
	if !strings.Contains(string(last), "and 105 more alerts") {
		t.Errorf("last block %s", last)
	}
}

func TestTeamsPayload(t *testing.T) {
	rec := &recorder{respond: func(n int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusAccepted) // what a Teams workflow answers
		return true
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	tm, err := NewTeams(ChatConfig{Name: "teams", URL: srv.URL + "/workflows/abc/triggers/manual/paths/invoke?sig=secret"})
	if err != nil {
		t.Fatal(err)
	}
	alerts := sampleAlerts(t)
	if err := tm.Send(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, reqs[0].body, "", "  ")
	golden(t, "teams.golden.json", pretty.Bytes())

	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			ContentURL  *string        `json:"contentUrl"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(reqs[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 {
		t.Fatalf("activity %+v", msg)
	}
	a := msg.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.ContentURL != nil {
		t.Errorf("attachment contentType %q contentUrl %v", a.ContentType, a.ContentURL)
	}
	if a.Content["type"] != "AdaptiveCard" || a.Content["version"] != "1.4" {
		t.Errorf("card type %v version %v", a.Content["type"], a.Content["version"])
	}
	body := a.Content["body"].([]any)
	if len(body) != 1+len(alerts) {
		t.Errorf("%d body elements", len(body))
	}
	raw := string(reqs[0].body)
	if strings.Contains(raw, "[x](http") {
		t.Error("a Markdown link in the summary survived")
	}
	for _, want := range []string{`"title":"PCI DSS","value":"10.2.1.2, 10.2.1.5"`, `"title":"Source","value":"aks-prod-weu"`, `"text":"CRITICAL · pci.clusteradmin-binding — Binding to cluster-admin"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("payload lacks %s", want)
		}
	}
}

func TestChatErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		permanent bool
	}{
		{"slack invalid payload", 400, "invalid_payload", true},
		{"slack channel archived", 410, "channel_is_archived", true},
		{"rate limited", 429, "rate_limited", false},
		{"server error", 500, "oops", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			s, _ := NewSlack(ChatConfig{Name: "s", URL: srv.URL + "/services/T/B/secretpart"})
			err := s.Send(context.Background(), sampleAlerts(t))
			if err == nil || IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.body) {
				t.Errorf("err = %v, want permanent=%v quoting %q", err, tt.permanent, tt.body)
			}
			if strings.Contains(err.Error(), "secretpart") {
				t.Errorf("error leaks the webhook URL's secret: %v", err)
			}
		})
	}
}
