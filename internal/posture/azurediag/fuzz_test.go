package azurediag

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// FuzzDecode checks that Decode never panics, refuses with a *DecodeError,
// accepts only JSON, reads back what it would write (a list of the
// settings it returns decodes to the same settings), and that Check gives
// three verdicts for whatever it accepts.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		f.Add(read(f, filepath.Base(file)))
	}
	f.Add([]byte(`{"value":[{"logs":[{"categoryGroup":"allLogs","enabled":true}],"workspaceId":"w"}]}`))
	f.Add([]byte(`{"id":"a/providers/microsoft.insights/diagnosticSettings/b","properties":{"logs":null}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		settings, err := Decode(in)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Msg == "" || settings != nil {
				t.Fatalf("error %v (%T) with %v", err, err, settings)
			}
			return
		}
		again, err := json.Marshal(settings)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("cannot read back %s: %v", again, err)
		}
		if !reflect.DeepEqual(settings, back) && !(len(settings) == 0 && len(back) == 0) {
			t.Fatalf("read back differently:\n%+v\n%+v", settings, back)
		}
		r := Check(settings, "fuzz", Options{})
		if len(r.Verdicts) != 3 {
			t.Fatalf("%d verdicts", len(r.Verdicts))
		}
		for _, v := range r.Verdicts {
			if v.Status != posture.Pass && v.Status != posture.Partial && v.Status != posture.Fail {
				t.Fatalf("verdict %+v", v)
			}
		}
	})
}

// FuzzDecodeLifecycle checks that DecodeLifecycle never panics and that
// what it accepts can be asked about kube-audit blobs.
func FuzzDecodeLifecycle(f *testing.F) {
	for _, name := range []string{"lifecycle-400d.json", "lifecycle-90d.json"} {
		f.Add(read(f, name))
	}
	f.Add([]byte(`{"rules":[{"enabled":true,"definition":{"actions":{"baseBlob":{"delete":{"daysAfterCreationGreaterThan":1}}}}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := DecodeLifecycle(in)
		if err != nil {
			if l != nil {
				t.Fatal("policy with error")
			}
			return
		}
		l.kubeAuditDeletion("")
		l.kubeAuditDeletion("/subscriptions/s/resourcegroups/r/providers/microsoft.containerservice/managedclusters/c")
		_ = l.account()
	})
}
