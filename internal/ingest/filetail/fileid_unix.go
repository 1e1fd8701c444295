//go:build unix

package filetail

import (
	"fmt"
	"io/fs"
	"syscall"
)

// idOf returns the device and inode numbers of the file fi describes.
func idOf(fi fs.FileInfo) (fileID, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("filetail: no device/inode for %s", fi.Name())
	}
	// The field types differ between systems (Dev is int32 on darwin).
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}
