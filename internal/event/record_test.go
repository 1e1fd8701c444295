package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleRecord() *Record {
	return &Record{
		Time: time.Date(2026, 11, 26, 10, 15, 30, 123456000, time.UTC), Received: time.Date(2026, 11, 26, 10, 15, 31, 0, time.UTC),
		Source: "aks-pci-prod", Table: TableKubeAudit, Key: "5e0c-1/ResponseComplete",
		User: "bob@corp.example", Action: "create pods/exec", Outcome: Success, Status: 101,
		OriginIP: "203.0.113.7", UserAgent: "kubectl/v1.31.2", Resource: "payments/pods/card-processor-0",
		PCI: CHDAccess | AdminAction, Raw: []byte(`{"kind":"Event"}`),
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []*Record{sampleRecord(), {Time: time.Unix(0, 0).UTC(), Received: time.Unix(0, 0).UTC(), Raw: []byte{}}} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, *r)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Error("encoding is not deterministic")
		}
	}
}

func TestRecordRejectsDamage(t *testing.T) {
	good, _ := sampleRecord().MarshalBinary()
	cases := map[string][]byte{
		"empty":         {},
		"bad version":   append([]byte{2}, good[1:]...),
		"truncated":     good[:len(good)-3],
		"trailing byte": append(append([]byte(nil), good...), 0),
	}
	for name, b := range cases {
		var r Record
		if err := r.UnmarshalBinary(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestClassNames(t *testing.T) {
	c := CHDAccess | InvalidAccess | SystemObject
	if got, want := c.String(), "chd-access,invalid-access,system-object"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := c.Requirements(); !reflect.DeepEqual(got, []string{"10.2.1.1", "10.2.1.4", "10.2.1.7"}) {
		t.Errorf("Requirements = %v", got)
	}
	for _, n := range append(c.Names(), "10.2.1.5") {
		if _, err := ParseClass(n); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseClass("nope"); err == nil {
		t.Error("ParseClass accepted an unknown class")
	}
}

func FuzzRecordDecode(f *testing.F) {
	good, _ := sampleRecord().MarshalBinary()
	f.Add(good)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if r.UnmarshalBinary(b) != nil {
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var r2 Record
		if err := r2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
	})
}

func TestMissing(t *testing.T) {
	full := Record{User: "u", Action: "get", Time: time.Unix(1, 0), Outcome: Success, OriginIP: "10.0.0.1", Resource: "r"}
	for _, tc := range []struct {
		name string
		edit func(*Record)
		want string
	}{
		{"complete", func(*Record) {}, ""},
		{"no user", func(r *Record) { r.User = "" }, "user"},
		{"unknown outcome", func(r *Record) { r.Outcome = Unknown }, "outcome"},
		{"empty", func(r *Record) { *r = Record{} }, "user,type,time,outcome,origin,resource"},
	} {
		r := full
		tc.edit(&r)
		if got := r.Missing().String(); got != tc.want {
			t.Errorf("%s: Missing = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestZeroTimeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  func() []byte
	}{
		{"zero time", func() []byte { b, _ := (&Record{Received: time.Unix(5, 0)}).MarshalBinary(); return b }},
		{"legacy encoding", func() []byte {
			// Go's zero time as UnixNano, as records were written before.
			b := []byte{encodingVersion}
			b = binary.AppendVarint(b, time.Time{}.UnixNano())
			b = binary.AppendVarint(b, time.Unix(5, 0).UnixNano())
			for range 9 {
				b = append(b, 0)
			}
			return append(b, 0, 0, 0)
		}},
	} {
		var r Record
		if err := r.UnmarshalBinary(tc.enc()); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !r.Time.IsZero() || !r.Received.Equal(time.Unix(5, 0)) || r.Missing()&DetailTime == 0 {
			t.Errorf("%s: time %v received %v missing %v", tc.name, r.Time, r.Received, r.Missing())
		}
	}
}
