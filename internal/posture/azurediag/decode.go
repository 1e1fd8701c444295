// Package azurediag checks the diagnostic settings of an AKS cluster, as
// the Azure CLI exports them, against what PCI DSS Requirement 10 needs
// from them and what cdewatch can read: the kube-audit category, a
// destination cdewatch collects from (Event Hubs through its Kafka
// endpoint, or a storage account through cdewatch import) and a retention
// of at least a year. The accepted inputs and the checks are documented in
// docs/POSTURE.md; the report's JSON form in internal/posture/FORMAT.md.
package azurediag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxInputBytes bounds the exports Decode and DecodeLifecycle read.
const MaxInputBytes = 4 << 20

// Setting is one diagnostic setting, as `az monitor diagnostic-settings
// show` prints it (or its ARM form, with the same members under
// "properties"). Members the check does not use are ignored.
type Setting struct {
	// ID is the setting's resource ID:
	// <resource ID>/providers/microsoft.insights/diagnosticSettings/<name>.
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// The destinations; empty when not set (the CLI prints null).
	StorageAccountID            string `json:"storageAccountId"`
	EventHubAuthorizationRuleID string `json:"eventHubAuthorizationRuleId"`
	EventHubName                string `json:"eventHubName"`
	// ServiceBusRuleID is the older form of an Event Hubs destination.
	ServiceBusRuleID            string `json:"serviceBusRuleId"`
	WorkspaceID                 string `json:"workspaceId"`
	MarketplacePartnerID        string `json:"marketplacePartnerId"`
	LogAnalyticsDestinationType string `json:"logAnalyticsDestinationType"`
	Logs                        []Log  `json:"logs"`
}

// Log is one entry of a setting's logs: a category or a category group.
type Log struct {
	Category      string `json:"category"`
	CategoryGroup string `json:"categoryGroup"`
	Enabled       bool   `json:"enabled"`
	// RetentionPolicy applies to a storage destination only; Azure no
	// longer applies it (see docs/POSTURE.md).
	RetentionPolicy *RetentionPolicy `json:"retentionPolicy"`
}

// RetentionPolicy is the deprecated per-category retention of a setting.
type RetentionPolicy struct {
	Days    int  `json:"days"`
	Enabled bool `json:"enabled"`
}

// DecodeError is returned for an export that cannot be read.
type DecodeError struct {
	// Item is the index of the setting in a list; -1 for the input as a whole.
	Item int
	Msg  string
}

// Error says where and what.
func (e *DecodeError) Error() string {
	if e.Item < 0 {
		return e.Msg
	}
	return fmt.Sprintf("setting %d: %s", e.Item, e.Msg)
}

var bom = []byte("\xef\xbb\xbf")

// Decode reads diagnostic settings exported with the Azure CLI: one
// setting (`az monitor diagnostic-settings show`), a list (`... list` in
// current CLI versions) or {"value": [...]} (older versions and the REST
// API). A setting may also be in its ARM form, with its members under
// "properties".
func Decode(data []byte) ([]Setting, error) {
	if len(data) > MaxInputBytes {
		return nil, &DecodeError{Item: -1, Msg: fmt.Sprintf("the file is %d bytes, more than the %d a diagnostic settings export can reasonably be", len(data), MaxInputBytes)}
	}
	data = bytes.TrimSpace(bytes.TrimPrefix(data, bom))
	if len(data) == 0 {
		return nil, &DecodeError{Item: -1, Msg: "the file is empty: export the settings with az monitor diagnostic-settings list --resource <AKS cluster ID>"}
	}
	if !json.Valid(data) {
		return nil, &DecodeError{Item: -1, Msg: "not valid JSON: " + syntaxProblem(data)}
	}
	var items []json.RawMessage
	single := false
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, &DecodeError{Item: -1, Msg: err.Error()}
		}
	case '{':
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, &DecodeError{Item: -1, Msg: err.Error()}
		}
		value, hasValue := top["value"]
		_, hasLogs := top["logs"]
		_, hasProps := top["properties"]
		if hasValue && !hasLogs && !hasProps {
			if err := json.Unmarshal(value, &items); err != nil || bytes.Equal(bytes.TrimSpace(value), []byte("null")) {
				return nil, &DecodeError{Item: -1, Msg: `"value" is not a list of diagnostic settings`}
			}
		} else {
			items, single = []json.RawMessage{data}, true
		}
	default:
		return nil, &DecodeError{Item: -1, Msg: "expected a diagnostic setting (an object) or a list of them, got " + describeJSON(data)}
	}
	out := make([]Setting, 0, len(items))
	for i, raw := range items {
		s, err := decodeSetting(raw)
		if err != nil {
			if single {
				i = -1
			}
			return nil, &DecodeError{Item: i, Msg: err.Error()}
		}
		out = append(out, s)
	}
	return out, nil
}

func decodeSetting(raw json.RawMessage) (Setting, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return Setting{}, fmt.Errorf("expected a diagnostic setting (an object), got %s", describeJSON(raw))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return Setting{}, err
	}
	var s Setting
	if err := strictTypes(raw, &s); err != nil {
		return Setting{}, err
	}
	if props, ok := top["properties"]; ok {
		// ARM form: id, name and type outside, the rest inside.
		var inner Setting
		if err := strictTypes(props, &inner); err != nil {
			return Setting{}, fmt.Errorf("properties: %w", err)
		}
		inner.ID, inner.Name, inner.Type = s.ID, s.Name, s.Type
		s = inner
		if err := json.Unmarshal(props, &top); err != nil {
			return Setting{}, fmt.Errorf("properties: %w", err)
		}
	}
	if _, ok := top["logs"]; !ok && !strings.EqualFold(s.Type, "Microsoft.Insights/diagnosticSettings") {
		return Setting{}, errors.New("not a diagnostic setting (no logs member): export the settings with az monitor diagnostic-settings list --resource <AKS cluster ID>")
	}
	return s, nil
}

// strictTypes decodes raw into v, naming the member whose type is wrong.
func strictTypes(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: expected %s, got a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return err
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "float64":
		return "a number"
	case "slice":
		return "a list"
	case "struct", "map", "ptr":
		return "an object"
	}
	return goKind
}

// syntaxProblem locates a JSON syntax error by line.
func syntaxProblem(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("line %d: %s", line, se.Error())
	}
	if err != nil {
		return err.Error()
	}
	return "unknown problem"
}

func describeJSON(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '[':
		return "a list"
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
