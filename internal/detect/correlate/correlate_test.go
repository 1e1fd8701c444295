package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// actionIs matches records whose action is one of the given ones.
type actionIs []string

func (a actionIs) Match(e *detect.Event) bool {
	for _, x := range a {
		if e.Rec.Action == x {
			return true
		}
	}
	return false
}

// ev is a test event: "<minute> <action> <user> <origin>".
func ev(seq uint64, spec string) *detect.Event {
	var min int
	var action, user, origin string
	fmt.Sscan(spec, &min, &action, &user, &origin)
	action = strings.ReplaceAll(action, "_", " ")
	return detect.NewEvent(seq, event.Record{Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute),
		Source: "c1", Table: event.TableKubeAudit, User: user, Action: action, OriginIP: origin, Raw: []byte(`{}`)})
}

func failedLogins() *Threshold {
	return &Threshold{Meta: Meta{ID: "burst", Title: "Failed logins", Severity: alert.High, PCI: []string{"10.2.1.4"}},
		Match: actionIs{"login_failed", "login failed"}, GroupBy: []string{"cdewatch.origin"}, Count: 5, Window: 10 * time.Minute}
}

func sprayed() *Threshold {
	return &Threshold{Meta: Meta{ID: "spray", Title: "Password spray", Severity: alert.High},
		Match: actionIs{"login failed"}, GroupBy: []string{"cdewatch.origin"}, Distinct: "cdewatch.user", Count: 3, Window: 10 * time.Minute}
}

func bindThenRead() *Sequence {
	return &Sequence{Meta: Meta{ID: "bind-read", Title: "Role binding then secret read", Severity: alert.Critical},
		Steps: []detect.Matcher{actionIs{"create rolebindings"}, actionIs{"get secrets"}}, GroupBy: []string{"cdewatch.user"}, Window: 15 * time.Minute}
}

func TestEngine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []string
		want   []string // "rule@seq-of-last-event"
	}{
		{"five failures in ten minutes", []string{"0 login_failed u1 1.2.3.4", "1 login_failed u2 1.2.3.4", "2 login_failed u1 1.2.3.4", "3 login_failed u1 1.2.3.4", "4 login_failed u1 1.2.3.4"}, []string{"burst@4"}},
		{"four are not enough", []string{"0 login_failed u1 1.2.3.4", "1 login_failed u1 1.2.3.4", "2 login_failed u1 1.2.3.4", "3 login_failed u1 1.2.3.4"}, nil},
		{"spread over eleven minutes", []string{"0 login_failed u 1.2.3.4", "3 login_failed u 1.2.3.4", "6 login_failed u 1.2.3.4", "9 login_failed u 1.2.3.4", "11 login_failed u 1.2.3.4"}, nil},
		{"two origins", []string{"0 login_failed u 1.1.1.1", "1 login_failed u 2.2.2.2", "2 login_failed u 1.1.1.1", "3 login_failed u 2.2.2.2", "4 login_failed u 1.1.1.1", "5 login_failed u 2.2.2.2", "6 login_failed u 1.1.1.1"}, nil},
		{"counting restarts after an alert", []string{"0 login_failed u 9.9.9.9", "0 login_failed u 9.9.9.9", "0 login_failed u 9.9.9.9", "0 login_failed u 9.9.9.9", "0 login_failed u 9.9.9.9", "1 login_failed u 9.9.9.9"}, []string{"burst@4"}},
		{"three users from one address", []string{"0 login_failed a 5.5.5.5", "1 login_failed b 5.5.5.5", "2 login_failed c 5.5.5.5"}, []string{"spray@2"}},
		{"same user thrice is no spray", []string{"0 login_failed a 5.5.5.5", "1 login_failed a 5.5.5.5", "2 login_failed a 5.5.5.5"}, nil},
		{"bind then read", []string{"0 create_rolebindings mallory -", "5 list_pods mallory -", "14 get_secrets mallory -"}, []string{"bind-read@2"}},
		{"read then bind", []string{"0 get_secrets mallory -", "5 create_rolebindings mallory -"}, nil},
		{"another subject reads", []string{"0 create_rolebindings mallory -", "5 get_secrets alice -"}, nil},
		{"read too late", []string{"0 create_rolebindings mallory -", "16 get_secrets mallory -"}, nil},
		{"a new binding restarts the window", []string{"0 create_rolebindings mallory -", "10 create_rolebindings mallory -", "20 get_secrets mallory -"}, []string{"bind-read@2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en, err := New([]*Threshold{failedLogins(), sprayed()}, []*Sequence{bindThenRead()})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, spec := range tc.events {
				en.Eval(ev(uint64(i), spec), func(a alert.Alert) {
					got = append(got, fmt.Sprintf("%s@%d", a.Rule, a.Seqs[len(a.Seqs)-1]))
				})
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("alerts %v, want %v", got, tc.want)
			}
		})
	}
}

// A window in progress survives a restart through MarshalState.
func TestEngineState(t *testing.T) {
	en, _ := New([]*Threshold{failedLogins()}, []*Sequence{bindThenRead()})
	fired := 0
	emit := func(a alert.Alert) {
		fired++
		if a.Kind == "threshold" && (len(a.Seqs) != 5 || a.Key != "burst 1.2.3.4" || a.Fields["cdewatch.origin"] != "1.2.3.4") {
			t.Errorf("alert %+v", a)
		}
	}
	for i := range 3 {
		en.Eval(ev(uint64(i), fmt.Sprintf("%d login_failed u 1.2.3.4", i)), emit)
	}
	en.Eval(ev(3, "3 create_rolebindings mallory -"), emit)
	b, err := en.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	en2, _ := New([]*Threshold{failedLogins()}, []*Sequence{bindThenRead()})
	if err := en2.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	for i := 4; i < 6; i++ {
		en2.Eval(ev(uint64(i), fmt.Sprintf("%d login_failed u 1.2.3.4", i)), emit)
	}
	en2.Eval(ev(6, "6 get_secrets mallory -"), emit)
	if fired != 2 {
		t.Errorf("%d alerts after the restart, want 2", fired)
	}
	if err := en2.UnmarshalState([]byte("{not json")); err == nil {
		t.Error("bad state accepted")
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		th   []*Threshold
		sq   []*Sequence
	}{
		{"no id", []*Threshold{{Match: actionIs{"x"}, Count: 1, Window: time.Minute}}, nil},
		{"no window", []*Threshold{{Meta: Meta{ID: "a"}, Match: actionIs{"x"}, Count: 1}}, nil},
		{"zero count", []*Threshold{{Meta: Meta{ID: "a"}, Match: actionIs{"x"}, Window: time.Minute}}, nil},
		{"one step", nil, []*Sequence{{Meta: Meta{ID: "s"}, Steps: []detect.Matcher{actionIs{"x"}}, Window: time.Minute}}},
		{"id twice", []*Threshold{failedLogins()}, []*Sequence{{Meta: Meta{ID: "burst"}, Steps: []detect.Matcher{actionIs{"x"}, actionIs{"y"}}, Window: time.Minute}}},
	} {
		if _, err := New(tc.th, tc.sq); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
