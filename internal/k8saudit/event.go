package k8saudit

import (
	"encoding/json"
	"time"
)

// API versions and kinds Decode accepts.
const (
	APIVersionV1      = "audit.k8s.io/v1"
	APIVersionV1beta1 = "audit.k8s.io/v1beta1"
	KindEvent         = "Event"
	KindEventList     = "EventList"
)

// Stages of a request, as kube-apiserver names them.
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// Event mirrors the fields of an audit.k8s.io/v1 (and v1beta1) Event that
// cdewatch uses. Fields it does not name are ignored when decoding; the
// original bytes are kept in Item.Raw.
type Event struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	// Level is None, Metadata, Request or RequestResponse.
	Level string `json:"level,omitempty"`
	// AuditID is unique per request and shared by the stages of a request.
	AuditID string `json:"auditID"`
	// Stage is RequestReceived, ResponseStarted, ResponseComplete or Panic.
	Stage string `json:"stage"`
	// RequestURI is the URI as sent by the client, query included.
	RequestURI string `json:"requestURI,omitempty"`
	// Verb is the Kubernetes verb (get, list, create, …) for resource
	// requests and the lower-cased HTTP method for non-resource requests.
	Verb string `json:"verb,omitempty"`
	// User is the authenticated user.
	User UserInfo `json:"user"`
	// ImpersonatedUser is set when the request used impersonation headers.
	ImpersonatedUser *UserInfo `json:"impersonatedUser,omitempty"`
	// SourceIPs lists X-Forwarded-For, X-Real-Ip and the connection's remote
	// address, in that order. Only the last element is not client-controlled.
	SourceIPs []string `json:"sourceIPs,omitempty"`
	// UserAgent is reported by the client and is not trustworthy.
	UserAgent string `json:"userAgent,omitempty"`
	// ObjectRef is set for every resource request, absent for non-resource
	// requests such as /healthz.
	ObjectRef *ObjectReference `json:"objectRef,omitempty"`
	// ResponseStatus is absent before the response is known (RequestReceived).
	ResponseStatus *Status `json:"responseStatus,omitempty"`
	// RequestObject is the request body, logged at level Request and above.
	RequestObject json.RawMessage `json:"requestObject,omitempty"`
	// ResponseObject is the response body, logged at level RequestResponse.
	ResponseObject json.RawMessage `json:"responseObject,omitempty"`
	// RequestReceivedTimestamp is when the request reached kube-apiserver.
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp,omitzero"`
	// StageTimestamp is when the stage was reached.
	StageTimestamp time.Time `json:"stageTimestamp,omitzero"`
	// Timestamp is the event time of audit.k8s.io/v1beta1 events, which
	// v1 replaced by the two timestamps above.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Annotations are set by authentication, authorization and admission,
	// e.g. authorization.k8s.io/decision.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// UserInfo is an authentication.k8s.io/v1 UserInfo.
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// ObjectReference names the object of a resource request. APIGroup is empty
// for the core group.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Status holds the fields of a metav1.Status that cdewatch uses. Code is the
// HTTP status code of the response.
type Status struct {
	Code    int    `json:"code,omitempty"`
	Status  string `json:"status,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Key returns the redelivery key "auditID/stage": the webhook backend retries
// whole batches, so the same key may arrive more than once.
func (e *Event) Key() string { return e.AuditID + "/" + e.Stage }
