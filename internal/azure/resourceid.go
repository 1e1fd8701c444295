package azure

import "strings"

// ResourceRef is the parts of an Azure resource id.
type ResourceRef struct {
	SubscriptionID string // after /subscriptions/
	ResourceGroup  string // after /resourceGroups/
	Provider       string // the namespace after /providers/, e.g. MICROSOFT.STORAGE
	Type           string // the provider and the resource types, e.g. MICROSOFT.STORAGE/STORAGEACCOUNTS
	Name           string // the name of the resource, the last part of the id
}

// ParseResourceID splits an Azure resource id,
// /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}…],
// keeping the case of its parts (AKS exports it in upper case). Keywords
// match case-insensitively; a part missing from the id is "". Tenant-level
// ids (/tenants/{id}/providers/Microsoft.aadiam) have no subscription.
func ParseResourceID(id string) ResourceRef {
	var r ResourceRef
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i += 2 {
		key, val := parts[i], parts[i+1]
		switch {
		case strings.EqualFold(key, "subscriptions") && r.Provider == "":
			r.SubscriptionID = val
		case strings.EqualFold(key, "resourceGroups") && r.Provider == "":
			r.ResourceGroup = val
		case strings.EqualFold(key, "providers"):
			// The last provider segment wins for extension resources
			// (…/providers/Microsoft.Authorization/roleAssignments/x).
			r.Provider, r.Type, r.Name = val, val, ""
			rest := parts[i+2:]
			for j := 0; j+1 < len(rest); j += 2 {
				if strings.EqualFold(rest[j], "providers") {
					break
				}
				r.Type += "/" + rest[j]
				r.Name = rest[j+1]
			}
		}
	}
	if r.Name == "" && r.Provider == "" && len(parts) > 0 {
		// /subscriptions/{sub}/resourceGroups/{rg}: the group itself.
		if n := len(parts); n >= 2 && n%2 == 0 {
			r.Name = parts[n-1]
		}
	}
	return r
}
