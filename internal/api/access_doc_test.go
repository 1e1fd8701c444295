package api

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/auth"
)

var update = flag.Bool("update", false, "rewrite the generated section of docs/ACCESS.md")

const (
	accessDoc   = "../../docs/ACCESS.md"
	beginMarker = "<!-- BEGIN GENERATED (go test ./internal/api -run TestAccessDoc -update): do not edit by hand -->"
	endMarker   = "<!-- END GENERATED -->"
)

// accessTables renders the roles and the permission matrix from
// auth.Roles and Routes.
func accessTables() string {
	var b strings.Builder
	b.WriteString("### Roles\n\n| Role | Held by | May |\n|---|---|---|\n")
	for _, r := range auth.Roles() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Role, r.Team, r.Summary)
	}
	b.WriteString("\n### Permission matrix\n\n✓: allowed. Any other caller is refused: 401 without a valid credential, 403 with one of another role.\n\n")
	b.WriteString("| Endpoint | What | no credential |")
	for _, r := range auth.Roles() {
		fmt.Fprintf(&b, " %s |", r.Role)
	}
	b.WriteString("\n|---|---|:-:|")
	for range auth.Roles() {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	for _, rt := range Routes() {
		mark := func(ok bool) string {
			if ok {
				return " ✓ |"
			}
			return "   |"
		}
		fmt.Fprintf(&b, "| `%s` | %s |%s", rt.Pattern, rt.Summary, mark(rt.Public))
		for _, r := range auth.Roles() {
			fmt.Fprint(&b, mark(rt.Allows(auth.Principal{Role: r.Role})))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestAccessDoc keeps docs/ACCESS.md's roles and matrix equal to the
// tables the server uses; -update rewrites them.
func TestAccessDoc(t *testing.T) {
	doc, err := os.ReadFile(accessDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q … %q", accessDoc, beginMarker, endMarker)
	}
	want := accessTables()
	got := text[i+len(beginMarker)+1 : j]
	if got == want {
		return
	}
	if *update {
		text = text[:i+len(beginMarker)] + "\n" + want + text[j:]
		if err := os.WriteFile(accessDoc, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the permission table: run go test ./internal/api -run TestAccessDoc -update\n--- in the document\n%s\n--- from the table\n%s", accessDoc, got, want)
}
