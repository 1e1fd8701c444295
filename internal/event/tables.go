package event

// Tables of the sources beyond the Kubernetes audit webhook.
const (
	TableAppAccess    = "AppAccess"    // applications' card-data access records (internal/appaccess)
	TableContainerLog = "ContainerLog" // container log lines sent by shippers (internal/logdoc)
	TableSyslog       = "Syslog"       // syslog messages
)
