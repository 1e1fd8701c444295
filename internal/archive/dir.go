package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// DirStore keeps objects as read-only files under a local directory: each
// is written to a temporary file, fsynced, made read-only and linked into
// place (which fails if the name is taken), and the directory fsynced.
//
// It is weaker than S3 Object Lock: it cannot enforce retention, and anyone
// with write access to the directory (root included) can remove or replace
// files. Put it on media that is itself difficult to modify (a WORM mount,
// a separate host's export that this host cannot delete from) to meet PCI
// DSS 10.3.3.
type DirStore struct {
	root string
}

// OpenDir opens (creating it if missing, mode 0700) a directory store.
func OpenDir(root string) (*DirStore, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("archive directory %q must be an absolute path", root)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create archive directory: %w", err)
	}
	return &DirStore{root: filepath.Clean(root)}, nil
}

// String implements Store.
func (d *DirStore) String() string { return (&Location{Scheme: "file", Path: d.root}).String() }

func (d *DirStore) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || cleanSlash(name) != name {
		return "", fmt.Errorf("archive object name %q is not a clean relative name", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, ".tmp-") {
			return "", fmt.Errorf("archive object name %q is not a clean relative name", name)
		}
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func cleanSlash(name string) string {
	return filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
}

// Put implements Store. retainUntil is not enforced (see DirStore).
func (d *DirStore) Put(_ context.Context, name string, data []byte, _ time.Time) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return ErrExists
	}
	dir := filepath.Dir(p)
	if err := d.mkdirs(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("create temporary archive file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o444)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write archive object %s: %w", name, err)
	}
	// A hard link, unlike a rename, never replaces an existing file.
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("store archive object %s: %w", name, err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove temporary archive file: %w", err)
	}
	return fsutil.SyncDir(dir)
}

// mkdirs creates dir and its missing parents below the root, fsyncing each
// parent so that the new entries survive a crash.
func (d *DirStore) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if dir == d.root || len(dir) < len(d.root) {
		return fmt.Errorf("archive directory %s is missing", d.root)
	}
	parent := filepath.Dir(dir)
	if err := d.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create archive directory: %w", err)
	}
	return fsutil.SyncDir(parent)
}

// Stat implements Store.
func (d *DirStore) Stat(_ context.Context, name string) (ObjectInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, ErrNotFound
	} else if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat archive object %s: %w", name, err)
	}
	return ObjectInfo{Name: name, Size: st.Size()}, nil
}

// Get implements Store.
func (d *DirStore) Get(_ context.Context, obj ObjectInfo) ([]byte, error) {
	p, err := d.path(obj.Name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("read archive object %s: %w", obj.Name, err)
	}
	return b, nil
}

// List implements Store.
func (d *DirStore) List(_ context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, p)
		name := filepath.ToSlash(rel)
		if e.IsDir() {
			if p != d.root && !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(e.Name(), ".tmp-") || !strings.HasPrefix(name, prefix) || !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out = append(out, ObjectInfo{Name: name, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list archive directory %s: %w", d.root, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
