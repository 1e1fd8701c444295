package index

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerPriority lowers the scheduling priority of the calling goroutine's
// thread by nice (Linux applies a thread's nice value to that thread
// alone). It locks the goroutine to its thread and never unlocks it, so
// that no other goroutine ever runs at the lower priority: the thread
// ends with the goroutine (an unprivileged process cannot raise it back).
// On the process's main thread it does nothing: Go parks that thread for
// good instead of ending it, and ps shows its nice value as the
// process's. It returns the error of setpriority.
func lowerPriority(nice int) error {
	if nice <= 0 {
		return nil
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	if tid == unix.Getpid() {
		runtime.UnlockOSThread()
		return nil
	}
	cur, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	// The system call returns 20 - nice.
	return unix.Setpriority(unix.PRIO_PROCESS, tid, min(20-cur+nice, 19))
}
