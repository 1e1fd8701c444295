package filetail

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// backupTimeLayout is the time in lumberjack's backup names:
// <stem>-<time><ext>, e.g. audit-2026-11-26T10-15-30.123.log for audit.log,
// and <stem>-<time><ext>.gz once compressed. lumberjack writes it in UTC
// unless its LocalTime option is set (kube-apiserver does not set it).
const backupTimeLayout = "2006-01-02T15-04-05.000"

// backup is a file in the directory of Config.Path whose name starts like
// Config.Path's (other than Config.Path itself).
type backup struct {
	name  string
	path  string
	gz    bool
	time  time.Time // rotation time, from a lumberjack name
	timed bool      // the name is a lumberjack backup name
}

// parseBackupName parses name as a lumberjack backup of base.
func parseBackupName(base, name string) (t time.Time, gz, ok bool) {
	ext := filepath.Ext(base)
	prefix := stem(base) + "-"
	n, gz := strings.CutSuffix(name, ".gz")
	if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext) || len(n) < len(prefix)+len(ext) {
		return time.Time{}, gz, false
	}
	t, err := time.Parse(backupTimeLayout, n[len(prefix):len(n)-len(ext)])
	if err != nil {
		return time.Time{}, gz, false
	}
	return t, gz, true
}

// scanDir lists the backups of Config.Path: regular files in its directory
// whose names start with its stem. Lumberjack-named ones come first, sorted
// by rotation time.
func (t *Tailer) scanDir() ([]backup, error) {
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, err
	}
	pre := stem(t.base)
	var out []backup
	for _, e := range ents {
		name := e.Name()
		if name == t.base || !strings.HasPrefix(name, pre) || !e.Type().IsRegular() {
			continue
		}
		b := backup{name: name, path: filepath.Join(t.dir, name), gz: strings.HasSuffix(name, ".gz")}
		b.time, _, b.timed = parseBackupName(t.base, name)
		out = append(out, b)
	}
	slices.SortStableFunc(out, func(a, b backup) int {
		switch {
		case a.timed != b.timed:
			if a.timed {
				return -1
			}
			return 1
		case !a.time.Equal(b.time):
			return a.time.Compare(b.time)
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

// locate returns the uncompressed backup among bs that is the file with
// identity id and fingerprint h, and that file opened.
func (t *Tailer) locate(bs []backup, id fileID, h head) (backup, *os.File, bool) {
	for _, b := range bs {
		if b.gz {
			continue
		}
		f, fid, err := openFile(b.path)
		if err != nil {
			continue
		}
		if fid == id && h.matches(f) {
			return b, f, true
		}
		f.Close()
	}
	return backup{}, nil, false
}

// findRotated looks for the file with identity id and fingerprint h among
// the uncompressed backups of Config.Path and opens it.
func (t *Tailer) findRotated(id fileID, h head) (string, *os.File, bool) {
	bs, err := t.scanDir()
	if err != nil {
		t.log.Warn("filetail: cannot list the directory", "dir", t.dir, "err", err)
		return "", nil, false
	}
	b, f, ok := t.locate(bs, id, h)
	return b.path, f, ok
}

// successors returns, in rotation order, the uncompressed lumberjack backups
// rotated after prev. It logs a warning for each compressed one among them,
// whose lines are therefore not read.
//
// prev's own rotation time comes from its backup name, found by identity or
// known from the path it was opened by. If prev's backup has disappeared
// (lumberjack compressed it), the last time prev was seen at Config.Path
// bounds it instead: prev was rotated after that, and the first backup
// rotated since is prev's own, compressed.
func (t *Tailer) successors(prev *ref) []backup {
	bs, err := t.scanDir()
	if err != nil {
		t.log.Warn("filetail: cannot list the directory", "dir", t.dir, "err", err)
		return nil
	}
	var (
		after     time.Time
		bounded   bool
		prevName  string
		skipFirst bool // the first backup after `after` is prev's own, compressed
	)
	if prev.start {
		after, bounded = prev.seen.UTC().Truncate(time.Millisecond), true
	} else if b, f, ok := t.locate(bs, prev.id, prev.head); ok {
		f.Close()
		prevName = b.name
		after, bounded = b.time, b.timed
	} else if filepath.Dir(prev.path) == t.dir {
		if tm, _, ok := parseBackupName(t.base, filepath.Base(prev.path)); ok {
			prevName = filepath.Base(prev.path)
			after, bounded = tm, true
		}
	}
	if !bounded && prevName == "" && !prev.seen.IsZero() && !prev.start {
		after, bounded, skipFirst = prev.seen.UTC().Truncate(time.Millisecond), true, true
	}
	if !bounded {
		return nil
	}
	t.log.Debug("filetail: looking for backups rotated after the previous file", "previous", prev.path, "after", after, "backups", len(bs))
	plain := map[string]bool{}
	for _, b := range bs {
		if !b.gz {
			plain[b.name] = true
		}
	}
	var out []backup
	first := true
	for _, b := range bs {
		if !b.timed || b.time.Before(after) || b.name == prevName {
			continue
		}
		if !b.gz {
			first = false
			out = append(out, b)
			continue
		}
		orig := strings.TrimSuffix(b.name, ".gz")
		switch {
		case plain[orig]:
			// Being compressed: the original is still there and is read.
		case orig == prevName || (skipFirst && first):
			first = false
			if prev.lost {
				t.missed(b.name, "the lines of the persisted file after its offset are probably in this compressed backup, which is not read")
			}
		default:
			first = false
			t.missed(b.name, "rotated backup was compressed before it was read; .gz files are not read, so its lines are missing")
		}
	}
	return out
}
