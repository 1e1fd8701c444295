package azurediag

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cdewatch/cdewatch/internal/posture"
)

// Options refine the check.
type Options struct {
	// Lifecycle is the lifecycle management policy of the storage account
	// the logs go to, when known; it decides the retention check.
	Lifecycle *Lifecycle
}

// The AKS log categories (Microsoft.ContainerService/managedClusters).
const (
	KubeAudit      = "kube-audit"
	KubeAuditAdmin = "kube-audit-admin"
	Guard          = "guard"
	KubeAPIServer  = "kube-apiserver"
)

// otherCategories are the AKS categories worth having beyond the three
// audit ones, for the investigation of incidents.
var otherCategories = []string{"kube-controller-manager", "kube-scheduler", "cluster-autoscaler",
	"cloud-controller-manager", "csi-azuredisk-controller", "csi-azurefile-controller", "csi-snapshot-controller"}

// minRetentionDays is PCI DSS 10.5.1's twelve months.
const minRetentionDays = 365

// FindingIDs lists the IDs of the findings Check reports; docs/POSTURE.md
// describes each.
func FindingIDs() []string {
	return []string{
		"no-settings", "not-aks", "kube-audit-missing", "kube-audit-admin-only", "kube-audit-by-group",
		"both-audit-categories", "guard-missing", "apiserver-missing", "optional-categories",
		"eventhub-destination", "storage-destination", "no-destination", "workspace-only", "partner-only",
		"retention-short", "retention-deprecated", "retention-unverified", "retention-in-cdewatch",
		"lifecycle-delete-short", "lifecycle-ok", "lifecycle-keeps", "lifecycle-other-account",
	}
}

// Report is the result of checking diagnostic settings. Its JSON form is
// documented in internal/posture/FORMAT.md.
type Report struct {
	Source   string            `json:"source"`
	Settings []SettingSummary  `json:"settings"`
	Verdicts []posture.Verdict `json:"verdicts"`
	Findings []posture.Finding `json:"findings"`
}

// SettingSummary says what one setting sends where.
type SettingSummary struct {
	Name string `json:"name"`
	// Resource is the ID of the resource the setting belongs to.
	Resource string `json:"resource,omitempty"`
	// AKS is false when the resource is known not to be an AKS cluster.
	AKS bool `json:"aks"`
	// Categories and Groups list what is enabled.
	Categories   []string      `json:"categories"`
	Groups       []string      `json:"groups"`
	Destinations []Destination `json:"destinations"`
}

// Destination is where a setting sends its logs.
type Destination struct {
	// Kind is eventhub, storage, workspace or partner.
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// EventHub is the event hub name, when set.
	EventHub string `json:"event_hub,omitempty"`
	// CdewatchReads says whether cdewatch can collect from it.
	CdewatchReads bool `json:"cdewatch_reads"`
}

// setting is a decoded setting with what the check derives from it.
type setting struct {
	Setting
	resource, label string
	aks             bool
	enabled         map[string]*Log // category → the entry enabling it
	groups          map[string]*Log
	dests           []Destination
}

// has reports whether the setting exports category c, and through which entry.
func (s *setting) has(c string) (*Log, bool) {
	if l, ok := s.enabled[c]; ok {
		return l, true
	}
	if l, ok := s.groups["alllogs"]; ok {
		return l, true // allLogs is every category
	}
	return nil, false
}

func newSetting(s Setting, i int) *setting {
	out := &setting{Setting: s, enabled: map[string]*Log{}, groups: map[string]*Log{}, aks: true}
	out.label = s.Name
	if out.label == "" {
		out.label = fmt.Sprintf("#%d", i)
	}
	if j := strings.Index(strings.ToLower(s.ID), "/providers/microsoft.insights/diagnosticsettings/"); j >= 0 {
		out.resource = s.ID[:j]
		out.aks = strings.Contains(strings.ToLower(out.resource), "/providers/microsoft.containerservice/managedclusters/")
	}
	for k := range s.Logs {
		l := &s.Logs[k]
		if !l.Enabled {
			continue
		}
		if l.Category != "" {
			out.enabled[l.Category] = l
		} else if l.CategoryGroup != "" {
			out.groups[strings.ToLower(l.CategoryGroup)] = l
		}
	}
	if id := firstNonEmpty(s.EventHubAuthorizationRuleID, s.ServiceBusRuleID); id != "" {
		out.dests = append(out.dests, Destination{Kind: "eventhub", ID: id, EventHub: s.EventHubName, CdewatchReads: true})
	}
	if s.StorageAccountID != "" {
		out.dests = append(out.dests, Destination{Kind: "storage", ID: s.StorageAccountID, CdewatchReads: true})
	}
	if s.WorkspaceID != "" {
		out.dests = append(out.dests, Destination{Kind: "workspace", ID: s.WorkspaceID})
	}
	if s.MarketplacePartnerID != "" {
		out.dests = append(out.dests, Destination{Kind: "partner", ID: s.MarketplacePartnerID})
	}
	return out
}

func (s *setting) dest(kind string) (Destination, bool) {
	i := slices.IndexFunc(s.dests, func(d Destination) bool { return d.Kind == kind })
	if i < 0 {
		return Destination{}, false
	}
	return s.dests[i], true
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// checker carries one Check.
type checker struct {
	opts     Options
	settings []*setting
	findings []posture.Finding
}

func (c *checker) add(id string, sev posture.Severity, req, setting, format string, args ...any) {
	c.findings = append(c.findings, posture.Finding{ID: id, Severity: sev, Requirement: req, Setting: setting, Text: fmt.Sprintf(format, args...)})
}

// Check evaluates the diagnostic settings of one AKS cluster. source
// names the export in the report.
func Check(settings []Setting, source string, o Options) *Report {
	c := &checker{opts: o}
	rep := &Report{Source: source, Settings: []SettingSummary{}}
	for i, s := range settings {
		st := newSetting(s, i)
		sum := SettingSummary{Name: st.label, Resource: st.resource, AKS: st.aks, Categories: []string{}, Groups: []string{}, Destinations: st.dests}
		for _, l := range s.Logs {
			if l.Enabled && l.Category != "" {
				sum.Categories = append(sum.Categories, l.Category)
			} else if l.Enabled && l.CategoryGroup != "" {
				sum.Groups = append(sum.Groups, l.CategoryGroup)
			}
		}
		if sum.Destinations == nil {
			sum.Destinations = []Destination{}
		}
		rep.Settings = append(rep.Settings, sum)
		if !st.aks {
			c.add("not-aks", posture.Medium, "10.2.1", st.label,
				"This setting belongs to %s, which is not an AKS cluster (Microsoft.ContainerService/managedClusters): it is left out of the check. Export the cluster's settings: az monitor diagnostic-settings list --resource <cluster ID>.", st.resource)
			continue
		}
		c.settings = append(c.settings, st)
	}
	carriers := c.categories()
	c.destinations(carriers)
	c.retention(carriers)
	posture.SortFindings(c.findings)
	rep.Findings = c.findings
	if rep.Findings == nil {
		rep.Findings = []posture.Finding{}
	}
	rep.Verdicts = c.verdicts(carriers)
	return rep
}

// categories checks what is exported and returns the settings that carry
// audit events (kube-audit, or kube-audit-admin when nothing carries kube-audit).
func (c *checker) categories() []*setting {
	var full, admin, group []*setting
	for _, s := range c.settings {
		if _, ok := s.has(KubeAudit); ok {
			full = append(full, s)
		} else if _, ok := s.groups["audit"]; ok {
			group = append(group, s)
		}
		if _, ok := s.has(KubeAuditAdmin); ok {
			admin = append(admin, s)
		}
	}
	var carriers []*setting
	switch {
	case len(c.settings) == 0:
		c.add("no-settings", posture.High, "10.2.1", "",
			"The export holds no diagnostic setting of an AKS cluster, so no audit event leaves the cluster. Create one that exports kube-audit: az monitor diagnostic-settings create --resource <cluster ID> --logs '[{\"category\":\"kube-audit\",\"enabled\":true}]' with an event hub or storage account.")
	case len(full) > 0:
		carriers = full
	case len(group) > 0:
		carriers = group
		for _, s := range group {
			c.add("kube-audit-by-group", posture.Medium, "10.2.1", s.label,
				"kube-audit is exported only through the category group \"audit\", whose members Azure decides and the export does not list. Name the category kube-audit in the setting so that the reads of cardholder data are certainly exported.")
		}
	case len(admin) > 0:
		carriers = admin
		for _, s := range admin {
			c.add("kube-audit-admin-only", posture.High, "10.2.1", s.label,
				"Only kube-audit-admin is exported. It leaves out every get and list request, so the reads of secrets, configmaps and workloads in the CDE (10.2.1.1), and reads of audit logs (10.2.1.3), are never recorded. Export kube-audit instead.")
		}
	default:
		disabled := ""
		for _, s := range c.settings {
			for _, l := range s.Logs {
				if l.Category == KubeAudit && !l.Enabled {
					disabled = fmt.Sprintf(" (setting %s lists it, disabled)", s.label)
				}
			}
		}
		c.add("kube-audit-missing", posture.High, "10.2.1", "",
			"No setting exports kube-audit%s: the cluster's audit events do not leave it, and cdewatch cannot collect them. Enable the kube-audit category.", disabled)
	}
	for _, s := range full {
		if _, ok := s.has(KubeAuditAdmin); ok {
			fix := "Disable kube-audit-admin"
			if s.enabled[KubeAuditAdmin] == nil {
				fix = "The category group allLogs includes both: list the categories instead"
			}
			c.add("both-audit-categories", posture.Low, "10.2.1", s.label,
				"kube-audit and kube-audit-admin are both exported: kube-audit-admin is a subset of kube-audit, so every change is sent twice. %s (cdewatch drops the copies, but they are paid for).", fix)
		}
	}
	has := func(cat string) bool {
		return slices.ContainsFunc(c.settings, func(s *setting) bool { _, ok := s.has(cat); return ok })
	}
	if len(c.settings) > 0 {
		if !has(Guard) {
			c.add("guard-missing", posture.Medium, "10.2.1.4", "",
				"guard is not exported: with Microsoft Entra ID integration and Azure RBAC for Kubernetes, guard records the authentication and authorization decisions, denials included, which the audit events alone do not show. Enable the guard category.")
		}
		if !has(KubeAPIServer) {
			c.add("apiserver-missing", posture.Low, "10.7.2", "",
				"kube-apiserver is not exported: its log shows failures of the audit backends (dropped or failed batches), a failure of an audit logging mechanism that 10.7.2 asks to detect. Enable the kube-apiserver category.")
		}
		var missing []string
		for _, cat := range otherCategories {
			if !has(cat) {
				missing = append(missing, cat)
			}
		}
		if len(missing) > 0 {
			c.add("optional-categories", posture.Info, "10.2.1", "",
				"Not exported: %s. They are not audit logs, but help to reconstruct an incident (what the controllers and the scheduler did); export them where the cost is acceptable.", strings.Join(missing, ", "))
		}
	}
	return carriers
}

// destinations checks that the audit events reach a place cdewatch reads.
func (c *checker) destinations(carriers []*setting) {
	if len(carriers) == 0 {
		return
	}
	readable := false
	for _, s := range carriers {
		if d, ok := s.dest("eventhub"); ok {
			readable = true
			hub := d.EventHub
			named := "the event hub " + hub
			if hub == "" {
				hub = "insights-logs-kube-audit"
				named = "one event hub per category (usually named insights-logs-<category>, so insights-logs-kube-audit)"
			}
			ns := segmentAfter(d.ID, "namespaces")
			rule := segmentAfter(d.ID, "authorizationrules")
			text := fmt.Sprintf("Audit events go to %s in Event Hubs namespace %s. cdewatch reads them through the Kafka endpoint: a kafka input with format: azure, topics: [%s], and the connection string of a Listen-only access policy (%s.servicebus.windows.net:9093).", named, ns, hub, ns)
			if strings.EqualFold(rule, "RootManageSharedAccessKey") {
				text += " The setting writes with RootManageSharedAccessKey: give cdewatch its own Listen-only policy instead of that key."
			}
			text += " Event Hubs keeps events for days only: cdewatch must consume continuously."
			c.add("eventhub-destination", posture.Info, "10.3.3", s.label, "%s", text)
		}
		if d, ok := s.dest("storage"); ok {
			readable = true
			c.add("storage-destination", posture.Info, "10.3.3", s.label,
				"Audit events go to storage account %s, container insights-logs-kube-audit (one JSON Lines blob per hour). cdewatch reads them with cdewatch import --state <file> <copy of the container>.", segmentAfter(d.ID, "storageAccounts"))
		}
	}
	if readable {
		return
	}
	for _, s := range carriers {
		switch {
		case len(s.dests) == 0:
			c.add("no-destination", posture.High, "10.3.3", s.label,
				"The setting exporting the audit events has no destination: they are not kept anywhere. Add an event hub (for cdewatch's Kafka input) or a storage account (for cdewatch import).")
		case hasKind(s.dests, "workspace"):
			c.add("workspace-only", posture.Medium, "10.3.3", s.label,
				"The audit events go to Log Analytics workspace %s only. cdewatch cannot read a workspace directly: add an event hub or a storage account to this setting so that cdewatch collects the events into its ledger.", segmentAfter(s.WorkspaceID, "workspaces"))
		default:
			c.add("partner-only", posture.Medium, "10.3.3", s.label,
				"The audit events go to a partner solution only (%s), which cdewatch cannot read. Add an event hub or a storage account to this setting.", s.MarketplacePartnerID)
		}
	}
}

func hasKind(ds []Destination, kind string) bool {
	return slices.ContainsFunc(ds, func(d Destination) bool { return d.Kind == kind })
}

// segmentAfter returns the ID segment following the named one
// (case-insensitive), or the whole ID.
func segmentAfter(id, name string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], name) {
			return parts[i+1]
		}
	}
	return id
}

// retention checks that the audit events are kept a year. One place that
// keeps them (cdewatch through Event Hubs, or a storage account whose
// lifecycle rules keep them) is enough: the findings about the other
// places are then lowered to low and info.
func (c *checker) retention(carriers []*setting) {
	start := len(c.findings)
	kept := false
	for _, s := range carriers {
		entry := s.auditEntry()
		storage, toStorage := s.dest("storage")
		if toStorage && entry != nil && entry.RetentionPolicy != nil && entry.RetentionPolicy.Enabled {
			days := entry.RetentionPolicy.Days
			if days > 0 && days < minRetentionDays {
				c.add("retention-short", posture.High, "10.5.1", s.label,
					"The setting's retention policy deletes the audit logs after %d days; PCI DSS keeps them 12 months. Azure stopped applying diagnostic-setting retention on 30 September 2025, so the logs now live as long as the storage account's lifecycle rules say, and such rules are usually migrated with the same %d days. Keep the logs at least %d days with a lifecycle rule, and set this retention to 0.", days, days, minRetentionDays)
			} else {
				c.add("retention-deprecated", posture.Low, "10.5.1", s.label,
					"The setting still carries a retention policy (%d days, 0 = forever). Azure no longer applies it (deprecated, off since 30 September 2025): the storage account's lifecycle rules decide. Set it to 0 and keep the logs %d days or more with a lifecycle rule.", days, minRetentionDays)
			}
		}
		if toStorage {
			kept = c.storageRetention(s, storage) || kept
		}
		if hasKind(s.dests, "eventhub") {
			kept = true
			c.add("retention-in-cdewatch", posture.Info, "10.5.1", s.label,
				"The audit events reach cdewatch through Event Hubs, which keeps them for days: the 12 months of 10.5.1 are cdewatch's ledger and archive (keep their retention at %d days or more).", minRetentionDays)
		}
		if !toStorage && !hasKind(s.dests, "eventhub") && hasKind(s.dests, "workspace") {
			c.add("retention-unverified", posture.Medium, "10.5.1", s.label,
				"The audit events are kept in a Log Analytics workspace, whose table retention the export does not show. Check that the table (AKSAudit or AzureDiagnostics) keeps %d days or more, 90 of them interactive.", minRetentionDays)
		}
	}
	if !kept {
		return
	}
	for i := start; i < len(c.findings); i++ {
		f := &c.findings[i]
		switch f.Severity {
		case posture.High:
			f.Severity = posture.Low
		case posture.Medium:
			f.Severity = posture.Info
		default:
			continue
		}
		f.Text += " (A destination is shown to keep the audit events 12 months, so this does not decide 10.5.1.)"
	}
}

// auditEntry is the log entry that exports the audit category.
func (s *setting) auditEntry() *Log {
	for _, c := range []string{KubeAudit, KubeAuditAdmin} {
		if l, ok := s.has(c); ok {
			return l
		}
	}
	return s.groups["audit"]
}

// storageRetention checks a storage destination and reports whether it is
// shown to keep the audit events 12 months.
func (c *checker) storageRetention(s *setting, storage Destination) bool {
	account := segmentAfter(storage.ID, "storageAccounts")
	l := c.opts.Lifecycle
	if l != nil && l.account() != "" && !strings.EqualFold(l.account(), storage.ID) {
		c.add("lifecycle-other-account", posture.Info, "10.5.1", s.label,
			"The lifecycle policy given belongs to %s, not to storage account %s that this setting writes to; it is not used for it.", l.account(), account)
		l = nil
	}
	if l == nil {
		c.add("retention-unverified", posture.Medium, "10.5.1", s.label,
			"The export does not show how long storage account %s keeps the audit logs: since Azure stopped applying diagnostic-setting retention, its lifecycle management rules decide. Export them (az storage account management-policy show --account-name %s --resource-group <group>) and pass the file with --lifecycle; keep the blobs %d days or more, under an immutability policy (10.3.2).", account, account, minRetentionDays)
		return false
	}
	del, ok := l.kubeAuditDeletion(s.resource)
	switch {
	case !ok:
		c.add("lifecycle-keeps", posture.Info, "10.5.1", s.label,
			"No enabled lifecycle rule of storage account %s deletes the kube-audit blobs: they are kept until deleted by hand (protect them with an immutability policy, 10.3.2).", account)
		return true
	case del.days < minRetentionDays:
		c.add("lifecycle-delete-short", posture.High, "10.5.1", s.label,
			"Lifecycle rule %q of storage account %s deletes the kube-audit blobs after %g days; PCI DSS keeps audit logs 12 months. Raise it to %d days or more.", del.rule, account, del.days, minRetentionDays)
		return false
	}
	c.add("lifecycle-ok", posture.Info, "10.5.1", s.label,
		"Lifecycle rule %q of storage account %s deletes the kube-audit blobs after %g days (12 months or more).", del.rule, account, del.days)
	return true
}

// verdicts: per requirement, fail on a high finding, partial on a medium
// one, else pass; findings count for the requirement and its
// sub-requirements (10.2.1.4 for 10.2.1).
func (c *checker) verdicts(carriers []*setting) []posture.Verdict {
	rows := []posture.Verdict{
		{Requirement: "10.2.1", Title: "audit events exported (kube-audit)"},
		{Requirement: "10.3.3", Title: "sent to a central place cdewatch reads"},
		{Requirement: "10.5.1", Title: "kept 12 months"},
	}
	for i := range rows {
		r := &rows[i]
		worst, ids := posture.Info, []string{}
		for _, f := range c.findings {
			if f.Requirement != r.Requirement && !strings.HasPrefix(f.Requirement, r.Requirement+".") {
				continue
			}
			if f.Severity >= posture.Medium {
				ids = append(ids, f.ID)
			}
			worst = max(worst, f.Severity)
		}
		switch worst {
		case posture.High:
			r.Status = posture.Fail
		case posture.Medium:
			r.Status = posture.Partial
		default:
			r.Status = posture.Pass
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) > 0 {
			r.Why = "see " + strings.Join(ids, ", ")
		}
	}
	if len(carriers) == 0 {
		for i := range rows[1:] {
			rows[i+1].Status = posture.Fail
			rows[i+1].Why = "no setting exports an audit category, so nothing is sent or kept"
		}
	}
	for i := range rows {
		if rows[i].Why == "" {
			rows[i].Why = map[string]string{
				"10.2.1": "kube-audit is exported, with guard",
				"10.3.3": "the audit events reach an event hub or storage account cdewatch reads",
				"10.5.1": "retention of 12 months is shown (or held by cdewatch)",
			}[rows[i].Requirement]
		}
	}
	return rows
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error { return posture.WriteJSON(w, r) }

// WriteText writes the report for a reader.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	noun := "settings"
	if len(r.Settings) == 1 {
		noun = "setting"
	}
	fmt.Fprintf(&b, "AKS diagnostic settings %s: %d %s, checked against PCI DSS v4.0.1 Requirement 10\n", r.Source, len(r.Settings), noun)
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "\n  setting %s", s.Name)
		if s.Resource != "" {
			fmt.Fprintf(&b, " on %s", s.Resource)
		}
		b.WriteString("\n")
		cats := strings.Join(s.Categories, ", ")
		if len(s.Groups) > 0 {
			cats = strings.TrimPrefix(cats+", groups "+strings.Join(s.Groups, ", "), ", ")
		}
		if cats == "" {
			cats = "none"
		}
		fmt.Fprintf(&b, "    enabled: %s\n", cats)
		if len(s.Destinations) == 0 {
			b.WriteString("    destinations: none\n")
		}
		for _, d := range s.Destinations {
			reads := "cdewatch cannot read it"
			if d.CdewatchReads {
				reads = "cdewatch reads it"
			}
			fmt.Fprintf(&b, "    %s: %s (%s)\n", d.Kind, d.ID, reads)
		}
	}
	b.WriteString("\nVerdicts\n")
	if err := posture.WriteVerdicts(&b, r.Verdicts); err != nil {
		return err
	}
	b.WriteString("\nFindings\n")
	if err := posture.WriteFindings(&b, r.Findings); err != nil {
		return err
	}
	if failed := posture.Failed(r.Verdicts); len(failed) > 0 {
		fmt.Fprintf(&b, "\nResult: FAIL (%s)\n", strings.Join(failed, ", "))
	} else {
		b.WriteString("\nResult: no requirement fails\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
