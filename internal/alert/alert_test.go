package alert

import (
	"encoding/json"
	"testing"
)

func TestSeverityText(t *testing.T) {
	for _, tc := range []struct {
		s    Severity
		json string
	}{{Info, `"info"`}, {Low, `"low"`}, {Medium, `"medium"`}, {High, `"high"`}, {Critical, `"critical"`}, {0, `""`}} {
		b, err := json.Marshal(tc.s)
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%d) = %s, %v; want %s", tc.s, b, err, tc.json)
		}
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != tc.s {
			t.Errorf("Unmarshal(%s) = %d, %v", b, back, err)
		}
	}
	if s, err := ParseSeverity("informational"); err != nil || s != Info {
		t.Errorf("Sigma's informational: %v %v", s, err)
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Error("unknown severity accepted")
	}
}
