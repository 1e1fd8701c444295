package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/k8saudit"
)

// Members of the resource-log envelope that the decoders read. Names match
// case-insensitively: Azure writes "level" in some exports and "Level" in
// others.
const (
	mTime = iota
	mResourceID
	mCategory
	mOperationName
	mResultType
	mResultSignature
	mResultDescription
	mCallerIPAddress
	mCorrelationID
	mIdentity
	mLevel
	mLocation
	mTenantID
	mCaller
	mDurationMs
	mProperties
	mCount
)

var envelopeNames = [mCount]string{"time", "resourceId", "category", "operationName", "resultType",
	"resultSignature", "resultDescription", "callerIpAddress", "correlationId", "identity", "level",
	"location", "tenantId", "caller", "durationMs", "properties"}

// envelope holds the raw values (nil when absent) of a record's members.
type envelope struct {
	v [mCount][]byte
}

// read collects the members of the record raw. A member named twice (names
// compared case-insensitively) is an error: which of the two is meant
// depends on the reader.
func (env *envelope) read(raw []byte) *Error {
	var dup string
	err := members(raw, func(name string, v []byte) error {
		for i, n := range envelopeNames {
			if strings.EqualFold(name, n) {
				if env.v[i] != nil {
					dup = name
					return errors.New("duplicate")
				}
				env.v[i] = v
				return nil
			}
		}
		return nil
	})
	if dup != "" {
		return fieldError(dup, "duplicate member")
	}
	if err != nil {
		return &Error{Reason: "malformed member name: " + err.Error()}
	}
	return nil
}

// text returns the text of member m (see text).
func (env *envelope) text(m int, dst *string) *Error {
	s, err := text(env.v[m])
	if err != nil {
		return fieldError(envelopeNames[m], err.Error())
	}
	*dst = s
	return nil
}

// properties returns the members of the properties object, nil when it is
// absent.
func (env *envelope) properties() (*props, *Error) {
	v := env.v[mProperties]
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '{' {
		return nil, fieldError("properties", "not an object")
	}
	p := &props{raw: v, m: map[string][]byte{}}
	var dup string
	_ = members(v, func(name string, val []byte) error {
		if _, ok := p.m[name]; ok && dup == "" {
			dup = name
		}
		p.m[name] = val
		return nil
	})
	if dup != "" {
		return nil, fieldError("properties."+dup, "duplicate member")
	}
	return p, nil
}

// props are the members of a record's properties (exact names: they are
// the documented camelCase names of each schema).
type props struct {
	raw []byte
	m   map[string][]byte
}

func (p *props) get(name string) []byte {
	if p == nil {
		return nil
	}
	return p.m[name]
}

// field names a member and where its text goes.
type field struct {
	name string
	dst  *string
}

// strings sets the destination of each field to the text of the member of
// its name, in order (so that the first bad one is reported).
func (p *props) strings(fields ...field) *Error {
	for _, f := range fields {
		s, err := text(p.get(f.name))
		if err != nil {
			return fieldError("properties."+f.name, err.Error())
		}
		*f.dst = s
	}
	return nil
}

// Categories of AKS resource logs besides kube-audit and kube-audit-admin,
// as diagnostic settings name them (domain.md §3.1).
var controlPlaneCategories = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler",
	"cluster-autoscaler", "cloud-controller-manager", "guard", "csi-azuredisk-controller",
	"csi-azurefile-controller", "csi-snapshot-controller"}

// Activity Log categories: those of the REST schema (category.value,
// properties.eventCategory in the export) and those the export's
// category takes from the operation (Write, Delete, Action).
var activityCategories = []string{"Administrative", "ServiceHealth", "ResourceHealth", "Alert",
	"Autoscale", "Recommendation", "Security", "Policy", "Write", "Delete", "Action"}

// Entra ID sign-in categories.
var signInCategories = []string{"SignInLogs", "NonInteractiveUserSignInLogs",
	"ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs"}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

const aksProvider = "/providers/microsoft.containerservice/managedclusters/"

// kindOf returns the kind of a record by its category; "" when the
// category is not one this package decodes.
func kindOf(category, resourceID string, env *envelope) Kind {
	switch {
	case strings.EqualFold(category, "kube-audit"), strings.EqualFold(category, "kube-audit-admin"):
		return KindAudit
	case oneOf(category, signInCategories):
		return KindSignIn
	case oneOf(category, activityCategories):
		return KindActivity
	case oneOf(category, controlPlaneCategories):
		return KindControlPlane
	case containsFold(resourceID, aksProvider):
		// A category AKS added since: its records have the same
		// properties (log, pod, stream, containerID).
		return KindControlPlane
	}
	return ""
}

func containsFold(s, sub string) bool {
	return len(s) >= len(sub) && strings.Contains(strings.ToLower(s), sub)
}

// Audit is a kube-audit or kube-audit-admin record: the Kubernetes audit
// event in properties.log, and the apiserver pod that wrote it.
type Audit struct {
	// Item is the event as k8saudit decodes it. Item.Raw is the event's
	// JSON text, decoded from the properties.log string (or the object
	// itself when properties.log is an object), without white space around
	// it: the bytes to keep in the ledger.
	k8saudit.Item
	PodName     string `json:"podName,omitempty"`     // properties.pod
	Stream      string `json:"stream,omitempty"`      // properties.stream
	ContainerID string `json:"containerId,omitempty"` // properties.containerID
}

func decodeAudit(rec *Record, env *envelope, lim Limits) *Error {
	p, err := env.properties()
	if err != nil {
		return err
	}
	a := &Audit{}
	if err := p.strings(field{"pod", &a.PodName}, field{"stream", &a.Stream}, field{"containerID", &a.ContainerID}); err != nil {
		return err
	}
	v := p.get("log")
	var ev []byte
	switch {
	case isNull(v):
		return fieldError("properties.log", "missing")
	case v[0] == '"':
		// The event as a JSON string (with a trailing newline, as the
		// apiserver's log backend writes it): decode it a second time.
		b, err := appendUnquoted(make([]byte, 0, len(v)), v)
		if err != nil {
			return fieldError("properties.log", err.Error())
		}
		ev = b
	case v[0] == '{':
		ev = v
	default:
		return fieldError("properties.log", "neither a string nor an object")
	}
	it, derr := k8saudit.DecodeLine(ev, lim.Audit)
	if derr != nil {
		reason := derr.Error()
		var de *k8saudit.DecodeError
		if errors.As(derr, &de) {
			reason = de.Reason
		}
		return &Error{Field: "properties.log", Reason: "not a Kubernetes audit event: " + reason, err: derr}
	}
	a.Item = it
	rec.Audit = a
	return nil
}

// ControlPlane is a record of another AKS category (kube-apiserver, guard,
// …): the columns of the Log Analytics AKSControlPlane table.
type ControlPlane struct {
	Category    string `json:"category"`              // the record's category
	Level       string `json:"level"`                 // Info, Warning, Error or Fatal, from the klog header of the message; "" if it has none
	Message     string `json:"message"`               // properties.log, without its trailing newline
	PodName     string `json:"podName,omitempty"`     // properties.pod
	Stream      string `json:"stream,omitempty"`      // properties.stream: stdout or stderr
	ContainerID string `json:"containerId,omitempty"` // properties.containerID
}

func decodeControlPlane(rec *Record, env *envelope) *Error {
	p, err := env.properties()
	if err != nil {
		return err
	}
	if p == nil {
		return fieldError("properties", "missing")
	}
	c := &ControlPlane{Category: rec.Category}
	if err := p.strings(field{"log", &c.Message}, field{"pod", &c.PodName}, field{"stream", &c.Stream}, field{"containerID", &c.ContainerID}); err != nil {
		return err
	}
	if p.get("log") == nil {
		return fieldError("properties.log", "missing")
	}
	c.Message = strings.TrimRight(c.Message, "\r\n")
	c.Level = klogLevel(c.Message)
	if c.Level == "" {
		var lvl string
		if err := env.text(mLevel, &lvl); err != nil {
			return err
		}
		c.Level = lvl
	}
	rec.ControlPlane = c
	return nil
}

// klogLevel returns the level of a klog line, "I0624 20:14:59.855669 1
// wrap.go:47] …": Info, Warning, Error or Fatal; "" for another line.
func klogLevel(s string) string {
	if len(s) < 6 || s[5] != ' ' {
		return ""
	}
	for _, c := range s[1:5] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	switch s[0] {
	case 'I':
		return "Info"
	case 'W':
		return "Warning"
	case 'E':
		return "Error"
	case 'F':
		return "Fatal"
	}
	return ""
}

// Activity is an Azure Activity Log record, as the Log Analytics
// AzureActivity columns hold it. The export (resource-log schema) has no
// localized values: the display columns (ActivityStatus, OperationName,
// Category, ResourceProvider, …) hold the same value as their …Value
// column. See FORMAT.md for each field's source.
type Activity struct {
	ActivityStatus         string          `json:"ActivityStatus"`
	ActivityStatusValue    string          `json:"ActivityStatusValue"`
	ActivitySubstatus      string          `json:"ActivitySubstatus"`
	ActivitySubstatusValue string          `json:"ActivitySubstatusValue"`
	Authorization          string          `json:"Authorization"`
	AuthorizationD         json.RawMessage `json:"Authorization_d,omitempty"`
	Caller                 string          `json:"Caller"`
	CallerIPAddress        string          `json:"CallerIpAddress"`
	Category               string          `json:"Category"`
	CategoryValue          string          `json:"CategoryValue"`
	Claims                 string          `json:"Claims"`
	ClaimsD                json.RawMessage `json:"Claims_d,omitempty"`
	CorrelationID          string          `json:"CorrelationId"`
	Description            string          `json:"Description,omitempty"`
	EventDataID            string          `json:"EventDataId"`
	EventName              string          `json:"EventName,omitempty"`
	Hierarchy              string          `json:"Hierarchy"`
	Level                  string          `json:"Level"`
	OperationID            string          `json:"OperationId"`
	OperationName          string          `json:"OperationName"`
	OperationNameValue     string          `json:"OperationNameValue"`
	Properties             string          `json:"Properties"`
	PropertiesD            json.RawMessage `json:"Properties_d,omitempty"`
	Resource               string          `json:"Resource"`
	ResourceGroup          string          `json:"ResourceGroup"`
	ResourceProvider       string          `json:"ResourceProvider"`
	ResourceProviderValue  string          `json:"ResourceProviderValue"`
	ResourceType           string          `json:"ResourceType,omitempty"`
	SubscriptionID         string          `json:"SubscriptionId"`
	// TenantID is the Entra tenant of the record (its tenantId, else the
	// tenantid claim), not the Log Analytics TenantId column, which is the
	// workspace's id.
	TenantID string `json:"EntraTenantId,omitempty"`
}

// Claims holding the caller's identity, in the order Caller tries them.
const (
	claimUPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	claimOID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	claimTID = "http://schemas.microsoft.com/identity/claims/tenantid"
)

func decodeActivity(rec *Record, env *envelope) *Error {
	a := &Activity{}
	for _, f := range []struct {
		m   int
		dst *string
	}{{mResultType, &a.ActivityStatusValue}, {mResultSignature, &a.ActivitySubstatusValue}, {mResultDescription, &a.Description}, {mCallerIPAddress, &a.CallerIPAddress}, {mCorrelationID, &a.CorrelationID}, {mLevel, &a.Level}, {mTenantID, &a.TenantID}, {mCaller, &a.Caller}} {
		if err := env.text(f.m, f.dst); err != nil {
			return err
		}
	}
	a.ActivityStatus = a.ActivityStatusValue
	a.ActivitySubstatus = a.ActivitySubstatusValue
	a.OperationNameValue = rec.OperationName
	a.OperationName = rec.OperationName
	if a.Level == "Information" {
		a.Level = "Informational" // the Log Analytics spelling
	}

	// identity: {authorization, claims}.
	var authz, claims []byte
	if v := env.v[mIdentity]; !isNull(v) {
		if v[0] != '{' {
			return fieldError("identity", "not an object")
		}
		var dup string
		_ = members(v, func(name string, val []byte) error {
			switch name {
			case "authorization":
				if authz != nil {
					dup = name
				}
				authz = val
			case "claims":
				if claims != nil {
					dup = name
				}
				claims = val
			}
			return nil
		})
		if dup != "" {
			return fieldError("identity."+dup, "duplicate member")
		}
	}
	var err error
	if a.AuthorizationD, err = object(authz); err != nil {
		return fieldError("identity.authorization", err.Error())
	}
	if a.ClaimsD, err = object(claims); err != nil {
		return fieldError("identity.claims", err.Error())
	}
	a.Authorization, a.Claims = string(a.AuthorizationD), string(a.ClaimsD)
	if a.Caller == "" || a.TenantID == "" {
		c, err := claimsOf(claims)
		if err != nil {
			return err
		}
		if a.Caller == "" {
			a.Caller = firstOf(c[claimUPN], c[claimOID], c["oid"])
		}
		if a.Caller == "" && authz != nil {
			a.Caller, _ = principalID(authz)
		}
		if a.TenantID == "" {
			a.TenantID = firstOf(c[claimTID], c["tid"])
		}
	}

	// properties: kept whole; eventCategory, eventName, operationId,
	// hierarchy and eventDataId fill columns of their own.
	p, perr := env.properties()
	if perr != nil {
		return perr
	}
	var eventCategory string
	if err := p.strings(field{"eventCategory", &eventCategory}, field{"eventName", &a.EventName}, field{"operationId", &a.OperationID}, field{"hierarchy", &a.Hierarchy}, field{"eventDataId", &a.EventDataID}); err != nil {
		return err
	}
	if p != nil {
		a.PropertiesD = compact(p.raw)
		a.Properties = string(a.PropertiesD)
	}
	switch {
	case eventCategory != "":
		a.CategoryValue = eventCategory
	case oneOf(rec.Category, activityCategories[:8]):
		a.CategoryValue = rec.Category
	default:
		// Write, Delete, Action: "If properties.eventCategory isn't
		// present, category is Administrative".
		a.CategoryValue = "Administrative"
	}
	a.Category = a.CategoryValue

	id := ParseResourceID(rec.ResourceID)
	a.SubscriptionID, a.ResourceGroup = id.SubscriptionID, id.ResourceGroup
	a.ResourceProviderValue, a.ResourceProvider = id.Provider, id.Provider
	a.ResourceType, a.Resource = id.Type, id.Name
	rec.Activity = a
	return nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// claimsOf returns the string claims of the claims object v.
func claimsOf(v []byte) (map[string]string, *Error) {
	c := map[string]string{}
	if isNull(v) {
		return c, nil
	}
	var err error
	_ = members(v, func(name string, val []byte) error {
		switch name {
		case claimUPN, claimOID, claimTID, "oid", "tid":
			var s string
			if s, err = text(val); err != nil {
				err = fmt.Errorf("%s: %w", name, err)
				return err
			}
			c[name] = s
		}
		return nil
	})
	if err != nil {
		return nil, fieldError("identity.claims", err.Error())
	}
	return c, nil
}

// principalID returns authorization.evidence.principalId.
func principalID(authz []byte) (string, error) {
	var evidence, id []byte
	_ = members(authz, func(name string, v []byte) error {
		if name == "evidence" && v[0] == '{' {
			evidence = v
		}
		return nil
	})
	if evidence == nil {
		return "", nil
	}
	_ = members(evidence, func(name string, v []byte) error {
		if name == "principalId" {
			id = v
		}
		return nil
	})
	return text(id)
}

// SignIn is an Entra ID sign-in record (categories SignInLogs,
// NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs,
// ManagedIdentitySignInLogs), as the Log Analytics SigninLogs columns hold
// it. See FORMAT.md for each field's source.
type SignIn struct {
	CreatedDateTime           time.Time       `json:"CreatedDateTime,omitzero"`
	UserPrincipalName         string          `json:"UserPrincipalName"`
	UserDisplayName           string          `json:"UserDisplayName"`
	UserID                    string          `json:"UserId"`
	UserType                  string          `json:"UserType"`
	IPAddress                 string          `json:"IPAddress"`
	Location                  string          `json:"Location"`
	LocationDetails           json.RawMessage `json:"LocationDetails,omitempty"`
	ResultType                string          `json:"ResultType"`
	ResultDescription         string          `json:"ResultDescription"`
	ResultSignature           string          `json:"ResultSignature"`
	Status                    json.RawMessage `json:"Status,omitempty"`
	AppDisplayName            string          `json:"AppDisplayName"`
	AppID                     string          `json:"AppId"`
	ResourceDisplayName       string          `json:"ResourceDisplayName"`
	ClientAppUsed             string          `json:"ClientAppUsed"`
	ConditionalAccessStatus   string          `json:"ConditionalAccessStatus"`
	ConditionalAccessPolicies json.RawMessage `json:"ConditionalAccessPolicies,omitempty"`
	AuthenticationRequirement string          `json:"AuthenticationRequirement"`
	AuthenticationDetails     json.RawMessage `json:"AuthenticationDetails,omitempty"`
	MfaDetail                 json.RawMessage `json:"MfaDetail,omitempty"`
	DeviceDetail              json.RawMessage `json:"DeviceDetail,omitempty"`
	IsInteractive             bool            `json:"IsInteractive"`
	IsRisky                   bool            `json:"IsRisky"`
	RiskLevelDuringSignIn     string          `json:"RiskLevelDuringSignIn"`
	RiskLevelAggregated       string          `json:"RiskLevelAggregated"`
	RiskState                 string          `json:"RiskState"`
	RiskDetail                string          `json:"RiskDetail"`
	UserAgent                 string          `json:"UserAgent"`
	CorrelationID             string          `json:"CorrelationId"`
	ID                        string          `json:"Id"`
	OperationName             string          `json:"OperationName"`
	Category                  string          `json:"Category"`
	Identity                  string          `json:"Identity"`
	AADTenantID               string          `json:"AADTenantId"`
	HomeTenantID              string          `json:"HomeTenantId"`
	ServicePrincipalID        string          `json:"ServicePrincipalId"`
	ServicePrincipalName      string          `json:"ServicePrincipalName"`
	TokenIssuerType           string          `json:"TokenIssuerType"`
	UniqueTokenIdentifier     string          `json:"UniqueTokenIdentifier"`
}

func decodeSignIn(rec *Record, env *envelope) *Error {
	p, err := env.properties()
	if err != nil {
		return err
	}
	if p == nil {
		return fieldError("properties", "missing")
	}
	s := &SignIn{OperationName: rec.OperationName, Category: rec.Category}
	for _, f := range []struct {
		m   int
		dst *string
	}{{mResultType, &s.ResultType}, {mResultSignature, &s.ResultSignature}, {mResultDescription, &s.ResultDescription}, {mLocation, &s.Location}, {mTenantID, &s.AADTenantID}, {mCallerIPAddress, &s.IPAddress}, {mCorrelationID, &s.CorrelationID}} {
		if err := env.text(f.m, f.dst); err != nil {
			return err
		}
	}
	if v := env.v[mIdentity]; !isNull(v) && v[0] == '"' {
		s.Identity, _ = unquote(v)
	}
	// properties override the envelope's copies where both exist.
	var ip, corr, created, tenant string
	if err := p.strings(field{"id", &s.ID}, field{"createdDateTime", &created}, field{"userPrincipalName", &s.UserPrincipalName}, field{"userDisplayName", &s.UserDisplayName}, field{"userId", &s.UserID}, field{"userType", &s.UserType}, field{"ipAddress", &ip}, field{"appDisplayName", &s.AppDisplayName}, field{"appId", &s.AppID}, field{"resourceDisplayName", &s.ResourceDisplayName}, field{"clientAppUsed", &s.ClientAppUsed}, field{"conditionalAccessStatus", &s.ConditionalAccessStatus}, field{"authenticationRequirement", &s.AuthenticationRequirement}, field{"riskLevelDuringSignIn", &s.RiskLevelDuringSignIn}, field{"riskLevelAggregated", &s.RiskLevelAggregated}, field{"riskState", &s.RiskState}, field{"riskDetail", &s.RiskDetail}, field{"userAgent", &s.UserAgent}, field{"correlationId", &corr}, field{"homeTenantId", &s.HomeTenantID}, field{"servicePrincipalId", &s.ServicePrincipalID}, field{"servicePrincipalName", &s.ServicePrincipalName}, field{"tokenIssuerType", &s.TokenIssuerType}, field{"uniqueTokenIdentifier", &s.UniqueTokenIdentifier}, field{"tenantId", &tenant}); err != nil {
		return err
	}
	s.IPAddress = firstOf(ip, s.IPAddress)
	s.CorrelationID = firstOf(corr, s.CorrelationID)
	s.AADTenantID = firstOf(s.AADTenantID, tenant)
	if created != "" {
		t, err := parseTime(created)
		if err != nil {
			return fieldError("properties.createdDateTime", err.Error())
		}
		s.CreatedDateTime = t
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"isInteractive", &s.IsInteractive}, {"isRisky", &s.IsRisky}} {
		b, err := boolean(p.get(f.name))
		if err != nil {
			return fieldError("properties."+f.name, err.Error())
		}
		*f.dst = b
	}
	for name, dst := range map[string]*json.RawMessage{"location": &s.LocationDetails, "status": &s.Status,
		"appliedConditionalAccessPolicies": &s.ConditionalAccessPolicies,
		"authenticationDetails":            &s.AuthenticationDetails, "mfaDetail": &s.MfaDetail,
		"deviceDetail": &s.DeviceDetail} {
		*dst = dynamic(p.get(name))
	}
	// Location: the envelope's country code, else location.countryOrRegion.
	// ResultType: the envelope's, else status.errorCode as text.
	loc, status := p.get("location"), p.get("status")
	if s.Location == "" && !isNull(loc) && loc[0] == '{' {
		if s.Location, err = member(loc, "countryOrRegion", "properties.location"); err != nil {
			return err
		}
	}
	if !isNull(status) && status[0] == '{' {
		var code, reason string
		if code, err = member(status, "errorCode", "properties.status"); err != nil {
			return err
		}
		if reason, err = member(status, "failureReason", "properties.status"); err != nil {
			return err
		}
		s.ResultType = firstOf(s.ResultType, code)
		s.ResultDescription = firstOf(s.ResultDescription, reason)
	}
	rec.SignIn = s
	return nil
}

// member returns the text of the member name of the object obj, at path.
func member(obj []byte, name, path string) (string, *Error) {
	var v []byte
	_ = members(obj, func(n string, val []byte) error {
		if n == name {
			v = val
		}
		return nil
	})
	s, err := text(v)
	if err != nil {
		return "", fieldError(path+"."+name, err.Error())
	}
	return s, nil
}

// boolean reads a JSON boolean, or the strings "true" and "false" as some
// exports write them; absent or null is false.
func boolean(v []byte) (bool, error) {
	switch string(bytes.Trim(v, `"`)) {
	case "", "null", "false", "False":
		return false, nil
	case "true", "True":
		return true, nil
	}
	return false, errors.New("not a boolean")
}
