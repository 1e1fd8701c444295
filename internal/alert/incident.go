package alert

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Incident statuses: an incident opens as new, a person acknowledges it
// (working on it) and resolves it (with the reason). Alerts of the same
// rule and key join the open incident; after it is resolved the next one
// opens a new incident.
const (
	IncidentNew          = "new"
	IncidentAcknowledged = "acknowledged"
	IncidentResolved     = "resolved"
)

// Errors of incident changes.
var (
	ErrNoIncident = errors.New("no open incident with this id")
	ErrTransition = errors.New("incident status change not allowed")
)

// IncidentChange is one change of an incident, as a SecurityIncident
// ledger record holds it (JSON): the detector opening it, or a person
// acknowledging or resolving it. The incident's state is its last change.
type IncidentChange struct {
	ID       string    `json:"id"` // "INC-" and 12 hex digits
	Status   string    `json:"status"`
	Rule     string    `json:"rule"`
	Title    string    `json:"title"`
	Severity Severity  `json:"severity"`
	Key      string    `json:"key"`
	Source   string    `json:"source"`
	PCI      []string  `json:"pci,omitempty"`
	Opened   time.Time `json:"opened"`
	// By is who made the change (the detector for new), Reason why.
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}

// CheckTransition says whether an incident in status from may move to to:
// forward only (new → acknowledged → resolved, or new → resolved).
func CheckTransition(from, to string) error {
	order := []string{IncidentNew, IncidentAcknowledged, IncidentResolved}
	i, j := slices.Index(order, from), slices.Index(order, to)
	switch {
	case j < 1:
		return fmt.Errorf("%w: status %q: want acknowledged or resolved", ErrTransition, to)
	case i < 0:
		return fmt.Errorf("%w: incident status %q is unknown", ErrTransition, from)
	case from == IncidentResolved:
		return fmt.Errorf("%w: the incident is resolved; a new alert of its rule and key opens a new incident", ErrTransition)
	case j <= i:
		return fmt.Errorf("%w: the incident is already %s", ErrTransition, from)
	}
	return nil
}
