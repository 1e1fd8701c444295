package event

// Tables of the sources beyond the Kubernetes audit webhook, and of
// cdewatch's own alerts.
const (
	TableAppAccess    = "AppAccess"    // applications' card-data access records (internal/appaccess)
	TableContainerLog = "ContainerLog" // container log lines sent by shippers (internal/logdoc)
	TableSyslog       = "Syslog"       // syslog messages
	// TableSecurityAlert holds the alerts the detector raised (named after
	// the Log Analytics table of security alerts).
	TableSecurityAlert = "SecurityAlert"
	// TableSecurityIncident holds incidents' changes: opened by the
	// detector, acknowledged or resolved by a person (named after the
	// Sentinel table, which likewise gets one row per change).
	TableSecurityIncident = "SecurityIncident"
)
