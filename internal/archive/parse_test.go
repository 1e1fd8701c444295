package archive

import (
	"bytes"
	"encoding/binary"
	"flag"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

var update = flag.Bool("update", false, "rewrite golden files")

// locationCase is a ParseLocation case: the location wanted, or a part of
// the error.
type locationCase struct {
	in   string
	want Location
	err  string
}

// checkLocations runs ParseLocation cases: each parses as wanted and
// round-trips through String, or fails with the error, which never
// repeats secret.
func checkLocations(t *testing.T, tests []locationCase, secret string) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLocation(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseLocation(%q) = %+v, %v; want error %q", tc.in, got, err, tc.err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats the secret: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseLocation(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			back, err := ParseLocation(got.String())
			if err != nil || back != got {
				t.Fatalf("round trip through %q: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseLocation(t *testing.T) {
	tests := []locationCase{
		{in: "s3://audit-archive", want: Location{Scheme: "s3", Bucket: "audit-archive", Endpoint: DefaultS3Endpoint}},
		{in: "s3://audit-archive/prod/cluster-1/?region=eu-west-1", want: Location{Scheme: "s3", Bucket: "audit-archive", Prefix: "prod/cluster-1", Endpoint: DefaultS3Endpoint, Region: "eu-west-1"}},
		{in: "s3://b12/p?endpoint=127.0.0.1:7070&insecure=1", want: Location{Scheme: "s3", Bucket: "b12", Prefix: "p", Endpoint: "127.0.0.1:7070", Insecure: true}},
		{in: "s3://b12?endpoint=minio.internal&insecure=0", want: Location{Scheme: "s3", Bucket: "b12", Endpoint: "minio.internal"}},
		{in: "s3://b12/p?region=eu-west-1&auth=iam", want: Location{Scheme: "s3", Bucket: "b12", Prefix: "p", Endpoint: DefaultS3Endpoint, Region: "eu-west-1", Auth: AuthIAM}},
		{in: "s3://b12?auth=keys", want: Location{Scheme: "s3", Bucket: "b12", Endpoint: DefaultS3Endpoint}},
		{in: "s3://b12?auth=irsa", err: `auth "irsa": want keys`},
		{in: "file:///var/lib/cdewatch-archive", want: Location{Scheme: "file", Path: "/var/lib/cdewatch-archive"}},
		{in: "s3://AK:SK@bucket/p", err: "carries credentials"},
		{in: "s3://b/p", err: "3 to 63 characters"},
		{in: "s3://Bucket/p", err: "lowercase"},
		{in: "s3://-bucket/p", err: "starts and ends"},
		{in: "s3://bucket/a//b", err: "empty, '.' or '..' part"},
		{in: "s3://bucket/a/../b", err: "empty, '.' or '..' part"},
		{in: "s3://bucket?endpoint=", err: "endpoint"},
		{in: "s3://bucket?endpoint=h:", err: "endpoint"},
		{in: "s3://bucket?insecure=yes", err: "want 1 or 0"},
		{in: "s3://bucket?secret=x", err: `unknown parameter "secret"`},
		{in: "s3://bucket?region=a&region=b", err: "given 2 times"},
		{in: "file://host/path", err: "has no host"},
		{in: "file:///rel/../x", err: "clean"},
		{in: "file:///", err: "not the root"},
		{in: "file:///x?y=1", err: "takes no parameters"},
		{in: "https://bucket.s3.amazonaws.com/", err: `scheme "https"`},
		{in: "/var/archive", err: `scheme ""`},
	}
	checkLocations(t, tests, "SK")
}

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"s3://audit/prod/x?endpoint=127.0.0.1:7070&insecure=1&region=r", "file:///var/x", "s3://a%2Fb/c", "file:///a%20b?", "s3://bucket/%2e%2e",
		"azblob://cdewatchaudit/audit/prod/x", "azblob://devstoreaccount1/c01/p?endpoint=http://127.0.0.1:10000/devstoreaccount1/",
		"azblob://acct1/c01?endpoint=https%3A%2F%2Facct1.blob.core.usgovcloudapi.net%3A443%2Fx", "azblob://acct1/c01?endpoint=http://[::1]:10000",
		"azblob://acct1/c-1/%2e%2e?endpoint=https://a/b//", "azblob://acct1/c01?endpoint=http://127.0.0.1:010"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocation(s)
		if err != nil {
			return
		}
		back, err := ParseLocation(loc.String())
		if err != nil || back != loc {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, loc, loc.String(), back, err)
		}
		if e, err := url.Parse(loc.Endpoint); loc.Scheme == "azblob" && (err != nil || e.Scheme == "http" && e.Hostname() != "localhost" && !net.ParseIP(e.Hostname()).IsLoopback()) {
			t.Fatalf("%q: endpoint %q is not https nor a loopback address", s, loc.Endpoint)
		}
		if loc.Scheme == "s3" || loc.Scheme == "azblob" {
			for _, part := range strings.Split(loc.Prefix, "/") {
				if loc.Prefix != "" && (part == "" || part == "." || part == "..") {
					t.Fatalf("%q: prefix %q not clean", s, loc.Prefix)
				}
			}
		}
	})
}

func TestParseObjectName(t *testing.T) {
	tests := []struct {
		in   string
		want ObjectName
		err  string
	}{
		{in: "log.pub", want: ObjectName{Kind: KindVerifier}},
		{in: "segments/00000000000000000205/00000000000000001791", want: ObjectName{Kind: KindSegment, Segment: 205, Offset: 1791}},
		{in: "checkpoints/00000000000000000412", want: ObjectName{Kind: KindCheckpoints, Offset: 412}},
		{in: "segments/00000000000000000205", err: "want segments/"},
		{in: "segments/205/00000000000000001791", err: "want 20 digits"},
		{in: "segments/00000000000000000205/0000000000000000179x", err: "want 20 digits"},
		{in: "segments/00000000000000000205/99999999999999999999", err: "offset"},
		{in: "segments/00000000000000000205/09223372036854775808", err: "out of range"},
		{in: "checkpoints/-0000000000000000412", err: "want 20 digits"},
		{in: "checkpoints/00000000000000000412/x", err: "want 20 digits"},
		{in: "cursor.json", err: "not part of a cdewatch archive"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseObjectName(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseObjectName(%q) = %+v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want || got.String() != tc.in {
				t.Fatalf("ParseObjectName(%q) = %+v (%q), %v; want %+v", tc.in, got, got.String(), err, tc.want)
			}
		})
	}
}

func FuzzParseObjectName(f *testing.F) {
	for _, s := range []string{"log.pub", "segments/00000000000000000205/00000000000000001791", "checkpoints/00000000000000000412", "segments//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseObjectName(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("%q parsed to %+v, which names %q", s, n, n.String())
		}
		if n.Offset < 0 {
			t.Fatalf("%q: negative offset", s)
		}
	})
}

// TestCursorGolden pins the state file format (FORMAT.md).
func TestCursorGolden(t *testing.T) {
	c := cursor{Version: 1, Target: "s3://audit/prod?endpoint=127.0.0.1%3A7070&insecure=1", Origin: "pci.example.com/cdewatch",
		VerifierArchived: true, Segment: 1048576, Offset: 4194320, Leaf: 1100000, CheckpointOffset: 8192, CheckpointSize: 1099990,
		LastRestoreTest: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)}
	b, err := c.marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "state.json")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("state file:\n%s\nwant (%s):\n%s", b, golden, want)
	}
	back, err := parseCursor(want)
	if err != nil || back != c {
		t.Fatalf("parse %s: %+v, %v", golden, back, err)
	}
}

func TestParseCursorRejects(t *testing.T) {
	tests := []struct{ name, in, err string }{
		{"unknown field", `{"version":1,"extra":1}`, "unknown field"},
		{"version", `{"version":2}`, "version 2"},
		{"negative offset", `{"version":1,"offset":-1}`, "negative"},
		{"offset inside header", `{"version":1,"offset":8}`, "inside a segment header"},
		{"leaf before segment", `{"version":1,"segment":10,"leaf":5,"offset":16}`, "precedes"},
		{"offset 0 wrong leaf", `{"version":1,"segment":10,"leaf":12}`, "offset 0"},
		{"checkpoint beyond", `{"version":1,"checkpoint_size":3}`, "beyond"},
		{"trailing data", `{"version":1} {}`, "after the JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseCursor([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("parseCursor(%s): %v, want %q", tc.in, err, tc.err)
			}
		})
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add([]byte(`{"version":1,"segment":10,"offset":16,"leaf":12,"checkpoint_offset":4,"checkpoint_size":11}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCursor(b)
		if err != nil {
			return
		}
		out, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseCursor(out)
		if err != nil || back.Leaf != c.Leaf || back.Offset != c.Offset || back.Segment != c.Segment || back.CheckpointOffset != c.CheckpointOffset {
			t.Fatalf("round trip of %+v: %+v, %v", c, back, err)
		}
	})
}

// FuzzSplitCheckpointLog: the checkpoint log a restore reads from the
// archive is split without panicking, and what splits joins back.
func FuzzSplitCheckpointLog(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x03abc\x00\x00\x00\x00"))
	f.Add([]byte("\x00\x00\x00\x05ab"))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		notes, err := ledger.SplitCheckpointLog(b)
		if err != nil {
			return
		}
		var back []byte
		for _, n := range notes {
			back = binary.BigEndian.AppendUint32(back, uint32(len(n)))
			back = append(back, n...)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("%x split into %d notes that join to %x", b, len(notes), back)
		}
	})
}
