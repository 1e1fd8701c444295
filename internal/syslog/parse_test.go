package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testNow is the ParseOptions.Now of the golden tests.
var testNow = time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)

func testOptions() ParseOptions { return ParseOptions{Now: testNow} }

// goldenResult is how the golden files render a Parse result.
type goldenResult struct {
	Input        string      `json:"input,omitempty"` // lines.test only
	Error        string      `json:"error,omitempty"`
	Offset       int         `json:"offset,omitempty"`
	Format       string      `json:"format,omitempty"`
	Facility     string      `json:"facility,omitempty"` // name (number)
	Severity     string      `json:"severity,omitempty"`
	NoPRI        bool        `json:"noPRI,omitempty"`
	Version      int         `json:"version,omitempty"`
	Timestamp    string      `json:"timestamp,omitempty"`
	Hostname     string      `json:"hostname,omitempty"`
	AppName      string      `json:"appName,omitempty"`
	ProcID       string      `json:"procID,omitempty"`
	MsgID        string      `json:"msgID,omitempty"`
	Structured   []SDElement `json:"structuredData,omitempty"`
	Message      *string     `json:"message,omitempty"`
	BOM          bool        `json:"bom,omitempty"`
	RoundTripped string      `json:"rfc5424,omitempty"` // AppendRFC5424 of a message parsed from RFC 3164
}

func render(in []byte, m Message, err error) goldenResult {
	var g goldenResult
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			return goldenResult{Error: "not a *ParseError: " + err.Error()}
		}
		return goldenResult{Error: pe.Reason, Offset: pe.Offset}
	}
	g = goldenResult{
		Format:     m.Format.String(),
		Facility:   m.Facility.String() + " (" + strconv.Itoa(int(m.Facility)) + ")",
		Severity:   m.Severity.String() + " (" + strconv.Itoa(int(m.Severity)) + ")",
		NoPRI:      m.NoPRI,
		Version:    m.Version,
		Hostname:   m.Hostname,
		AppName:    m.AppName,
		ProcID:     m.ProcID,
		MsgID:      m.MsgID,
		Structured: m.StructuredData,
		Message:    &m.Message,
		BOM:        m.BOM,
	}
	if !m.Timestamp.IsZero() {
		g.Timestamp = m.Timestamp.Format(time.RFC3339Nano)
	}
	if m.Format == RFC3164 {
		g.RoundTripped = string(m.AppendRFC5424(nil))
	}
	return g
}

// TestGoldenFiles parses each testdata/parse/NAME.txt (one message, exact
// bytes: real messages from logger and rsyslog, the RFC examples and edge
// cases) and compares the result with NAME.json.
func TestGoldenFiles(t *testing.T) {
	for _, path := range golden.Glob(t, filepath.Join("testdata", "parse", "*.txt")) {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			in := golden.Read(t, path)
			m, err := testOptions().Parse(in)
			golden.Check(t, strings.TrimSuffix(path, ".txt")+".json", golden.JSON(t, render(in, m, err)), *update)
			checkInvariants(t, in, m, err)
		})
	}
}

// TestGoldenLines parses each case of testdata/lines.test and compares the
// results with lines.golden.json.
func TestGoldenLines(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "lines.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenResult
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		in := []byte(line)
		if strings.HasPrefix(line, `"`) {
			s, err := strconv.Unquote(line)
			if err != nil {
				t.Fatalf("lines.test:%d: %v", n, err)
			}
			in = []byte(s)
		}
		m, err := testOptions().Parse(in)
		g := render(in, m, err)
		g.Input = line
		out = append(out, g)
		checkInvariants(t, in, m, err)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "lines.golden.json"), golden.JSON(t, out), *update)
}

// checkInvariants checks what holds for every Parse result: a
// *ParseError within the input, or a message whose fields are valid, and
// that round-trips through AppendRFC5424.
func checkInvariants(tb testing.TB, in []byte, m Message, err error) {
	tb.Helper()
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			tb.Fatalf("error %v is not a *ParseError", err)
		}
		if pe.Offset < 0 || pe.Offset > len(in) || pe.Reason == "" {
			tb.Fatalf("ParseError %+v out of the input (%d bytes)", pe, len(in))
		}
		return
	}
	if m.Format != RFC5424 && m.Format != RFC3164 {
		tb.Fatalf("format %v", m.Format)
	}
	if m.Facility > Local7 || m.Severity > Debug {
		tb.Fatalf("PRI out of range: %d.%d", m.Facility, m.Severity)
	}
	if m.NoPRI && (m.Facility != User || m.Severity != Notice) {
		tb.Fatalf("NoPRI with %v.%v", m.Facility, m.Severity)
	}
	for name, v := range map[string]string{"hostname": m.Hostname, "app-name": m.AppName, "procid": m.ProcID, "msgid": m.MsgID} {
		for i := 0; i < len(v); i++ {
			if v[i] < 33 || v[i] > 126 {
				tb.Fatalf("%s %q holds a byte outside printable US-ASCII", name, v)
			}
		}
		if v == "-" {
			tb.Fatalf("%s is the NILVALUE", name)
		}
	}
	if !validUTF8(m.Message) {
		tb.Fatalf("message %q is not valid UTF-8", m.Message)
	}
	if strings.HasSuffix(m.Message, "\n") || strings.HasSuffix(m.Message, "\r") || strings.HasSuffix(m.Message, "\x00") {
		tb.Fatalf("message %q keeps a trailer", m.Message)
	}
	for _, e := range m.StructuredData {
		for _, p := range e.Params {
			if !validUTF8(p.Value) {
				tb.Fatalf("SD value %q is not valid UTF-8", p.Value)
			}
		}
	}
	if !m.NoPRI && m.Format == RFC5424 && !bytes.HasPrefix(in, []byte("<")) {
		tb.Fatal("RFC 5424 without PRI")
	}
	// Round trip: encoding as RFC 5424 and parsing again gives the same
	// message, whatever it was parsed from.
	enc := m.AppendRFC5424(nil)
	m2, err := testOptions().Parse(enc)
	if err != nil {
		tb.Fatalf("parsing the RFC 5424 encoding %q of %q: %v", enc, in, err)
	}
	if !sameMessage(m, m2) {
		tb.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", in, enc, m2, m)
	}
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// sameMessage compares what AppendRFC5424 keeps.
func sameMessage(a, b Message) bool {
	if a.Facility != b.Facility || a.Severity != b.Severity || a.Hostname != b.Hostname || a.AppName != b.AppName ||
		a.ProcID != b.ProcID || a.MsgID != b.MsgID || a.Message != b.Message || len(a.StructuredData) != len(b.StructuredData) {
		return false
	}
	if !a.Timestamp.Equal(b.Timestamp) {
		return false
	}
	_, ao := a.Timestamp.Zone()
	_, bo := b.Timestamp.Zone()
	if ao != bo {
		return false
	}
	for i := range a.StructuredData {
		x, y := a.StructuredData[i], b.StructuredData[i]
		if x.ID != y.ID || len(x.Params) != len(y.Params) {
			return false
		}
		for j := range x.Params {
			if x.Params[j] != y.Params[j] {
				return false
			}
		}
	}
	return true
}

// TestYear checks where RFC 3164 timestamps, which have no year, land:
// closest to now, never more than a month after it.
func TestYear(t *testing.T) {
	for _, tc := range []struct {
		now, stamp string
		want       string
	}{
		{"2026-11-26T16:00:00Z", "Nov 26 15:59:00", "2026-11-26T15:59:00Z"},
		{"2026-11-26T16:00:00Z", "Nov 26 16:01:00", "2026-11-26T16:01:00Z"}, // sender's clock a little ahead
		{"2026-11-26T16:00:00Z", "Dec 26 16:00:00", "2026-12-26T16:00:00Z"}, // exactly a month ahead
		{"2026-11-26T16:00:00Z", "Dec 26 16:00:01", "2025-12-26T16:00:01Z"}, // just over
		{"2027-01-01T00:00:10Z", "Dec 31 23:59:59", "2026-12-31T23:59:59Z"}, // new year: yesterday
		{"2026-12-31T23:59:50Z", "Jan  1 00:00:05", "2027-01-01T00:00:05Z"}, // sender already in the new year
		{"2026-06-15T12:00:00Z", "Aug 15 12:00:00", "2025-08-15T12:00:00Z"}, // two months ahead: last year
		{"2026-03-10T12:00:00Z", "Feb 29 12:00:00", "2024-02-29T12:00:00Z"}, // the last leap day
		{"2028-03-10T12:00:00Z", "Feb 29 12:00:00", "2028-02-29T12:00:00Z"},
		{"2027-02-10T12:00:00Z", "Feb 29 12:00:00", "2024-02-29T12:00:00Z"}, // 2028 is more than a month ahead
	} {
		now, err := time.Parse(time.RFC3339, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseOptions{Now: now}.Parse([]byte("<13>" + tc.stamp + " host app: x"))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Timestamp.Format(time.RFC3339); got != tc.want {
			t.Errorf("now %s, %q: got %s, want %s", tc.now, tc.stamp, got, tc.want)
		}
	}
}

// TestLocation checks that timestamps without a zone are in Location and
// those with one keep theirs.
func TestLocation(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	o := ParseOptions{Now: testNow, Location: ny}
	for _, tc := range []struct{ in, want string }{
		{"<13>Nov 26 10:00:00 host app: x", "2026-11-26T10:00:00-05:00"},
		{"<13>Jul  4 10:00:00 host app: x", "2026-07-04T10:00:00-04:00"},
		{"<13>2026-11-26T10:00:00 host app: x", "2026-11-26T10:00:00-05:00"},
		{"<13>2026-11-26T10:00:00Z host app: x", "2026-11-26T10:00:00Z"},
		{"<13>1 2026-11-26T10:00:00+02:00 host app - - - x", "2026-11-26T10:00:00+02:00"},
	} {
		m, err := o.Parse([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := m.Timestamp.Format(time.RFC3339); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestRequirePRI(t *testing.T) {
	_, err := ParseOptions{RequirePRI: true}.Parse([]byte("hello"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Reason != "PRI: missing '<'" || pe.Offset != 0 {
		t.Fatalf("got %v, want PRI: missing '<'", err)
	}
	if got := err.Error(); got != "syslog: byte 0: PRI: missing '<'" {
		t.Errorf("Error() = %q", got)
	}
	m, err := Parse([]byte("hello"))
	if err != nil || !m.NoPRI || m.Priority() != DefaultPRI {
		t.Fatalf("without RequirePRI: %+v, %v", m, err)
	}
}

func TestNames(t *testing.T) {
	want := []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
		"ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4",
		"local5", "local6", "local7"}
	for i, n := range want {
		if got := Facility(i).String(); got != n {
			t.Errorf("Facility(%d) = %s, want %s", i, got, n)
		}
		if f, ok := ParseFacility(n); !ok || f != Facility(i) {
			t.Errorf("ParseFacility(%s) = %d, %v", n, f, ok)
		}
	}
	for i, n := range []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"} {
		if got := Severity(i).String(); got != n {
			t.Errorf("Severity(%d) = %s, want %s", i, got, n)
		}
		if s, ok := ParseSeverity(n); !ok || s != Severity(i) {
			t.Errorf("ParseSeverity(%s) = %d, %v", n, s, ok)
		}
	}
	if Facility(24).String() != "facility24" || Severity(8).String() != "severity8" || Format(9).String() != "Format(9)" {
		t.Error("names of out-of-range values")
	}
	if _, ok := ParseFacility("nope"); ok {
		t.Error("ParseFacility(nope) succeeded")
	}
}

func TestParam(t *testing.T) {
	m, err := Parse([]byte(`<14>1 - h a - - [a x="1"][b y="2" y="3"] m`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, name, want string
		ok             bool
	}{{"a", "x", "1", true}, {"b", "y", "2", true}, {"b", "x", "", false}, {"c", "x", "", false}} {
		if v, ok := m.Param(tc.id, tc.name); v != tc.want || ok != tc.ok {
			t.Errorf("Param(%s, %s) = %q, %v", tc.id, tc.name, v, ok)
		}
	}
}

// TestAppendRFC5424 checks the encoding of values a parsed message never
// has.
func TestAppendRFC5424(t *testing.T) {
	m := Message{Facility: 30, Severity: 9, Hostname: "a b\xff", AppName: strings.Repeat("x", 60),
		StructuredData: []SDElement{{ID: "", Params: []SDParam{{Name: "a=b", Value: `q"\]`}}}},
		Timestamp:      time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("", 3600+30)),
		Message:        "\uFEFFtext"}
	got := string(m.AppendRFC5424(nil))
	want := `<185>1 2026-01-02T03:04:05.0000006Z a?b? ` + strings.Repeat("x", 48) + ` - - [_ a_b="q\"\\\]"] ` + "\xef\xbb\xbf\uFEFFtext"
	// 03:04:05 at +01:00:30 is 02:03:35 UTC.
	want = strings.Replace(want, "2026-01-02T03:04:05.0000006Z", "2026-01-02T02:03:35.0000006Z", 1)
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if _, err := Parse([]byte(got)); err != nil {
		t.Errorf("the encoding does not parse: %v", err)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct{ name, msg string }{
		{"rfc5424", `<86>1 2026-11-26T15:53:19.819474+00:00 web-01.example.com sshd 4242 - [timeQuality tzKnown="1" isSynced="0"] Failed password for invalid user admin from 198.51.100.7 port 52144 ssh2`},
		{"rfc3164", `<85>Nov 26 15:53:19 web-01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := []byte(tc.msg)
			o := testOptions()
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.Parse(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
