package posture

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestSeverityText checks that severities read back what they write and
// refuse unknown names.
func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{Info, Low, Medium, High} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: %s read back as %v (%v)", s, b, back, err)
		}
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"critical"`), &s); err == nil {
		t.Error("accepted critical")
	}
	if _, err := Severity(9).MarshalText(); err == nil {
		t.Error("wrote severity 9")
	}
}

// TestSortFindings checks the order: severity, then requirement
// numerically, then rule, setting and ID.
func TestSortFindings(t *testing.T) {
	one, two := 1, 2
	fs := []Finding{
		{ID: "e", Severity: Low, Requirement: "10.2.1.10"},
		{ID: "d", Severity: High, Requirement: "10.2.1.9", Rule: &two},
		{ID: "c", Severity: High, Requirement: "10.2.1.9", Rule: &one},
		{ID: "b", Severity: High, Requirement: "8.3.2"},
		{ID: "a", Severity: High, Requirement: "10.2.1.9"},
		{ID: "f", Severity: Low, Requirement: "10.2.1.9"},
	}
	SortFindings(fs)
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	if want := []string{"b", "a", "c", "d", "f", "e"}; !slices.Equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
}

// TestCheckVerdicts checks the error for failing verdicts.
func TestCheckVerdicts(t *testing.T) {
	vs := []Verdict{{Requirement: "10.2.1", Status: Pass}, {Requirement: "10.3.3", Status: Partial}}
	if err := Check(vs); err != nil {
		t.Errorf("got %v for no failure", err)
	}
	vs = append(vs, Verdict{Requirement: "10.5.1", Status: Fail}, Verdict{Requirement: "8.3.2", Status: Fail})
	err := Check(vs)
	var fe *FailedError
	if !errors.As(err, &fe) || err.Error() != "failing requirements: 10.5.1, 8.3.2" {
		t.Errorf("got %v", err)
	}
}

// TestWriteFindings checks the text layout, wrapping included.
func TestWriteFindings(t *testing.T) {
	rule := 3
	var b bytes.Buffer
	err := WriteFindings(&b, []Finding{{ID: "x", Severity: High, Requirement: "10.2.1.1", Rule: &rule, Line: 12,
		Text: strings.Repeat("word ", 30)}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if lines[0] != "  HIGH    x  [10.2.1.1]  rule 3 (line 12)" || len(lines) != 3 {
		t.Errorf("got:\n%s", b.String())
	}
	for _, l := range lines[1:] {
		if len(l) > 10+92 {
			t.Errorf("line longer than the wrap width: %q", l)
		}
	}
	b.Reset()
	if err := WriteFindings(&b, nil); err != nil || b.String() != "  none\n" {
		t.Errorf("got %q, %v", b.String(), err)
	}
}

// TestWhere checks the location words.
func TestWhere(t *testing.T) {
	r := 0
	tests := []struct {
		f    Finding
		want string
	}{
		{Finding{Rule: &r, Line: 4}, "rule 0 (line 4)"},
		{Finding{Rule: &r}, "rule 0"},
		{Finding{Line: 9}, "line 9"},
		{Finding{Setting: "s"}, "setting s"},
		{Finding{}, "-"},
	}
	for _, tt := range tests {
		if got := tt.f.Where(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.f, got, tt.want)
		}
	}
}
