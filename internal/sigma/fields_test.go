package sigma

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cdewatch/cdewatch/internal/event"
)

// TestAzureColumns checks that the Log Analytics column names Sigma's
// Azure rules use find their values in the diagnostic export records, as
// cdewatch's ledger keeps them.
func TestAzureColumns(t *testing.T) {
	activity := `{"time":"2025-04-20T17:02:11Z","resourceId":"/SUBSCRIPTIONS/3F2A1C6E-0B7D-4E59-9A41-6C2D8E1F7A90/RESOURCEGROUPS/RG-CDE/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-CDE",
		"operationName":"MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/LISTCLUSTERADMINCREDENTIAL/ACTION","category":"Action","resultType":"Success",
		"resultSignature":"Succeeded.OK","callerIpAddress":"203.0.113.45","correlationId":"c-1","level":"Information",
		"identity":{"authorization":{"scope":"/subscriptions/x","action":"Microsoft.ContainerService/managedClusters/listClusterAdminCredential/action","evidence":{"role":"Owner"}},
		"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"alice@contoso.com"}},"properties":{"statusCode":"OK","hierarchy":"t/mg"}}`
	signin := `{"time":"2025-04-20T07:52:30Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs",
		"tenantId":"t","callerIpAddress":"192.0.2.99","Level":4,"properties":{"id":"s-1","createdDateTime":"2025-04-20T07:52:30Z","userPrincipalName":"admin@contoso.com",
		"appDisplayName":"Azure Portal","ipAddress":"192.0.2.99","status":{"errorCode":500121,"failureReason":"Authentication failed during strong authentication request.","additionalDetails":"MFA denied; user declined the authentication"},
		"deviceDetail":{"deviceId":"","trustType":"Azure AD registered","isCompliant":false},"authenticationRequirement":"multiFactorAuthentication","networkLocationDetails":[]}}`
	cases := []struct {
		table, doc, field, value string
		want                     bool
	}{
		{event.TableAzureActivity, activity, "CategoryValue", "Administrative", true}, // the export writes Action
		{event.TableAzureActivity, activity, "Category", "Action", false},
		{event.TableAzureActivity, activity, "ResourceProviderValue", "Microsoft.ContainerService", true},
		{event.TableAzureActivity, activity, "ResourceProvider", "Microsoft.Storage", false},
		{event.TableAzureActivity, activity, "ResourceGroup", "rg-cde", true},
		{event.TableAzureActivity, activity, "SubscriptionId", "3f2a1c6e-0b7d-4e59-9a41-6c2d8e1f7a90", true},
		{event.TableAzureActivity, activity, "Resource", "aks-cde", true},
		{event.TableAzureActivity, activity, "ResourceId|contains", "/managedClusters/", true},
		{event.TableAzureActivity, activity, "OperationNameValue|endswith", "/listClusterAdminCredential/action", true},
		{event.TableAzureActivity, activity, "ActivityStatusValue", "Succeeded", true},
		{event.TableAzureActivity, activity, "ActivityStatus", "Success", true},
		{event.TableAzureActivity, activity, "Status", "Failed", false},
		{event.TableAzureActivity, activity, "ActivitySubstatusValue", "Succeeded.OK", true},
		{event.TableAzureActivity, activity, "Level", "Informational", true},
		{event.TableAzureActivity, activity, "Caller", "alice@contoso.com", true},
		{event.TableAzureActivity, activity, "CallerIpAddress|cidr", "203.0.113.0/24", true},
		{event.TableAzureActivity, activity, "Authorization.evidence.role", "Owner", true},
		{event.TableAzureActivity, activity, "Authorization_d.action|contains", "listClusterAdminCredential", true},
		{event.TableAzureActivity, activity, "Hierarchy", "t/mg", true},
		{event.TableAzureActivity, activity, "properties.statusCode", "OK", true},
		{event.TableAzureActivity, activity, "Properties.StatusCode", "OK", true},
		{event.TableAzureActivity, activity, "resultSignature", "Succeeded.OK", true},
		{event.TableAzureActivity, activity, "cdewatch.user", "alice@contoso.com", true},
		{event.TableSigninLogs, signin, "ResultType", "500121", true}, // from properties.status.errorCode
		{event.TableSigninLogs, signin, "ResultDescription|contains", "strong authentication", true},
		{event.TableSigninLogs, signin, "Status", "Failure", true},
		{event.TableSigninLogs, signin, "Status", "Success", false},
		{event.TableSigninLogs, signin, "Status|contains", "MFA Denied", true},
		{event.TableSigninLogs, signin, "Status.errorCode", "500121", true},
		{event.TableSigninLogs, signin, "UserPrincipalName", "ADMIN@contoso.com", true},
		{event.TableSigninLogs, signin, "IPAddress", "192.0.2.99", true},
		{event.TableSigninLogs, signin, "DeviceDetail.trusttype", "Azure AD registered", true},
		{event.TableSigninLogs, signin, "DeviceDetail.isCompliant", "false", true},
		{event.TableSigninLogs, signin, "DeviceDetail.deviceId", "", true},
		{event.TableSigninLogs, signin, "NetworkLocationDetails", "[]", true},
		{event.TableSigninLogs, signin, "authenticationrequirement", "multiFactorAuthentication", true},
		{event.TableSigninLogs, signin, "AppDisplayName", "Azure Portal", true},
		{event.TableSigninLogs, signin, "Category", "SignInLogs", true},
		{event.TableSigninLogs, signin, "Location", "NL", false},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			service := "activitylogs"
			if tc.table == event.TableSigninLogs {
				service = "signinlogs"
			}
			rule := fmt.Sprintf("title: t\nid: x\nlogsource:\n    product: azure\n    service: %s\ndetection:\n    sel:\n        %s: '%s'\n    condition: sel\n",
				service, tc.field, strings.ReplaceAll(tc.value, "'", "''"))
			s := loadOne(t, rule)
			e := ledgerEvent(t, tc.table, []byte(tc.doc), 1)
			if got := s.Rules()[0].Match(e); got != tc.want {
				t.Errorf("%s: %q: got %v, want %v", tc.field, tc.value, got, tc.want)
			}
		})
	}
}

// TestMeta checks what is read from tags and levels.
func TestMeta(t *testing.T) {
	s := loadOne(t, "title: t\nid: x\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n    s:\n        verb: get\n    condition: s\n"+
		"tags:\n    - attack.t1552.007\n    - attack.T1078\n    - attack.credential-access\n    - attack.stealth\n    - attack.g0016\n    - attack.t12\n    - pci.10.2.1.1\n    - cve.2021-25741\n")
	r := s.Rules()[0]
	if got := fmt.Sprint(r.MITRE, r.Tactics, r.PCI, r.Severity, r.Tables); got != "[T1552.007 T1078] [credential-access stealth] [10.2.1.1 10.4.1.1] medium [KubeAuditLogs]" {
		t.Errorf("got %s", got)
	}
	for _, tc := range []struct {
		span string
		ok   bool
	}{{"10m", true}, {"1d", true}, {"30s", true}, {"2h", true}, {"0m", false}, {"10", false}, {"1w", false}, {"m", false}, {"-5m", false}, {"366d", false}} {
		if _, err := parseTimespan(tc.span); (err == nil) != tc.ok {
			t.Errorf("parseTimespan(%q): %v", tc.span, err)
		}
	}
}

// TestGKE checks that GKE rules load for no table.
func TestGKE(t *testing.T) {
	s := loadOne(t, "title: t\nid: x\nlogsource:\n    product: gcp\n    service: gcp.audit\ndetection:\n    s:\n        gcp.audit.method_name|endswith: secrets.create\n    condition: s\n")
	r := s.Rules()[0]
	if len(r.Tables) != 0 || len(s.Tables()) != 0 {
		t.Errorf("tables %v %v", r.Tables, s.Tables())
	}
	if !r.Match(rawEvent("", `{"gcp":{"audit":{"method_name":"io.k8s.core.v1.secrets.create"}}}`)) ||
		!r.Match(rawEvent("", `{"gcp.audit.method_name":"io.k8s.core.v1.secrets.create"}`)) {
		t.Error("no match")
	}
}
