package health

import "time"

// ClockWatcher detects jumps of the wall clock: between two checks, the
// wall time elapsed should equal the monotonic time elapsed; a
// difference beyond the bound is a jump (the clock was stepped or set,
// or the machine was suspended: the monotonic clock stops while it
// sleeps). The zero value is ready; it is not safe for concurrent use.
type ClockWatcher struct {
	wall time.Time
	mono time.Duration
	set  bool
}

// Check compares wall (the wall clock now) and mono (a monotonic clock
// now) with the readings of the previous check and returns the jump: the
// wall time elapsed minus the monotonic time elapsed (positive: the wall
// clock moved forward). The first check returns 0.
func (c *ClockWatcher) Check(wall time.Time, mono time.Duration) time.Duration {
	wall = wall.Round(0) // the wall reading only
	var jump time.Duration
	if c.set {
		jump = wall.Sub(c.wall) - (mono - c.mono)
	}
	c.wall, c.mono, c.set = wall, mono, true
	return jump
}
