// Package azure decodes the exports of Azure Monitor diagnostic settings:
// Event Hubs bodies ({"records":[…]}, DecodeBody) and the JSON-lines blobs
// of a storage account (insights-logs-{category}/…/PT1H.json, DecodeLines).
//
// Each record becomes a Record of one kind:
//
//   - kube-audit and kube-audit-admin: the Kubernetes audit event of
//     properties.log, a JSON string decoded a second time (or an object),
//     checked by k8saudit.DecodeLine; its bytes are what the ledger keeps.
//   - the Azure Activity Log (Administrative, Policy, Security, …): the
//     values of the Log Analytics AzureActivity columns.
//   - Entra ID sign-ins (SignInLogs and the other sign-in categories): the
//     values of the SigninLogs columns.
//   - the other AKS categories (kube-apiserver, guard, …): the values of the
//     AKSControlPlane columns.
//
// A bad record never hides the good ones: the decoders return (or pass to a
// callback) the good records and an *Error for each bad one, naming the
// record and the member at fault. Only a body that cannot be read as a
// whole (malformed JSON, no records array, over the size limit) is rejected
// whole. FORMAT.md documents what is accepted and how each field maps.
//
// The package turns nothing into event.Record and stores nothing: that is
// the caller's (ingestion's) part.
package azure
