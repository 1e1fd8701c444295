package azurediag

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Lifecycle is a storage account's lifecycle management policy, as `az
// storage account management-policy show` prints it (or the policy
// document alone, {"rules": [...]}). Since Azure stopped applying the
// retention of diagnostic settings, these rules decide how long exported
// logs stay in the account.
type Lifecycle struct {
	// ID is the policy's resource ID
	// (<storage account ID>/managementPolicies/default); empty for a bare
	// policy document.
	ID    string          `json:"id"`
	Rules []LifecycleRule `json:"rules"`
}

// LifecycleRule is one rule of a lifecycle policy.
type LifecycleRule struct {
	Name       string `json:"name"`
	Enabled    bool   `json:"enabled"`
	Type       string `json:"type"`
	Definition struct {
		Filters struct {
			BlobTypes   []string `json:"blobTypes"`
			PrefixMatch []string `json:"prefixMatch"`
		} `json:"filters"`
		Actions struct {
			BaseBlob struct {
				Delete *DeleteAction `json:"delete"`
			} `json:"baseBlob"`
		} `json:"actions"`
	} `json:"definition"`
}

// DeleteAction is a rule's delete action: blobs are deleted that many days
// after the event.
type DeleteAction struct {
	DaysAfterModificationGreaterThan *float64 `json:"daysAfterModificationGreaterThan"`
	DaysAfterCreationGreaterThan     *float64 `json:"daysAfterCreationGreaterThan"`
	DaysAfterLastAccessTimeGreater   *float64 `json:"daysAfterLastAccessTimeGreaterThan"`
}

// days returns the shortest delay the action deletes after.
func (d *DeleteAction) days() (float64, bool) {
	var out []float64
	for _, v := range []*float64{d.DaysAfterModificationGreaterThan, d.DaysAfterCreationGreaterThan, d.DaysAfterLastAccessTimeGreater} {
		if v != nil {
			out = append(out, *v)
		}
	}
	if len(out) == 0 {
		return 0, false
	}
	return slices.Min(out), true
}

// DecodeLifecycle reads a lifecycle management policy export.
func DecodeLifecycle(data []byte) (*Lifecycle, error) {
	if len(data) > MaxInputBytes {
		return nil, &DecodeError{Item: -1, Msg: fmt.Sprintf("the lifecycle file is %d bytes, more than %d", len(data), MaxInputBytes)}
	}
	data = bytes.TrimSpace(bytes.TrimPrefix(data, bom))
	if !json.Valid(data) || len(data) == 0 || data[0] != '{' {
		return nil, &DecodeError{Item: -1, Msg: "the lifecycle file is not a JSON object: export it with az storage account management-policy show --account-name <account> --resource-group <group>"}
	}
	var top struct {
		ID     string           `json:"id"`
		Policy *json.RawMessage `json:"policy"`
		Rules  *json.RawMessage `json:"rules"`
	}
	if err := strictTypes(data, &top); err != nil {
		return nil, &DecodeError{Item: -1, Msg: "lifecycle: " + err.Error()}
	}
	rules := top.Rules
	if top.Policy != nil {
		var inner struct {
			Rules *json.RawMessage `json:"rules"`
		}
		if err := strictTypes(*top.Policy, &inner); err != nil {
			return nil, &DecodeError{Item: -1, Msg: "lifecycle: policy: " + err.Error()}
		}
		rules = inner.Rules
	}
	if rules == nil {
		return nil, &DecodeError{Item: -1, Msg: "lifecycle: no rules member: this is not a lifecycle management policy"}
	}
	l := &Lifecycle{ID: top.ID}
	if err := strictTypes(*rules, &l.Rules); err != nil {
		return nil, &DecodeError{Item: -1, Msg: "lifecycle: rules: " + err.Error()}
	}
	return l, nil
}

// account returns the storage account ID a lifecycle policy belongs to
// (its ID without /managementPolicies/...), or "".
func (l *Lifecycle) account() string {
	i := strings.Index(strings.ToLower(l.ID), "/managementpolicies/")
	if i < 0 {
		return ""
	}
	return l.ID[:i]
}

// deletion is how a lifecycle policy treats the kube-audit blobs of one
// cluster: the rule that deletes them soonest and after how many days.
type deletion struct {
	rule string
	days float64
}

// kubeAuditDeletion returns the soonest deletion the policy applies to the
// kube-audit blobs of the cluster (resource ID; empty when unknown), or
// false when no enabled rule deletes them. Diagnostic logs are append
// blobs under insights-logs-kube-audit/resourceId=<ID in capitals>/; a
// rule applies when it names append blobs (or no blob type) and one of its
// prefixes leads to them or into them.
func (l *Lifecycle) kubeAuditDeletion(cluster string) (deletion, bool) {
	target := "insights-logs-kube-audit/"
	if cluster != "" {
		target += "resourceId=" + strings.ToUpper(cluster) + "/"
	}
	var best deletion
	found := false
	for _, r := range l.Rules {
		if !r.Enabled || r.Definition.Actions.BaseBlob.Delete == nil {
			continue
		}
		if bt := r.Definition.Filters.BlobTypes; len(bt) > 0 && !slices.Contains(bt, "appendBlob") {
			continue
		}
		applies := len(r.Definition.Filters.PrefixMatch) == 0
		for _, p := range r.Definition.Filters.PrefixMatch {
			if strings.HasPrefix(target, p) || strings.HasPrefix(p, target) ||
				(cluster == "" && strings.HasPrefix(p, "insights-logs-kube-audit")) {
				applies = true
			}
		}
		if !applies {
			continue
		}
		if d, ok := r.Definition.Actions.BaseBlob.Delete.days(); ok && (!found || d < best.days) {
			best, found = deletion{rule: r.Name, days: d}, true
		}
	}
	return best, found
}
