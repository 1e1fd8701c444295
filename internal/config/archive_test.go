package config

import (
	"strings"
	"testing"
	"time"
)

func TestArchiveSection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(testing.TB, Archive)
	}{
		{name: "absent", yaml: "", check: func(t testing.TB, a Archive) {
			if a != (Archive{}) {
				t.Errorf("no archive configured, got %+v", a)
			}
		}},
		{name: "defaults", yaml: "archive:\n  url: s3://audit-archive/prod\n", check: func(t testing.TB, a Archive) {
			if time.Duration(a.Retention) != 365*24*time.Hour || time.Duration(a.Interval) != time.Minute ||
				a.MaxChunkBytes != 16<<20 || time.Duration(a.RestoreTestInterval) != 24*time.Hour || a.RestoreTestDisabled {
				t.Errorf("defaults: %+v", a)
			}
		}},
		{name: "values", yaml: "archive:\n  url: file:///mnt/worm/cdewatch\n  retention: 400d\n  interval: 30s\n  max_chunk_bytes: 4MiB\n  restore_test_interval: 168h\n  restore_test_dir: /var/tmp\n",
			check: func(t testing.TB, a Archive) {
				if time.Duration(a.Retention) != 400*24*time.Hour || time.Duration(a.Interval) != 30*time.Second || a.MaxChunkBytes != 4<<20 ||
					time.Duration(a.RestoreTestInterval) != 168*time.Hour || a.RestoreTestDir != "/var/tmp" {
					t.Errorf("values: %+v", a)
				}
			}},
		{name: "settings without url", yaml: "archive:\n  retention: 400d\n", wantErr: "line 1: archive.url: must be set"},
		{name: "bad scheme", yaml: "archive:\n  url: https://bucket.s3.amazonaws.com\n", wantErr: "line 2: archive.url: \"https://bucket.s3.amazonaws.com\": want s3://"},
		{name: "credentials in url", yaml: "archive:\n  url: s3://AK:SK@bucket/p\n", wantErr: "archive.url: must not carry credentials"},
		{name: "credentials file for a folder", yaml: "archive:\n  url: file:///x\n  credentials_file: /etc/c\n", wantErr: "line 3: archive.credentials_file"},
		{name: "credentials file with an AWS role", yaml: "archive:\n  url: s3://bucket/p?auth=iam\n  credentials_file: /etc/c\n", wantErr: "line 3: archive.credentials_file: is not used with auth=iam"},
		{name: "credentials file with Entra ID", yaml: "archive:\n  url: azblob://acct1/c01/p?auth=entra-id\n  credentials_file: /etc/c\n", wantErr: "line 3: archive.credentials_file: is not used with auth=entra-id"},
		{name: "retention too short", yaml: "archive:\n  url: s3://bucket\n  retention: 90d\n", wantErr: "line 3: archive.retention: 2160h0m0s must be between 365d and 3650d"},
		{name: "retention too long", yaml: "archive:\n  url: s3://bucket\n  retention: 36500d\n", wantErr: "archive.retention"},
		{name: "interval too long", yaml: "archive:\n  url: s3://bucket\n  interval: 2h\n", wantErr: "line 3: archive.interval"},
		{name: "chunk too small", yaml: "archive:\n  url: s3://bucket\n  max_chunk_bytes: 1KiB\n", wantErr: "line 3: archive.max_chunk_bytes"},
		{name: "restore test too often", yaml: "archive:\n  url: s3://bucket\n  restore_test_interval: 10m\n", wantErr: "line 3: archive.restore_test_interval"},
		{name: "unknown key", yaml: "archive:\n  bucket: x\n", wantErr: "line 2 (key archive.bucket): field bucket not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse: %v, want error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "SK@") {
					t.Errorf("error repeats the credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.Archive)
		})
	}
}
