package health

import (
	"fmt"
	"syscall"
)

// StatfsFunc reads the statistics of the file system holding path, as
// syscall.Statfs does.
type StatfsFunc func(path string, st *syscall.Statfs_t) error

// DiskUsage is the space of the file system holding a directory.
type DiskUsage struct {
	Path      string  `json:"path"`
	Total     uint64  `json:"total_bytes"`
	Available uint64  `json:"available_bytes"` // to unprivileged processes, such as cdewatch
	Ratio     float64 `json:"available_ratio"` // Available / Total
}

// CheckDisk reads the space of the file system holding path; statfs nil
// is syscall.Statfs.
func CheckDisk(path string, statfs StatfsFunc) (DiskUsage, error) {
	if statfs == nil {
		statfs = syscall.Statfs
	}
	var st syscall.Statfs_t
	if err := statfs(path, &st); err != nil {
		return DiskUsage{Path: path}, fmt.Errorf("read the free space of %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	u := DiskUsage{Path: path, Total: st.Blocks * bs, Available: st.Bavail * bs}
	if u.Total > 0 {
		u.Ratio = float64(u.Available) / float64(u.Total)
	}
	return u, nil
}

// low reports whether u is under either bound.
func (u DiskUsage) low(minBytes uint64, minRatio float64) bool {
	return u.Available < minBytes || u.Ratio < minRatio
}
