package detect

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cdewatch/cdewatch/internal/alert"
	"github.com/cdewatch/cdewatch/internal/event"
)

// langDoc is the original document of the language tests' record.
const langDoc = `{"verb":"get","objectRef":{"resource":"secrets","namespace":"payments","name":"card-key"},` +
	`"user":{"username":"Alice","groups":["dev","system:authenticated"]},"sourceIPs":["203.0.113.9","10.1.2.3"],` +
	`"responseStatus":{"code":200},"annotations":{"authorization.k8s.io/decision":"allow","a":"shadow"},` +
	`"requestObject":{"spec":{"containers":[{"name":"a"},{"name":"b","securityContext":{"privileged":true}}],` +
	`"volumes":[{"hostPath":{"path":"/etc"}}]}},"esc":"a\"b\u00e9","num":2.5e1,"nested":[[1,2],[3,[4]]],` +
	`"nul":null,"empty":[],"obj":{"password":"x"},"dollar":"$x","upper":"ÉCOLE","ip6":"::ffff:10.9.9.9",` +
	`"we\"ird":"escaped-name","list":["a",null,{"k":"v"}]}`

func langEvent() *Event {
	return NewEvent(7, event.Record{
		Table: event.TableKubeAudit, Source: "aks-1", User: "Alice", Action: "get secrets",
		Outcome: event.Success, Status: 200, OriginIP: "10.1.2.3", Resource: "payments/secrets/card-key",
		PCI: event.CHDAccess | event.AdminAction, Raw: []byte(langDoc),
	})
}

// oneRule returns a rule file with one rule whose condition is when.
func oneRule(when string) string {
	return "lists:\n  cde: [payments, Card-Data]\n  nets: [10.0.0.0/8]\n  empty: []\n" +
		"rules:\n  - id: t\n    title: T\n    severity: low\n    tables: [KubeAuditLogs]\n    when: " + when + "\n"
}

func TestLanguage(t *testing.T) {
	cases := []struct {
		when string
		want bool
	}{
		// equals and its case-insensitive forms
		{`{field: verb, equals: get}`, true},
		{`{field: verb, equals: GET}`, false},
		{`{field: verb, iequals: GET}`, true},
		{`{field: verb, equals: GET, nocase: true}`, true},
		{`{field: upper, iequals: école}`, true},
		{`{field: responseStatus.code, equals: 200}`, true},
		{`{field: responseStatus.code, equals: "200"}`, true},
		{`{field: num, equals: 25}`, true},
		{`{field: num, equals: 25.5}`, false},
		{`{field: esc, equals: "a\"bé"}`, true},
		{`{field: dollar, equals: "$$x"}`, true},
		{`{field: obj, equals: x}`, false},
		{`{field: requestObject.spec.containers.securityContext.privileged, equals: true}`, true},
		{`{field: requestObject.spec.containers.securityContext.privileged, equals: "true"}`, true},
		// in, lists and list references
		{`{field: verb, in: [list, get]}`, true},
		{`{field: verb, in: [list, watch]}`, false},
		{`{field: objectRef.namespace, in: $cde}`, true},
		{`{field: objectRef.namespace, in: [$empty, payments]}`, true},
		{`{field: objectRef.namespace, in: $empty}`, false},
		{`{field: objectRef.namespace, iin: [PAYMENTS]}`, true},
		{`{field: objectRef.namespace, in: [a, b, c, d, e, f, g, h, payments]}`, true},
		{`{field: objectRef.namespace, iin: [a, b, c, d, e, f, g, h, PAYMENTS]}`, true},
		{`{field: objectRef.namespace, in: [a, b, c, d, e, f, g, h, i]}`, false},
		// a list field matches when an element does
		{`{field: user.groups, equals: dev}`, true},
		{`{field: user.groups, equals: ops}`, false},
		{`{field: nested, equals: 3}`, true},
		{`{field: nested, equals: 4}`, true},
		{`{field: list, equals: a}`, true},
		{`{field: list, contains: '"k"'}`, true},
		// string operators
		{`{field: user.username, contains: lic}`, true},
		{`{field: user.username, contains: LIC}`, false},
		{`{field: user.username, icontains: LIC}`, true},
		{`{field: user.username, startswith: [Bo, Al]}`, true},
		{`{field: user.username, istartswith: al}`, true},
		{`{field: user.username, endswith: ice}`, true},
		{`{field: user.username, iendswith: ICE}`, true},
		{`{field: user.username, endswith: $cde}`, false},
		{`{field: obj, contains: password}`, true},
		{`{field: user.username, regex: '^A.*e$'}`, true},
		{`{field: user.username, regex: '^a'}`, false},
		{`{field: user.username, iregex: '^a'}`, true},
		{`{field: user.username, regex: '^a', nocase: true}`, true},
		// cidr
		{`{field: sourceIPs, cidr: 10.0.0.0/8}`, true},
		{`{field: sourceIPs, cidr: $nets}`, true},
		{`{field: sourceIPs, cidr: [192.168.0.0/16, 203.0.113.9]}`, true},
		{`{field: sourceIPs, cidr: 192.168.0.0/16}`, false},
		{`{field: ip6, cidr: 10.0.0.0/8}`, true},
		{`{field: verb, cidr: 10.0.0.0/8}`, false},
		// numbers
		{`{field: responseStatus.code, gt: 199}`, true},
		{`{field: responseStatus.code, gt: 200}`, false},
		{`{field: responseStatus.code, gte: 200}`, true},
		{`{field: responseStatus.code, lt: 200}`, false},
		{`{field: num, lte: 25}`, true},
		{`{field: num, lt: 2.5e1}`, false},
		{`{field: verb, gt: 1}`, false},
		// exists
		{`{field: nul, exists: true}`, false},
		{`{field: nul, exists: false}`, true},
		{`{field: empty, exists: true}`, true},
		{`{field: missing, exists: false}`, true},
		{`{field: obj.password, exists: true}`, true},
		{`{field: requestObject.spec.volumes.hostPath, exists: true}`, true},
		{`{field: requestObject.spec.containers.securityContext, exists: true}`, true},
		{`{field: requestObject.spec.containers.0.securityContext, exists: true}`, false},
		{`{field: requestObject.spec.containers.1.name, equals: b}`, true},
		{`{field: requestObject.spec.containers.2.name, exists: true}`, false},
		// members whose names hold dots, and escaped names
		{`{field: annotations.authorization.k8s.io/decision, equals: allow}`, true},
		{`{field: annotations.a, equals: shadow}`, true},
		{`{field: 'we"ird', equals: escaped-name}`, true},
		// normalized fields
		{`{field: cdewatch.user, equals: Alice}`, true},
		{`{field: cdewatch.status, equals: 200}`, true},
		{`{field: cdewatch.status, gte: 200}`, true},
		{`{field: cdewatch.pci, equals: chd-access}`, true},
		{`{field: cdewatch.pci, equals: log-access}`, false},
		{`{field: cdewatch.outcome, equals: success}`, true},
		{`{field: cdewatch.agent, exists: false}`, true},
		{`{field: cdewatch.table, equals: KubeAuditLogs}`, true},
		{`{field: cdewatch.source, equals: aks-1}`, true},
		{`{field: cdewatch.action, equals: get secrets}`, true},
		{`{field: cdewatch.resource, startswith: payments/}`, true},
		{`{field: cdewatch.origin, cidr: 10.0.0.0/8}`, true},
		{`{field: cdewatch.key, exists: true}`, false},
		// several fields: any of them
		{`{field: [missing, verb], equals: get}`, true},
		{`{field: [missing, other], equals: get}`, false},
		// combinators
		{`{all: [{field: verb, equals: get}, {field: objectRef.resource, equals: secrets}]}`, true},
		{`{all: [{field: verb, equals: get}, {field: objectRef.resource, equals: pods}]}`, false},
		{`{any: [{field: verb, equals: list}, {field: objectRef.resource, equals: secrets}]}`, true},
		{`{any: [{field: verb, equals: list}, {field: objectRef.resource, equals: pods}]}`, false},
		{`{not: {field: verb, equals: get}}`, false},
		{`{not: {field: missing, in: [a]}}`, true},
		{`{all: [{not: {any: [{field: verb, equals: list}]}}]}`, true},
	}
	for _, c := range cases {
		t.Run(c.when, func(t *testing.T) {
			rs, err := loadText(t, map[string]string{"t.yaml": oneRule(c.when)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			e := langEvent()
			got := len(evalAll(rs, e)) == 1
			if got != c.want {
				t.Errorf("Eval fired %v, want %v", got, c.want)
			}
			if m := rs.Rule("t").Match(e); m != c.want {
				t.Errorf("Match = %v, want %v", m, c.want)
			}
		})
	}
}

// TestRawNotJSON checks that a record whose Raw is not a JSON object has
// no document fields and keeps its normalized ones, and that a malformed
// one has the members before the error.
func TestRawNotJSON(t *testing.T) {
	rs, err := loadText(t, map[string]string{"t.yaml": oneRule(
		`{any: [{field: verb, exists: true}, {field: cdewatch.user, equals: Alice}]}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	docOnly, err := loadText(t, map[string]string{"t.yaml": oneRule(`{field: verb, exists: true}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		raw     string
		hasVerb bool
	}{
		{"", false},
		{"<13>Nov 26 syslog line", false},
		{`["verb"]`, false},
		{`"verb"`, false},
		{`{}`, false},
		{`{"verb" "get"}`, false},
		{`{"verb":tru}`, false},
		{`{"verb":"g\x"}`, false},         // a bad escape in a value read
		{`{"a":"\x","verb":"get"}`, true}, // values skipped unread are not checked
		{`{"a":1 "verb":"get"}`, false},
		{`{"verb":"get"`, true},
		{`{"verb":"get",}`, true},
		{`{"verb":"get"}trailing`, true},
		{`{"verb":"get","a":`, true},
	} {
		for _, user := range []string{"Alice", "Bob"} {
			e := NewEvent(1, event.Record{Table: event.TableKubeAudit, User: user, Raw: []byte(c.raw)})
			if got := len(evalAll(docOnly, e)) == 1; got != c.hasVerb {
				t.Errorf("raw %q: document rule fired %v, want %v", c.raw, got, c.hasVerb)
			}
			if got, want := len(evalAll(rs, e)) == 1, user == "Alice" || c.hasVerb; got != want {
				t.Errorf("raw %q user %s: fired %v, want %v", c.raw, user, got, want)
			}
		}
	}
}

func TestAlertFields(t *testing.T) {
	text := oneRule(`{field: verb, equals: get}`) +
		"    pci: [\"10.2.1.1\"]\n    mitre: [T1552.007]\n" +
		"    key: [user.username, objectRef.namespace, missing]\n" +
		"    summary: \"{user.username} {{read}} {objectRef.resource} {objectRef.namespace}/{objectRef.name} groups={user.groups} {missing|objectRef.name} {missing}\"\n"
	rs, err := loadText(t, map[string]string{"t.yaml": text}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := langEvent()
	e.Rec.Time = testReceived
	alerts := evalAll(rs, e)
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts", len(alerts))
	}
	checkGolden(t, "testdata/alert.golden", render(t, alerts[0]))
	// The alert owns its slices.
	alerts[0].PCI[0] = "changed"
	if rs.Rule("t").PCI[0] != "10.2.1.1" {
		t.Error("the alert shares its PCI slice with the rule")
	}
}

func TestDefaults(t *testing.T) {
	text := "rules:\n  - id: t\n    title: 'Read {x}'\n    severity: informational\n    tables: [AKSAudit]\n    when: {field: verb, equals: get}\n"
	rs, err := loadText(t, map[string]string{"t.yaml": text}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Rule("t")
	if !r.Enabled || r.Severity != alert.Info || strings.Join(r.Key, ",") != "cdewatch.user" ||
		strings.Join(r.Tables, ",") != event.TableKubeAudit || r.Summary != "Read {x}" || r.Line != 2 || r.File != "t.yaml" {
		t.Errorf("defaults: %+v", r)
	}
	a := evalAll(rs, langEvent())
	if len(a) != 1 || a[0].Summary != "Read {x}" || a[0].Key != "t|aks-1|Alice" {
		t.Errorf("alert: %+v", a)
	}
}

func TestDisabledAndTables(t *testing.T) {
	text := "rules:\n" +
		"  - {id: off, title: Off, severity: low, tables: [KubeAuditLogs], enabled: false, when: {field: verb, equals: get}}\n" +
		"  - {id: az, title: Az, severity: low, tables: [AzureActivity], when: {field: verb, equals: get}}\n" +
		"  - {id: both, title: Both, severity: low, tables: [AzureActivity, KubeAuditLogs], when: {field: verb, equals: get}}\n"
	rs, err := loadText(t, map[string]string{"t.yaml": text}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := langEvent()
	if got := strings.Join(firedIDs(evalAll(rs, e)), ","); got != "both" {
		t.Errorf("fired %s, want both", got)
	}
	if !rs.Rule("off").Match(e) || rs.Rule("az").Match(e) {
		t.Error("Match: a disabled rule's condition holds; a rule of another table never matches")
	}
	e.Rec.Table = event.TableSigninLogs
	if got := evalAll(rs, e); len(got) != 0 {
		t.Errorf("fired %v on a table without rules", firedIDs(got))
	}
}

func TestListOverride(t *testing.T) {
	files := map[string]string{
		"a.yaml": "lists:\n  cde: [other]\n  unused: [x]\n",
		"b.yaml": "rules:\n  - {id: t, title: T, severity: low, tables: [KubeAuditLogs], when: {field: objectRef.namespace, in: $cde}}\n",
	}
	rs, err := loadText(t, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evalAll(rs, langEvent())) != 0 {
		t.Error("fired with the file's list")
	}
	rs, err = loadText(t, files, map[string][]string{"cde": {"payments"}, "not-defined": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evalAll(rs, langEvent())) != 1 {
		t.Error("did not fire with the configured list")
	}
	if got := strings.Join(rs.ListNames(), ","); got != "cde,unused" {
		t.Errorf("ListNames = %s", got)
	}
	if items, ok := rs.List("cde"); !ok || strings.Join(items, ",") != "payments" {
		t.Errorf("List(cde) = %v, %v", items, ok)
	}
}

// TestLoadErrors loads each testdata/load/*.yaml by itself and compares
// the error with its .err golden file.
func TestLoadErrors(t *testing.T) {
	for _, path := range glob(t, "testdata/load/*.yaml") {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{name: {Data: readFile(t, path)}}
			_, err := LoadRules(fsys, nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LoadError", err)
			}
			if le.File != name {
				t.Errorf("error names file %q", le.File)
			}
			checkGolden(t, strings.TrimSuffix(path, ".yaml")+".err", []byte(err.Error()+"\n"))
		})
	}
}

func TestLoadErrorsAcrossFiles(t *testing.T) {
	_, err := loadText(t, map[string]string{
		"a.yaml": "lists:\n  cde: [x]\nrules:\n  - {id: t, title: T, severity: low, tables: [KubeAuditLogs], when: {field: verb, equals: get}}\n",
		"b.yaml": "lists:\n  cde: [y]\nrules:\n  - {id: t, title: T, severity: low, tables: [KubeAuditLogs], when: {field: verb, equals: get}}\n",
	}, nil)
	want := "b.yaml:2: lists.cde: list \"cde\" is already defined at a.yaml:2\n" +
		"b.yaml:4: rules[0].id: duplicate rule id \"t\" (first at a.yaml:4)"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if _, err := LoadRules(fstest.MapFS{"README.md": {Data: []byte("x")}}, nil); !errors.Is(err, ErrNoRuleFiles) {
		t.Errorf("no rule files: %v", err)
	}
}

func TestLoadErrorsWrap(t *testing.T) {
	_, err := loadText(t, map[string]string{"t.yaml": oneRule(`{field: verb, regex: '('}`)}, nil)
	var le *LoadError
	if !errors.As(err, &le) || le.Err == nil || errors.Unwrap(le) != le.Err {
		t.Fatalf("regexp error not wrapped: %v", err)
	}
}
