package azure

import (
	"strconv"
	"strings"

	"github.com/cdewatch/cdewatch/internal/event"
)

// Event returns the ledger record of an Activity Log, sign-in or
// control-plane record: the PCI DSS 10.2.2 details and the 10.2.1.x
// classes, with Raw the record as received (r.Raw, the envelope included),
// which is what the index's mappings decode again (DecodeRecord). The
// caller sets Received and Source. It returns false for a kube-audit
// record, whose event goes through the Kubernetes audit classifier
// (k8saudit.Classifier.Normalize of r.Audit.Item, Raw the event itself),
// and for a Record without its payload.
//
// The ledger form, by kind:
//
//	kind          Table            User                        Action                 Resource
//	activity      AzureActivity    Activity.Caller             OperationNameValue     ResourceID
//	signin        SigninLogs       UserPrincipalName, else     OperationName, else    AppDisplayName, else
//	                               the service principal, …    the category           ResourceDisplayName, AppId
//	controlplane  AKSControlPlane  ""                          the category           ResourceID (the cluster)
//
// Time is r.Time. Outcome: for activity, ActivityStatusValue Success or
// Succeeded is success, Failure or Failed failure, anything else (Start,
// Accept, Active, …) unknown; for a sign-in, ResultType "0" is success,
// any other code failure, none unknown; a control-plane line is unknown.
// Status: for activity the HTTP code of properties.statusCode, else of the
// resultSignature after its dot (Succeeded.OK is 200, Failed.Forbidden
// 403); for a sign-in the Entra error code (ResultType), 0 for success.
// OriginIP: callerIpAddress, the sign-in's IPAddress. UserAgent: the
// sign-in's. Key: the sign-in's Id, the activity's EventDataId when the
// export has one (it usually has not); else "".
//
// Classes (event.Class), which say what a request was about whatever its
// outcome:
//
//   - activity, AdminAction (10.2.1.2): a write, delete or action operation
//     of the Administrative category with a caller: every such operation
//     needs an Azure RBAC role that administers the resource. Reading
//     credentials (…/listClusterAdminCredential/action,
//     …/listClusterUserCredential/action, …/listKeys/action,
//     …/sharedKeys/action) is AdminAction: it obtains administrative access
//     but changes no credential.
//   - activity, CredentialChange (10.2.1.5): writes and deletes of
//     Microsoft.Authorization role* types (roleAssignments,
//     roleDefinitions, PIM schedule requests), Microsoft.Authorization/
//     elevateAccess/action, writes and deletes of Microsoft.ManagedIdentity
//     identities and federated credentials, Key Vault access policies, and
//     actions that regenerate or rotate keys and certificates or reset a
//     cluster's service principal or Entra profile.
//   - activity, LogInitStop (10.2.1.6): writes and deletes of diagnostic
//     settings (Microsoft.Insights, microsoft.aadiam), log profiles, data
//     collection rules and their associations, and of Log Analytics
//     workspaces, their tables, data sources and data exports.
//   - activity, LogAccess (10.2.1.3): Log Analytics query and search
//     operations (Microsoft.OperationalInsights/workspaces/query/…,
//     …/search/action).
//   - activity, SystemObject (10.2.1.7): any delete operation, and a write
//     whose status is 201 Created (the Activity Log does not otherwise tell
//     a creation from an update).
//   - activity, InvalidAccess (10.2.1.4): a failed operation with status
//     401 or 403, and a policy's deny (Microsoft.Authorization/policies/
//     deny/action).
//   - sign-in, InvalidAccess: a failed sign-in.
//   - control plane: none.
func (r *Record) Event() (event.Record, bool) {
	switch {
	case r.Kind == KindActivity && r.Activity != nil:
		return r.activityEvent(), true
	case r.Kind == KindSignIn && r.SignIn != nil:
		return r.signInEvent(), true
	case r.Kind == KindControlPlane && r.ControlPlane != nil:
		return event.Record{Time: r.Time, Table: event.TableAKSControlPlane, Action: r.Category,
			Outcome: event.Unknown, Resource: r.ResourceID, Raw: r.Raw}, true
	}
	return event.Record{}, false
}

func (r *Record) activityEvent() event.Record {
	a := r.Activity
	e := event.Record{Time: r.Time, Table: event.TableAzureActivity, Key: a.EventDataID, User: a.Caller,
		Action: a.OperationNameValue, OriginIP: a.CallerIPAddress, Resource: r.ResourceID, Raw: r.Raw}
	switch {
	case strings.EqualFold(a.ActivityStatusValue, "Success"), strings.EqualFold(a.ActivityStatusValue, "Succeeded"):
		e.Outcome = event.Success
	case strings.EqualFold(a.ActivityStatusValue, "Failure"), strings.EqualFold(a.ActivityStatusValue, "Failed"):
		e.Outcome = event.Failure
	default:
		e.Outcome = event.Unknown
	}
	e.Status = activityStatusCode(a)
	e.PCI = activityClass(a, e.Outcome, e.Status)
	return e
}

// activityStatusCode returns the HTTP status code of an Activity Log
// record: its properties.statusCode (a name such as "Created", or a
// number), else the part of its resultSignature after the last dot
// ("Succeeded.OK"); 0 when neither names a known code.
func activityStatusCode(a *Activity) int {
	if a == nil {
		return 0
	}
	if len(a.PropertiesD) > 0 {
		var code string
		_ = members(a.PropertiesD, func(name string, v []byte) error {
			if name == "statusCode" {
				code, _ = text(v)
			}
			return nil
		})
		if c := httpStatus(code); c != 0 {
			return c
		}
	}
	sig := a.ActivitySubstatusValue
	if i := strings.LastIndexByte(sig, '.'); i >= 0 {
		sig = sig[i+1:]
	}
	return httpStatus(sig)
}

// httpStatuses are the status names Azure Resource Manager writes, as Go's
// http.StatusText spells them without spaces.
var httpStatuses = map[string]int{
	"ok": 200, "created": 201, "accepted": 202, "nocontent": 204,
	"movedpermanently": 301, "found": 302, "notmodified": 304,
	"badrequest": 400, "unauthorized": 401, "forbidden": 403, "notfound": 404, "methodnotallowed": 405,
	"conflict": 409, "gone": 410, "preconditionfailed": 412, "requestentitytoolarge": 413,
	"toomanyrequests": 429, "internalservererror": 500, "notimplemented": 501, "badgateway": 502,
	"serviceunavailable": 503, "gatewaytimeout": 504,
}

// httpStatus returns the code of a status name or number, 0 if unknown.
func httpStatus(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 100 && n <= 599 {
			return n
		}
		return 0
	}
	return httpStatuses[strings.ToLower(s)]
}

// Lower-case operation types (the operation name without its last
// segment) whose writes and deletes start, stop or reconfigure audit
// logging (10.2.1.6).
var logConfigTypes = map[string]bool{
	"microsoft.insights/diagnosticsettings":                true,
	"microsoft.aadiam/diagnosticsettings":                  true,
	"microsoft.insights/logprofiles":                       true,
	"microsoft.insights/datacollectionrules":               true,
	"microsoft.insights/datacollectionruleassociations":    true,
	"microsoft.operationalinsights/workspaces":             true,
	"microsoft.operationalinsights/workspaces/tables":      true,
	"microsoft.operationalinsights/workspaces/datasources": true,
	"microsoft.operationalinsights/workspaces/dataexports": true,
}

// Lower-case operation types whose writes and deletes change identities
// or what they may do (10.2.1.5), besides the role* types of
// Microsoft.Authorization.
var credentialTypes = map[string]bool{
	"microsoft.managedidentity/userassignedidentities":                              true,
	"microsoft.managedidentity/userassignedidentities/federatedidentitycredentials": true,
	"microsoft.keyvault/vaults/accesspolicies":                                      true,
}

// Lower-case names of actions (the segment before /action) that change
// credentials, besides those that start with regenerate or rotate.
var credentialActions = map[string]bool{
	"elevateaccess":                 true, // Microsoft.Authorization/elevateAccess/action
	"resetserviceprincipalprofile":  true, // managedClusters
	"resetaadprofile":               true, // managedClusters
	"resetserviceprincipalpassword": true,
}

// activityClass returns the 10.2.1.x classes of an Activity Log record.
func activityClass(a *Activity, outcome event.Outcome, status int) event.Class {
	op := strings.ToLower(a.OperationNameValue)
	typ, verb := op, ""
	if i := strings.LastIndexByte(op, '/'); i >= 0 {
		typ, verb = op[:i], op[i+1:]
	}
	name := typ // the action's name, for verb "action"
	if i := strings.LastIndexByte(typ, '/'); i >= 0 {
		name = typ[i+1:]
	}
	modifies := verb == "write" || verb == "delete"
	var c event.Class
	if a.Caller != "" && strings.EqualFold(a.CategoryValue, "Administrative") && (modifies || verb == "action") {
		c |= event.AdminAction
	}
	switch {
	case modifies && strings.HasPrefix(typ, "microsoft.authorization/role"),
		modifies && credentialTypes[typ],
		verb == "action" && (credentialActions[name] || strings.HasPrefix(name, "regenerate") || strings.HasPrefix(name, "rotate")):
		c |= event.CredentialChange
	}
	if modifies && logConfigTypes[typ] {
		c |= event.LogInitStop
	}
	if strings.HasPrefix(typ, "microsoft.operationalinsights/workspaces/query") ||
		(verb == "action" && strings.HasPrefix(typ, "microsoft.operationalinsights/workspaces/search")) {
		c |= event.LogAccess
	}
	if verb == "delete" || verb == "write" && status == 201 {
		c |= event.SystemObject
	}
	if outcome == event.Failure && (status == 401 || status == 403) || op == "microsoft.authorization/policies/deny/action" {
		c |= event.InvalidAccess
	}
	return c
}

func (r *Record) signInEvent() event.Record {
	s := r.SignIn
	e := event.Record{Time: r.Time, Table: event.TableSigninLogs, Key: s.ID,
		User:     firstOf(s.UserPrincipalName, s.ServicePrincipalName, s.ServicePrincipalID, s.UserID, s.Identity),
		Action:   firstOf(s.OperationName, r.Category),
		OriginIP: s.IPAddress, UserAgent: s.UserAgent,
		Resource: firstOf(s.AppDisplayName, s.ResourceDisplayName, s.AppID), Raw: r.Raw}
	switch s.ResultType {
	case "":
		e.Outcome = event.Unknown
	case "0":
		e.Outcome = event.Success
	default:
		e.Outcome = event.Failure
		e.PCI = event.InvalidAccess
	}
	if n, err := strconv.Atoi(s.ResultType); err == nil {
		e.Status = n
	}
	return e
}
