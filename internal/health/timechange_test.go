package health

import (
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/syslog"
)

// syslogRecord is the record of a syslog message as the syslog receiver
// builds it (internal/ingest/syslog): parsed by internal/syslog, Action
// "<facility>.<severity> <app>", Resource the host, Raw the message.
func syslogRecord(tb testing.TB, source, line string, rcv time.Time) event.Record {
	tb.Helper()
	m, err := syslog.ParseOptions{Now: rcv, Location: time.UTC}.Parse([]byte(line))
	if err != nil {
		tb.Fatalf("parse %q: %v", line, err)
	}
	action := m.Facility.String() + "." + m.Severity.String()
	if m.AppName != "" {
		action += " " + m.AppName
	}
	t := m.Timestamp
	if t.IsZero() {
		t = rcv
	}
	return event.Record{Time: t.UTC(), Received: rcv, Source: source, Table: event.TableSyslog, Action: action,
		Outcome: event.Unknown, Resource: m.Hostname, Raw: []byte(line)}
}

// Events that change time settings are classified so they can be
// reviewed (PCI DSS 10.6.3): a low-severity alert (info for a change of
// time source), naming the host and what happened.
func TestTimeChange(t *testing.T) {
	const ts = "2026-11-26T08:00:01Z"
	for _, tc := range []struct {
		name, line string
		category   string // "" not a change
		sev        alert.Severity
	}{
		{"chronyd step", `<30>1 ` + ts + ` node-1 chronyd 812 - - System clock was stepped by 3.262415 seconds`, TimeStep, alert.Low},
		{"chronyd wrong by (RFC 3164)", `<30>Nov 26 08:00:01 node-1 chronyd[812]: System clock wrong by 3.262415 seconds`, TimeStep, alert.Low},
		{"ntpd", `<30>Nov 26 08:00:01 node-2 ntpd[733]: 0.0.0.0 061c 0c clock_step +1.005321 s`, TimeStep, alert.Low},
		{"ntpd time stepped", `<30>Nov 26 08:00:01 node-2 ntpd[733]: kernel reports TIME_ERROR: 0x41: Clock Unsynchronized; time stepped`, TimeStep, alert.Low},
		{"systemd", `<30>1 ` + ts + ` node-1 systemd 1 - - Time has been changed`, TimeSet, alert.Low},
		{"timedated", `<30>1 ` + ts + ` node-1 systemd-timedated 9 - - Changed local time to Thu 2026-11-26 09:00:00 UTC`, TimeSet, alert.Low},
		{"time zone", `<30>1 ` + ts + ` node-1 systemd-timedated 9 - - Changed time zone to 'Europe/Amsterdam' (CET).`, TimeZone, alert.Low},
		{"ntp switched off", `<30>1 ` + ts + ` node-1 systemd-timedated 9 - - Set NTP to disabled.`, TimeConfig, alert.Low},
		{"audit settime", `<110>1 ` + ts + ` node-3 audispd - - - type=SYSCALL msg=audit(1764144001.123:4242): arch=c000003e syscall=227 success=yes comm="date" exe="/usr/bin/date" key="time-change" SYSCALL=clock_settime`, TimeSet, alert.Low},
		{"chronyd source", `<30>1 ` + ts + ` node-1 chronyd 812 - - Selected source 169.254.169.123 (metadata)`, TimeSource, alert.Info},
		{"timesyncd", `<30>1 ` + ts + ` node-1 systemd-timesyncd 501 - - Initial clock synchronization to Thu 2026-11-26 08:00:01.512 UTC.`, TimeStep, alert.Low},
		{"source phrase from another app", `<30>1 ` + ts + ` node-1 myapp 1 - - Selected source of truth: db`, "", 0},
		{"unrelated", `<30>1 ` + ts + ` node-1 sshd 1 - - Accepted publickey for azureuser`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			got := h.eval(syslogRecord(t, "syslog-nodes", tc.line, t0))
			if tc.category == "" {
				if len(got) != 0 {
					t.Fatalf("alerts %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("alerts %+v, want one", got)
			}
			a := got[0]
			if a.Rule != RuleTimeChange || a.Fields["category"] != tc.category || a.Severity != tc.sev ||
				a.PCI[0] != "10.6.3" || a.Fields["host"] == "" || !strings.Contains(a.Summary, a.Fields["host"]) || a.Seqs[0] != 0 {
				t.Errorf("alert %+v: want %s, %s, %v, 10.6.3, naming the host", a, RuleTimeChange, tc.category, tc.sev)
			}
		})
	}
}

// Azure operations configured as time-setting changes are classified.
func TestTimeChangeAzure(t *testing.T) {
	h := newHarness(t, Config{TimeChange: TimeChangeConfig{AzureOperations: []string{"microsoft.compute/virtualmachines/runcommand/*"}}})
	r := record("sub-cde", event.TableAzureActivity, t0)
	r.Action, r.User, r.Resource = "Microsoft.Compute/virtualMachines/runCommand/action", "alice@corp.example", "/subscriptions/s/vm-1"
	if got := h.eval(r); len(got) != 1 || got[0].Fields["category"] != TimeAzure {
		t.Fatalf("alerts %+v, want one azure-setting", got)
	}
	r.Action = "Microsoft.Compute/virtualMachines/write"
	if got := h.eval(r); len(got) != 0 {
		t.Fatalf("alerts %+v, want none", got)
	}
}
