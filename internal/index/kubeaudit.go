package index

import (
	"strings"
)

// Members of an audit.k8s.io Event that KubeAuditLogs columns take, as
// k8saudit.Event names them.
const (
	evLevel = iota
	evAuditID
	evStage
	evRequestURI
	evVerb
	evUser
	evImpersonatedUser
	evSourceIPs
	evObjectRef
	evResponseStatus
	evRequestObject
	evResponseObject
	evRequestReceivedTimestamp
	evStageTimestamp
	evAnnotations
	evCount
)

var eventMembers = [evCount]string{"level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser",
	"sourceIPs", "objectRef", "responseStatus", "requestObject", "responseObject", "requestReceivedTimestamp",
	"stageTimestamp", "annotations"}

// Members of objectRef that have columns of their own.
const (
	refResource = iota
	refNamespace
	refName
	refCount
)

var refMembers = [refCount]string{"resource", "namespace", "name"}

// kubeEvent holds the raw JSON values (nil when absent) of the members of
// the original audit event (the record's Raw) that columns take.
type kubeEvent struct {
	ev [evCount][]byte
	// evValid[i]: ev[i] is JSON that validJSON accepts, in valid UTF-8.
	evValid [evCount]bool
	ref     [refCount][]byte
	// Set when Raw cannot be read: from the record's key and action.
	auditID, stage, verb string
}

// prepareKubeAudit parses r.rec.Raw into r.k. Raw that is not a JSON
// object (which the audit decoder never accepts) leaves the columns that
// come from it empty, except those the record itself carries.
func prepareKubeAudit(r *row) {
	k := &r.k
	*k = kubeEvent{}
	if !scanMembers(r.rec.Raw, eventMembers[:], k.ev[:], k.evValid[:]) {
		k.ev, k.evValid = [evCount][]byte{}, [evCount]bool{}
		// Fall back on the record: its key is "auditID/stage", its
		// action starts with the verb.
		if i := strings.LastIndexByte(r.rec.Key, '/'); i >= 0 {
			k.auditID, k.stage = r.rec.Key[:i], r.rec.Key[i+1:]
		}
		k.verb, _, _ = strings.Cut(r.rec.Action, " ")
		return
	}
	scanMembers(k.ev[evObjectRef], refMembers[:], k.ref[:], nil)
}

// dynamic returns member i of the event as a dynamic column's value.
func (k *kubeEvent) dynamic(i int) cell { return checkedDynamicValue(k.ev[i], k.evValid[i]) }

// evString returns the string member i of the event.
func (k *kubeEvent) evString(i int, fallback string) cell {
	if v := k.ev[i]; v != nil {
		return checkedString(v, k.evValid[i])
	}
	return text(fallback)
}

// refString returns the string member i of the event's objectRef.
func (k *kubeEvent) refString(i int) cell { return checkedString(k.ref[i], k.evValid[evObjectRef]) }

// KubeAuditLogs: Kubernetes audit events (k8saudit.Classifier.Normalize).
var kubeAuditFields = append([]field{
	{ColTimeGenerated, func(r *row) cell { return timestamp(r.rec.Time) }},
	{"Level", func(r *row) cell { return r.k.evString(evLevel, "") }},
	{"AuditId", func(r *row) cell { return r.k.evString(evAuditID, r.k.auditID) }},
	{"Stage", func(r *row) cell { return r.k.evString(evStage, r.k.stage) }},
	{"RequestUri", func(r *row) cell { return r.k.evString(evRequestURI, "") }},
	{"Verb", func(r *row) cell { return r.k.evString(evVerb, r.k.verb) }},
	{"User", func(r *row) cell { return r.k.dynamic(evUser) }},
	{"ImpersonatedUser", func(r *row) cell { return r.k.dynamic(evImpersonatedUser) }},
	{"SourceIps", func(r *row) cell { return r.k.dynamic(evSourceIPs) }},
	{"UserAgent", func(r *row) cell { return text(r.rec.UserAgent) }},
	{"ObjectRef", func(r *row) cell { return r.k.dynamic(evObjectRef) }},
	{"ResponseStatus", func(r *row) cell { return r.k.dynamic(evResponseStatus) }},
	{"RequestObject", func(r *row) cell { return r.k.dynamic(evRequestObject) }},
	{"ResponseObject", func(r *row) cell { return r.k.dynamic(evResponseObject) }},
	{"RequestReceivedTime", func(r *row) cell { return timeValue(r.k.ev[evRequestReceivedTimestamp]) }},
	{"StageReceivedTime", func(r *row) cell { return timeValue(r.k.ev[evStageTimestamp]) }},
	{"Annotations", func(r *row) cell { return r.k.dynamic(evAnnotations) }},
	{"Caller", func(r *row) cell { return text(r.rec.User) }},
	{"OperationName", func(r *row) cell { return text(r.rec.Action) }},
	{"ObjectRef_Resource", func(r *row) cell { return r.k.refString(refResource) }},
	{"ObjectRef_Namespace", func(r *row) cell { return r.k.refString(refNamespace) }},
	{"ObjectRef_Name", func(r *row) cell { return r.k.refString(refName) }},
}, commonFields...)
