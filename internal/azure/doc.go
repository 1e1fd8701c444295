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
// DecodeRecord decodes one record by itself: the Raw of a Record, as the
// ledger keeps it, which is how the index reads those records again.
//
// Record.Event gives the ledger record (event.Record) of an Activity Log,
// sign-in or control-plane record: tables AzureActivity, SigninLogs and
// AKSControlPlane, Raw the record as received, the PCI DSS 10.2.2 details
// and the 10.2.1.x classes (FORMAT.md, "Ledger records"). A kube-audit
// record has none: its event goes through the Kubernetes audit classifier.
// The package stores nothing: that is the caller's (ingestion's) part.
package azure
