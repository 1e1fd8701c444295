//go:build !unix

package filetail

import (
	"fmt"
	"io/fs"
)

// idOf is not available off unix: the tailer needs device and inode numbers
// to follow rotation.
func idOf(fi fs.FileInfo) (fileID, error) {
	return fileID{}, fmt.Errorf("filetail: file identity (device, inode) is not supported on this system (%s)", fi.Name())
}
