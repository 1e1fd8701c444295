//go:build !linux

package index

// lowerPriority does nothing here: only Linux sets the priority of a
// single thread.
func lowerPriority(int) error { return nil }
