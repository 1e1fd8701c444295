package ledger

import (
	"os"
	"syscall"
)

// fileID is what the integrity monitor remembers of a file: any write
// changes the size, the modification time or (which no unprivileged user
// can set back) the change time; replacing the file changes the inode.
type fileID struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
}

func statID(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	return idOf(st), nil
}

func fileIDOf(f *os.File) (fileID, error) {
	st, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	return idOf(st), nil
}

func idOf(st os.FileInfo) fileID {
	id := fileID{Size: st.Size(), MTime: st.ModTime().UnixNano()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		id.CTime = s.Ctim.Nano()
		id.Dev, id.Ino = uint64(s.Dev), s.Ino
	}
	return id
}

// sameFile reports whether both describe the same inode.
func (a fileID) sameFile(b fileID) bool { return a.Dev == b.Dev && a.Ino == b.Ino }
