package sigma

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/azure"
	"github.com/cdewatch/cdewatch/internal/event"
)

// resolver finds the values of one field in the event being evaluated,
// appending them to out. A JSON null is a value (nil); an absent field
// has none.
type resolver interface {
	resolve(c *ctx, out []fieldVal) []fieldVal
}

// pathRes is a dotted path into the event's original document. At each
// level a member named by one segment is tried first, then members whose
// names contain dots ("authorization.k8s.io/decision"), then, when fold is
// set, members whose names differ in case only. An array is traversed:
// every element continues the path (a numeric segment indexes it instead).
type pathRes struct {
	segs  []string
	joins [][]string // joins[i][k]: segs[i..i+k+1] joined with dots
	idx   []int      // the segment as an array index, -1 if not numeric
	fold  bool
}

func newPath(path string, fold bool) *pathRes {
	return newPathSegs(strings.Split(path, "."), fold)
}

// newPathSegs is newPath with the members named one per segment (a
// segment may contain dots).
func newPathSegs(segs []string, fold bool) *pathRes {
	p := &pathRes{segs: segs, fold: fold}
	p.joins = make([][]string, len(p.segs))
	p.idx = make([]int, len(p.segs))
	for i := range p.segs {
		for j := i + 1; j < len(p.segs); j++ {
			p.joins[i] = append(p.joins[i], strings.Join(p.segs[i:j+1], "."))
		}
		p.idx[i] = -1
		if n, err := strconv.Atoi(p.segs[i]); err == nil && n >= 0 {
			p.idx[i] = n
		}
	}
	return p
}

func (p *pathRes) resolve(c *ctx, out []fieldVal) []fieldVal {
	return p.walk(c.document(), 0, out)
}

func (p *pathRes) walk(v any, i int, out []fieldVal) []fieldVal {
	for i < len(p.segs) {
		switch x := v.(type) {
		case map[string]any:
			if y, ok := x[p.segs[i]]; ok {
				v, i = y, i+1
				continue
			}
			found := false
			for k := len(p.joins[i]) - 1; k >= 0; k-- {
				if y, ok := x[p.joins[i][k]]; ok {
					v, i, found = y, i+k+2, true
					break
				}
			}
			if !found && p.fold {
				v, i, found = p.foldMember(x, i)
			}
			if !found {
				return out
			}
		case []any:
			if n := p.idx[i]; n >= 0 {
				if n >= len(x) {
					return out
				}
				v, i = x[n], i+1
				continue
			}
			for _, el := range x {
				out = p.walk(el, i, out)
			}
			return out
		default:
			return out
		}
	}
	return append(out, fieldVal{v: v})
}

// foldMember finds the member of x named, case aside, by segment i or by
// segments i.. joined with dots (the longest such name).
func (p *pathRes) foldMember(x map[string]any, i int) (any, int, bool) {
	best, bestLen := any(nil), -1
	for k, y := range x {
		if strings.EqualFold(k, p.segs[i]) && bestLen < 0 {
			best, bestLen = y, 0
		}
		for n, j := range p.joins[i] {
			if n+1 > bestLen && strings.EqualFold(k, j) {
				best, bestLen = y, n+1
			}
		}
	}
	if bestLen < 0 {
		return nil, i, false
	}
	return best, i + bestLen + 1, true
}

// firstRes yields the values of the first resolver that has any.
type firstRes []resolver

func (r firstRes) resolve(c *ctx, out []fieldVal) []fieldVal {
	for _, x := range r {
		n := len(out)
		out = x.resolve(c, out)
		if len(out) > n {
			return out
		}
	}
	return out
}

// unionRes yields the values of all its resolvers.
type unionRes []resolver

func (r unionRes) resolve(c *ctx, out []fieldVal) []fieldVal {
	for _, x := range r {
		out = x.resolve(c, out)
	}
	return out
}

// funcRes derives values from the document or the record.
type funcRes func(c *ctx, out []fieldVal) []fieldVal

func (f funcRes) resolve(c *ctx, out []fieldVal) []fieldVal { return f(c, out) }

// recordFieldNames are the normalized fields reachable as cdewatch.<name>
// (detect.Event.Field).
func recordFieldNames() []string {
	return []string{"source", "table", "user", "action", "outcome", "status", "origin", "agent", "resource", "pci", "key"}
}

func recordField(name string) (resolver, bool) {
	for _, n := range recordFieldNames() {
		if n == name {
			return funcRes(func(c *ctx, out []fieldVal) []fieldVal {
				v, ok := c.e.Field("cdewatch." + name)
				if !ok {
					return out
				}
				return append(out, fieldVal{v: v})
			}), true
		}
	}
	return nil, false
}

// Log sources cdewatch maps, and the ledger table each applies to.
const (
	srcKubeAudit = "kubernetes/audit"
	srcActivity  = "azure/activitylogs"
	srcSignin    = "azure/signinlogs"
	srcGCPAudit  = "gcp/gcp.audit"
)

// mapper resolves the Sigma field names of one log source.
type mapper struct {
	source string
	table  string // the ledger table, "" for none
	field  func(name string) (resolver, error)
}

func mapperFor(source string) *mapper {
	switch source {
	case srcKubeAudit:
		return &mapper{source: source, table: event.TableKubeAudit, field: kubeField}
	case srcActivity:
		return &mapper{source: source, table: event.TableAzureActivity, field: activityField}
	case srcSignin:
		return &mapper{source: source, table: event.TableSigninLogs, field: signinField}
	case srcGCPAudit:
		return &mapper{source: source, field: func(name string) (resolver, error) { return newPath(name, false), nil }}
	}
	return nil
}

// resolve maps a Sigma field name; cdewatch.<name> reaches the record's
// normalized fields in every log source.
func (m *mapper) resolve(name string) (resolver, error) {
	if name == "" {
		return nil, fmt.Errorf("empty field name")
	}
	if rest, ok := strings.CutPrefix(name, "cdewatch."); ok {
		if r, ok := recordField(rest); ok {
			return r, nil
		}
		return nil, fmt.Errorf("field %q: cdewatch.<name> takes one of %s", name, strings.Join(recordFieldNames(), ", "))
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("field %q: empty path segment", name)
	}
	return m.field(name)
}

// kubeMembers are the members of an audit.k8s.io Event (v1 and v1beta1).
func kubeMembers() []string {
	return []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
		"impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject",
		"responseObject", "requestReceivedTimestamp", "stageTimestamp", "annotations", "timestamp", "metadata"}
}

// podSpecs are where a pod spec sits in the objects a request creates:
// a pod, a workload's template, a CronJob's job template.
func podSpecs() []string {
	return []string{"requestObject.spec", "requestObject.spec.template.spec", "requestObject.spec.jobTemplate.spec.template.spec"}
}

// kubeField maps Sigma's flat dotted names to the audit event's own
// paths, plus the irregular names of the SigmaHQ Kubernetes rules.
func kubeField(name string) (resolver, error) {
	switch name {
	case "apiGroup":
		// Top-level apiGroup in SigmaHQ rules means objectRef.apiGroup.
		return newPath("objectRef.apiGroup", false), nil
	case "hostPath":
		// A hostPath volume of the pod (or pod template) being written.
		var u unionRes
		for _, s := range podSpecs() {
			u = append(u, newPath(s+".volumes.hostPath", false))
		}
		return u, nil
	case "capabilities":
		// Added or dropped Linux capabilities of a container of the pod.
		var u unionRes
		for _, s := range podSpecs() {
			for _, k := range [...]string{"containers", "initContainers", "ephemeralContainers"} {
				u = append(u, newPath(s+"."+k+".securityContext.capabilities", false))
			}
		}
		return u, nil
	case "responseStatus.code":
		// The HTTP code; also the authorizer's decision (allow, forbid),
		// which SigmaHQ's enumeration rule writes as responseStatus.code:
		// 'ALLOW'. The two never share a value.
		return unionRes{newPath("responseStatus.code", false), newPathSegs([]string{"annotations", "authorization.k8s.io/decision"}, false)}, nil
	}
	head, _, _ := strings.Cut(name, ".")
	for _, m := range kubeMembers() {
		if head == m {
			return newPath(name, false), nil
		}
	}
	return nil, unsupported("field %q is not a member of a Kubernetes audit event (audit.k8s.io/v1 Event: %s)", name, strings.Join(kubeMembers()[:18], ", "))
}

// column is how a Log Analytics column (the names Sigma's Azure rules
// use) is found in the diagnostic export record.
type column struct {
	first []string // paths, the first present wins
	dyn   string   // a dynamic column: sub-paths continue under this path
	fn    funcRes  // a derived value
	none  string   // why the export cannot provide it
}

func paths(list ...string) column { return column{first: list} }
func dyn(path string) column      { return column{first: []string{path}, dyn: path} }

// activityColumns maps AzureActivity columns (lower case) to the Azure
// Activity Log export record (the resource-log schema of diagnostic
// settings), as internal/azure/FORMAT.md decodes it.
func activityColumns() map[string]column {
	return map[string]column{
		"operationname":            paths("operationName"),
		"operationnamevalue":       paths("operationName"),
		"categoryvalue":            {fn: activityCategory},
		"category":                 {fn: activityCategory},
		"resourceprovidervalue":    {fn: resourcePart(func(r azure.ResourceRef) string { return r.Provider })},
		"resourceprovider":         {fn: resourcePart(func(r azure.ResourceRef) string { return r.Provider })},
		"resourceid":               paths("resourceId"),
		"_resourceid":              paths("resourceId"),
		"resourcegroup":            {fn: resourcePart(func(r azure.ResourceRef) string { return r.ResourceGroup })},
		"subscriptionid":           {fn: resourcePart(func(r azure.ResourceRef) string { return r.SubscriptionID })},
		"_subscriptionid":          {fn: resourcePart(func(r azure.ResourceRef) string { return r.SubscriptionID })},
		"resource":                 {fn: resourcePart(func(r azure.ResourceRef) string { return r.Name })},
		"activitystatusvalue":      {fn: activityStatus},
		"activitystatus":           {fn: activityStatus},
		"status":                   {fn: activityStatus},
		"activitysubstatusvalue":   paths("resultSignature"),
		"activitysubstatus":        paths("resultSignature"),
		"substatus":                paths("resultSignature"),
		"caller":                   {fn: activityCaller},
		"calleripaddress":          paths("callerIpAddress"),
		"correlationid":            paths("correlationId"),
		"eventdataid":              paths("properties.eventDataId"),
		"hierarchy":                paths("properties.hierarchy"),
		"level":                    {fn: activityLevel},
		"activitylevel":            {fn: activityLevel},
		"operationid":              paths("properties.operationId"),
		"properties":               dyn("properties"),
		"properties_d":             dyn("properties"),
		"authorization":            dyn("identity.authorization"),
		"authorization_d":          dyn("identity.authorization"),
		"claims":                   dyn("identity.claims"),
		"claims_d":                 dyn("identity.claims"),
		"tenantid":                 paths("tenantId"),
		"timegenerated":            paths("time"),
		"eventsubmissiontimestamp": {none: "the Storage/Event Hubs export has no submissionTimestamp"},
		"httprequest":              {none: "the Storage/Event Hubs export has no httpRequest (the client address is CallerIpAddress)"},
	}
}

// activityEnvelope are the members of an Activity Log export record that
// may be named directly.
func activityEnvelope() []string {
	return []string{"time", "resourceId", "operationName", "operationVersion", "category", "resultType",
		"resultSignature", "resultDescription", "durationMs", "callerIpAddress", "correlationId", "identity", "level",
		"location", "properties", "tenantId", "caller"}
}

// signinColumns maps SigninLogs columns (lower case) to the Entra ID
// sign-in export record (envelope and properties), as
// internal/azure/FORMAT.md decodes it.
func signinColumns() map[string]column {
	m := map[string]column{
		"resulttype":                paths("resultType", "properties.status.errorCode"),
		"resultdescription":         paths("resultDescription", "properties.status.failureReason"),
		"resultsignature":           paths("resultSignature"),
		"status":                    {fn: signinStatus, dyn: "properties.status"},
		"ipaddress":                 paths("properties.ipAddress", "callerIpAddress"),
		"location":                  paths("location", "properties.location.countryOrRegion"),
		"locationdetails":           dyn("properties.location"),
		"conditionalaccesspolicies": dyn("properties.appliedConditionalAccessPolicies"),
		"correlationid":             paths("properties.correlationId", "correlationId"),
		"operationname":             paths("operationName"),
		"category":                  paths("category"),
		"identity":                  paths("identity"),
		"aadtenantid":               paths("tenantId", "properties.tenantId"),
		"tenantid":                  paths("tenantId", "properties.tenantId"),
		"timegenerated":             paths("time"),
		"networklocationdetails":    dyn("properties.networkLocationDetails"),
		"authenticationdetails":     dyn("properties.authenticationDetails"),
		"mfadetail":                 dyn("properties.mfaDetail"),
		"devicedetail":              dyn("properties.deviceDetail"),
	}
	// Columns that are the sign-in's properties member of the same name.
	for _, name := range [...]string{"createdDateTime", "userPrincipalName", "userDisplayName", "userId", "userType",
		"appDisplayName", "appId", "resourceDisplayName", "resourceId", "resourceTenantId", "clientAppUsed",
		"conditionalAccessStatus", "authenticationRequirement", "authenticationProtocol", "authenticationMethodsUsed",
		"userAgent", "isInteractive", "isRisky", "riskLevelDuringSignIn", "riskLevelAggregated", "riskState",
		"riskDetail", "riskEventTypes", "riskEventTypes_v2", "homeTenantId", "servicePrincipalId",
		"servicePrincipalName", "tokenIssuerType", "tokenIssuerName", "uniqueTokenIdentifier", "id",
		"autonomousSystemNumber", "crossTenantAccessType", "incomingTokenType", "originalRequestId",
		"appliedEventListeners", "authenticationContextClassReferences", "flaggedForReview",
		"processingTimeInMilliseconds", "signInEventTypes", "signInIdentifier", "signInIdentifierType",
		"sessionLifetimePolicies", "originalTransferMethod"} {
		m[strings.ToLower(name)] = dyn("properties." + name)
	}
	return m
}

func signinEnvelope() []string {
	return []string{"time", "resourceId", "operationName", "operationVersion", "category", "tenantId",
		"resultType", "resultSignature", "resultDescription", "durationMs", "callerIpAddress", "correlationId",
		"identity", "Level", "location", "properties"}
}

func activityField(name string) (resolver, error) {
	return azureField(name, "AzureActivity", activityColumns(), activityEnvelope(), "Activity Log")
}

func signinField(name string) (resolver, error) {
	return azureField(name, "SigninLogs", signinColumns(), signinEnvelope(), "sign-in")
}

// azureField resolves a Log Analytics column name (any case), a path
// under a dynamic column (DeviceDetail.trustType), or a path into the
// export record from one of its envelope members (properties.message).
// Member names match case-insensitively in the export, as in Log
// Analytics.
func azureField(name, table string, cols map[string]column, envelope []string, what string) (resolver, error) {
	head, rest, sub := strings.Cut(name, ".")
	if c, ok := cols[strings.ToLower(head)]; ok {
		switch {
		case c.none != "":
			return nil, unsupported("field %q: %s", name, c.none)
		case sub && c.dyn == "":
			return nil, unsupported("field %q: %s %s is not a dynamic column: it has no members", name, table, head)
		case sub:
			return newPath(c.dyn+"."+rest, true), nil
		case c.fn != nil && c.dyn != "":
			return unionRes{c.fn, newPath(c.dyn, true)}, nil
		case c.fn != nil:
			return c.fn, nil
		}
		var r firstRes
		for _, path := range c.first {
			r = append(r, newPath(path, true))
		}
		if len(r) == 1 {
			return r[0], nil
		}
		return r, nil
	}
	for _, m := range envelope {
		if strings.EqualFold(head, m) {
			return newPath(name, true), nil
		}
	}
	return nil, unsupported("field %q is neither a %s column nor a path into the %s export record", name, table, what)
}

// activityCategory returns the Activity Log category (Log Analytics
// CategoryValue) s names, in its documented case.
func activityCategoryName(s string) (string, bool) {
	for _, k := range []string{"Administrative", "Policy", "Security", "ServiceHealth", "ResourceHealth", "Alert", "Autoscale", "Recommendation"} {
		if strings.EqualFold(s, k) {
			return k, true
		}
	}
	return "", false
}

func docString(c *ctx, path ...string) (string, bool) {
	v := c.document()
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[k]; !ok {
			for mk, mv := range m {
				if strings.EqualFold(mk, k) {
					v, ok = mv, true
					break
				}
			}
			if !ok {
				return "", false
			}
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// activityCategory is CategoryValue: properties.eventCategory, else the
// export's category when it is an Activity Log category, else
// Administrative (the export writes Write, Delete or Action there).
func activityCategory(c *ctx, out []fieldVal) []fieldVal {
	if s, ok := docString(c, "properties", "eventCategory"); ok && s != "" {
		return append(out, fieldVal{v: s})
	}
	if s, ok := docString(c, "category"); ok {
		if k, ok := activityCategoryName(s); ok {
			return append(out, fieldVal{v: k})
		}
	}
	if c.document() == nil {
		return out
	}
	return append(out, fieldVal{v: "Administrative"})
}

func resourcePart(part func(azure.ResourceRef) string) funcRes {
	return func(c *ctx, out []fieldVal) []fieldVal {
		id, ok := docString(c, "resourceId")
		if !ok {
			return out
		}
		if s := part(azure.ParseResourceID(id)); s != "" {
			return append(out, fieldVal{v: s})
		}
		return out
	}
}

// activityStatus is ActivityStatusValue: resultType as sent, and its
// display form (Success → Succeeded, Failure → Failed, Start → Started,
// Accept → Accepted) so that rules written with either match.
func activityStatus(c *ctx, out []fieldVal) []fieldVal {
	s, ok := docString(c, "resultType")
	if !ok {
		return out
	}
	out = append(out, fieldVal{v: s})
	for _, d := range [...][2]string{{"Success", "Succeeded"}, {"Failure", "Failed"}, {"Start", "Started"}, {"Accept", "Accepted"}} {
		if strings.EqualFold(s, d[0]) {
			out = append(out, fieldVal{v: d[1]})
		}
	}
	return out
}

// activityLevel is Level: level, with Information also spelled
// Informational as Log Analytics does.
func activityLevel(c *ctx, out []fieldVal) []fieldVal {
	s, ok := docString(c, "level")
	if !ok {
		return out
	}
	out = append(out, fieldVal{v: s})
	if strings.EqualFold(s, "Information") {
		out = append(out, fieldVal{v: "Informational"})
	}
	return out
}

// activityCaller is Caller: the record's user (the caller member, the UPN
// claim, the object id claim, …: internal/azure), else the caller member.
func activityCaller(c *ctx, out []fieldVal) []fieldVal {
	if c.e.Rec.User != "" {
		return append(out, fieldVal{v: c.e.Rec.User})
	}
	if s, ok := docString(c, "caller"); ok {
		return append(out, fieldVal{v: s})
	}
	return out
}

// signinStatus is the Status of the Entra portal and of SigninLogs rules
// written as Status: 'Success': Success when the result type is 0, else
// Failure. (The dynamic Status, properties.status, is also searched.)
func signinStatus(c *ctx, out []fieldVal) []fieldVal {
	s, ok := docString(c, "resultType")
	if !ok || s == "" {
		if s, ok = docString(c, "properties", "status", "errorCode"); !ok {
			return out
		}
	}
	if strings.TrimSpace(s) == "0" {
		return append(out, fieldVal{v: "Success"})
	}
	return append(out, fieldVal{v: "Failure"})
}
