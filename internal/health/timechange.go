package health

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// Categories of time-setting events.
const (
	TimeStep   = "clock-step"    // the clock was stepped by the time daemon
	TimeSet    = "clock-set"     // the clock was set (by a person, a program, a syscall)
	TimeZone   = "time-zone"     // the time zone changed
	TimeSource = "time-source"   // the time source was selected, added or removed
	TimeConfig = "time-config"   // time synchronization switched on or off, or reconfigured
	TimeAzure  = "azure-setting" // an Azure operation configured as a time-setting change
)

// TimePhrase classifies the syslog messages containing Phrase (ASCII,
// case-insensitive), of any application or, when Apps is set, of those
// (the APP-NAME of the message, case-insensitive).
type TimePhrase struct {
	Phrase   string
	Category string
	Severity alert.Severity
	Apps     []string
}

// timeApps are the time daemons and tools, for the phrases that only mean
// a change from them.
var timeApps = []string{"chronyd", "chrony", "ntpd", "ntpdate", "openntpd", "systemd-timesyncd", "systemd-timedated", "timedatectl", "w32time", "ptp4l", "phc2sys"}

// DefaultTimePhrases returns the built-in classifications: chronyd, ntpd,
// systemd-timesyncd and systemd-timedated messages, systemd's notice of a
// changed clock, and the Linux audit records of clock changes.
func DefaultTimePhrases() []TimePhrase {
	return slices.Clone(timePhrases)
}

var timePhrases = []TimePhrase{
	{Phrase: "System clock was stepped", Category: TimeStep, Severity: alert.Low},   // chronyd
	{Phrase: "System clock wrong by", Category: TimeStep, Severity: alert.Low},      // chronyd, before a step
	{Phrase: "time stepped", Category: TimeStep, Severity: alert.Low},               // ntpd (kernel discipline)
	{Phrase: "step time server", Category: TimeStep, Severity: alert.Low},           // ntpd, ntpdate
	{Phrase: "adjust time server", Category: TimeStep, Severity: alert.Low},         // ntpdate
	{Phrase: "clock_step", Category: TimeStep, Severity: alert.Low, Apps: timeApps}, // ntpd event log
	{Phrase: "Time has been changed", Category: TimeSet, Severity: alert.Low},       // systemd
	{Phrase: "Changed local time", Category: TimeSet, Severity: alert.Low},          // systemd-timedated
	{Phrase: "clock_settime", Category: TimeSet, Severity: alert.Low},               // audit (syscall name), strace-like logs
	{Phrase: "settimeofday", Category: TimeSet, Severity: alert.Low},                // audit, kernel
	{Phrase: "type=TIME_INJOFFSET", Category: TimeSet, Severity: alert.Low},         // Linux audit
	{Phrase: "type=TIME_ADJNTPVAL", Category: TimeConfig, Severity: alert.Low},      // Linux audit
	{Phrase: "Changed time zone", Category: TimeZone, Severity: alert.Low},          // systemd-timedated
	{Phrase: "Set NTP to", Category: TimeConfig, Severity: alert.Low},               // systemd-timedated
	{Phrase: "Initial clock synchronization", Category: TimeStep, Severity: alert.Low, // systemd-timesyncd
		Apps: timeApps},
	{Phrase: "Selected source", Category: TimeSource, Severity: alert.Info, Apps: timeApps},             // chronyd
	{Phrase: "Added source", Category: TimeSource, Severity: alert.Info, Apps: timeApps},                // chronyd
	{Phrase: "Removed source", Category: TimeSource, Severity: alert.Info, Apps: timeApps},              // chronyd
	{Phrase: "Contacted time server", Category: TimeSource, Severity: alert.Info, Apps: timeApps},       // systemd-timesyncd
	{Phrase: "Synchronized to time server", Category: TimeSource, Severity: alert.Info, Apps: timeApps}, // systemd-timesyncd
	{Phrase: "new NTP server", Category: TimeSource, Severity: alert.Info, Apps: timeApps},
}

// syslogApp returns the APP-NAME of a Syslog record: its Action is
// "<facility>.<severity> <app>".
func syslogApp(action string) string {
	_, app, _ := strings.Cut(action, " ")
	return app
}

// timeMatcher finds the time phrases in syslog messages: the message is
// lowercased once into a reused buffer, then searched for a few anchor
// words; only the phrases whose anchor is there are searched for.
type timeMatcher struct {
	phrases []TimePhrase
	lower   [][]byte              // the phrases, lowercased
	anchor  []int                 // index in anchors of each phrase's anchor
	anchors [][]byte              // distinct anchors
	appSet  []int                 // index in appSets of each phrase's apps; -1: any app
	appSets []map[string]struct{} // distinct sets of apps, lowercased
	buf     []byte
	app     []byte
	found   []int8 // per anchor: 0 unknown, 1 present, -1 absent
	inSet   []int8 // per app set: the same
}

// anchorWords are words most time phrases contain; a phrase without any
// is its own anchor.
var anchorWords = []string{"clock", "time", "ntp", "source", "zone"}

func newTimeMatcher(phrases []TimePhrase) *timeMatcher {
	tm := &timeMatcher{phrases: phrases}
	idx, sets := map[string]int{}, map[string]int{}
	for _, p := range phrases {
		low := strings.ToLower(p.Phrase)
		tm.lower = append(tm.lower, []byte(low))
		a := low
		for _, w := range anchorWords {
			if strings.Contains(low, w) {
				a = w
				break
			}
		}
		i, ok := idx[a]
		if !ok {
			i = len(tm.anchors)
			idx[a] = i
			tm.anchors = append(tm.anchors, []byte(a))
		}
		tm.anchor = append(tm.anchor, i)
		set := -1
		if len(p.Apps) > 0 {
			names := make([]string, len(p.Apps))
			for j, app := range p.Apps {
				names[j] = strings.ToLower(app)
			}
			slices.Sort(names)
			key := "\x00" + strings.Join(names, "\x00")
			var ok bool
			if set, ok = sets[key]; !ok {
				set = len(tm.appSets)
				sets[key] = set
				m := map[string]struct{}{}
				for _, n := range names {
					m[n] = struct{}{}
				}
				tm.appSets = append(tm.appSets, m)
			}
		}
		tm.appSet = append(tm.appSet, set)
	}
	tm.found = make([]int8, len(tm.anchors))
	tm.inSet = make([]int8, len(tm.appSets))
	return tm
}

// lowerInto sets dst to b lowercased (ASCII).
func lowerInto(dst []byte, b []byte) []byte {
	dst = slices.Grow(dst[:0], len(b))[:len(b)]
	for i, c := range b {
		dst[i] = lowerTable[c]
	}
	return dst
}

var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = lowerASCII(byte(i))
	}
	return t
}()

// match returns the first phrase a message of app contains (ASCII case
// ignored). Not safe for concurrent use.
func (tm *timeMatcher) match(app string, msg []byte) (*TimePhrase, bool) {
	tm.buf = lowerInto(tm.buf, msg)
	tm.app = lowerInto(tm.app, []byte(app))
	clear(tm.found)
	clear(tm.inSet)
	for i := range tm.phrases {
		if set := tm.appSet[i]; set >= 0 {
			if tm.inSet[set] == 0 {
				tm.inSet[set] = -1
				if _, ok := tm.appSets[set][string(tm.app)]; ok {
					tm.inSet[set] = 1
				}
			}
			if tm.inSet[set] < 0 {
				continue
			}
		}
		a := tm.anchor[i]
		if tm.found[a] == 0 {
			tm.found[a] = -1
			if bytes.Contains(tm.buf, tm.anchors[a]) {
				tm.found[a] = 1
			}
		}
		if tm.found[a] > 0 && bytes.Contains(tm.buf, tm.lower[i]) {
			return &tm.phrases[i], true
		}
	}
	return nil, false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// excerpt returns up to n bytes of b as valid UTF-8 text.
func excerpt(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// timeEvent classifies a Syslog or AzureActivity record that changes time
// settings and raises its alert (PCI DSS 10.6.3: changes to time settings
// are logged, monitored and reviewed).
func (m *Monitor) timeEvent(src *source, r *event.Record, seq uint64, emit func(alert.Alert)) {
	var cat, app, host, what string
	sev := alert.Low
	switch r.Table {
	case event.TableSyslog:
		app = syslogApp(r.Action)
		p, ok := m.times.match(app, r.Raw)
		if !ok {
			return
		}
		cat, sev, host, what = p.Category, p.Severity, r.Resource, excerpt(r.Raw, 240)
	case event.TableAzureActivity:
		if len(m.cfg.TimeChange.AzureOperations) == 0 {
			return
		}
		op := strings.ToLower(r.Action)
		if !slices.ContainsFunc(m.azureOps, func(p string) bool { ok, _ := path.Match(p, op); return ok }) {
			return
		}
		cat, host, what = TimeAzure, r.Resource, r.User+": "+r.Action
	default:
		return
	}
	if src.timeChanges == nil {
		src.timeChanges = map[string]uint64{}
	}
	src.timeChanges[cat]++
	subject := src.all.source
	if host != "" {
		subject += "/" + host
	}
	emit(alert.Alert{Rule: RuleTimeChange, RuleTitle: "Time settings changed", Kind: "health", Severity: sev,
		PCI: []string{"10.6.3"}, Source: src.all.source, Time: r.Time, Seqs: []uint64{seq},
		Key: RuleTimeChange + "/" + subject, Summary: fmt.Sprintf("%s: %s (%s)", subject, cat, what),
		Fields: map[string]string{"category": cat, "app": app, "host": host}})
}
