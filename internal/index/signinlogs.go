package index

import (
	"github.com/cdewatch/cdewatch/internal/azure"
)

func prepareSigninLogs(r *row) {
	prepareAzure(r, azure.KindSignIn)
	if r.az.ok {
		return
	}
	// The ledger record's details.
	s := &r.az.sin
	s.UserPrincipalName, s.IPAddress, s.UserAgent = r.rec.User, r.rec.OriginIP, r.rec.UserAgent
	s.OperationName, s.ID = r.rec.Action, r.rec.Key
}

// SigninLogs: Entra ID sign-ins (azure.KindSignIn), of every sign-in
// category; Category tells them apart.
var signinLogsFields = append([]field{
	{ColTimeGenerated, func(r *row) cell { return timestamp(r.az.time) }},
	{"CreatedDateTime", func(r *row) cell { return timestamp(r.az.sin.CreatedDateTime) }},
	{"UserPrincipalName", func(r *row) cell { return text(r.az.sin.UserPrincipalName) }},
	{"UserDisplayName", func(r *row) cell { return text(r.az.sin.UserDisplayName) }},
	{"UserId", func(r *row) cell { return text(r.az.sin.UserID) }},
	{"UserType", func(r *row) cell { return text(r.az.sin.UserType) }},
	{"IPAddress", func(r *row) cell { return text(r.az.sin.IPAddress) }},
	{"Location", func(r *row) cell { return text(r.az.sin.Location) }},
	{"LocationDetails", func(r *row) cell { return dynamicRaw(r.az.sin.LocationDetails) }},
	{"ResultType", func(r *row) cell { return text(r.az.sin.ResultType) }},
	{"ResultDescription", func(r *row) cell { return text(r.az.sin.ResultDescription) }},
	{"ResultSignature", func(r *row) cell { return text(r.az.sin.ResultSignature) }},
	{"Status", func(r *row) cell { return dynamicRaw(r.az.sin.Status) }},
	{"AppDisplayName", func(r *row) cell { return text(r.az.sin.AppDisplayName) }},
	{"AppId", func(r *row) cell { return text(r.az.sin.AppID) }},
	{"ResourceDisplayName", func(r *row) cell { return text(r.az.sin.ResourceDisplayName) }},
	{"ClientAppUsed", func(r *row) cell { return text(r.az.sin.ClientAppUsed) }},
	{"ConditionalAccessStatus", func(r *row) cell { return text(r.az.sin.ConditionalAccessStatus) }},
	{"ConditionalAccessPolicies", func(r *row) cell { return dynamicRaw(r.az.sin.ConditionalAccessPolicies) }},
	{"AuthenticationRequirement", func(r *row) cell { return text(r.az.sin.AuthenticationRequirement) }},
	{"AuthenticationDetails", func(r *row) cell { return dynamicRaw(r.az.sin.AuthenticationDetails) }},
	{"MfaDetail", func(r *row) cell { return dynamicRaw(r.az.sin.MfaDetail) }},
	{"DeviceDetail", func(r *row) cell { return dynamicRaw(r.az.sin.DeviceDetail) }},
	{"IsInteractive", func(r *row) cell { return boolean(r.az.sin.IsInteractive) }},
	{"IsRisky", func(r *row) cell { return boolean(r.az.sin.IsRisky) }},
	{"RiskLevelDuringSignIn", func(r *row) cell { return text(r.az.sin.RiskLevelDuringSignIn) }},
	{"RiskLevelAggregated", func(r *row) cell { return text(r.az.sin.RiskLevelAggregated) }},
	{"RiskState", func(r *row) cell { return text(r.az.sin.RiskState) }},
	{"RiskDetail", func(r *row) cell { return text(r.az.sin.RiskDetail) }},
	{"UserAgent", func(r *row) cell { return text(r.az.sin.UserAgent) }},
	{"CorrelationId", func(r *row) cell { return text(r.az.sin.CorrelationID) }},
	{"Id", func(r *row) cell { return text(r.az.sin.ID) }},
	{"OperationName", func(r *row) cell { return text(r.az.sin.OperationName) }},
	{"Category", func(r *row) cell { return text(r.az.sin.Category) }},
	{"Identity", func(r *row) cell { return text(r.az.sin.Identity) }},
	{"AADTenantId", func(r *row) cell { return text(r.az.sin.AADTenantID) }},
	{"HomeTenantId", func(r *row) cell { return text(r.az.sin.HomeTenantID) }},
	{"ServicePrincipalId", func(r *row) cell { return text(r.az.sin.ServicePrincipalID) }},
	{"ServicePrincipalName", func(r *row) cell { return text(r.az.sin.ServicePrincipalName) }},
	{"TokenIssuerType", func(r *row) cell { return text(r.az.sin.TokenIssuerType) }},
	{"UniqueTokenIdentifier", func(r *row) cell { return text(r.az.sin.UniqueTokenIdentifier) }},
}, tailFields(nil, "Status")...)
