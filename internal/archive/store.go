// Package archive copies the ledger's committed bytes to storage that is
// difficult to modify (PCI DSS 10.3.3: S3 Object Lock in compliance mode,
// Azure Blob version-level immutability with locked policies, or a local
// folder of read-only files), restores a ledger directory from such
// a copy and proves it intact, and tests that restore on a schedule.
//
// The archive holds the ledger's own bytes: segment files cut at block
// boundaries, the checkpoint log, and the verifier key. Nothing is ever
// overwritten; FORMAT.md describes the objects.
package archive

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrExists is returned by Store.Put when the name is taken.
var ErrExists = errors.New("archive object already exists")

// ErrNotFound is returned by Store.Stat and Store.Get for a missing object.
var ErrNotFound = errors.New("archive object not found")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Name string // relative to the store's prefix
	Size int64
	// Version identifies the first version written under Name on a
	// versioned store ("" elsewhere): the one the archiver wrote. Get
	// reads that version.
	Version string
	// Versions counts the versions under Name (0 on an unversioned
	// store); more than one means it was written again after archiving.
	Versions int
	// Hidden means the newest version is a delete marker: the object was
	// "deleted", yet its locked version is still there.
	Hidden bool
}

// Store is object storage that keeps what is written. Names are relative
// to the store's prefix, '/'-separated. Implementations are safe for
// concurrent use.
type Store interface {
	// Put stores data under name, locked against deletion and change until
	// retainUntil where the store can enforce it. If name exists it returns
	// ErrExists and changes nothing. When Put returns nil the object is
	// durable and, on a locking store, its lock was checked.
	Put(ctx context.Context, name string, data []byte, retainUntil time.Time) error
	// Stat describes the object under name, or returns ErrNotFound.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// Get returns the content of the object described by obj (from Stat
	// or List). The caller owns the returned slice.
	Get(ctx context.Context, obj ObjectInfo) ([]byte, error)
	// List returns every object whose name starts with prefix, by name.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// String names the store for messages, e.g. "s3://bucket/prefix".
	String() string
}

// listedObject returns the entry a store's listing of one exact name
// gave; ErrNotFound if it gave none.
func listedObject(objs []ObjectInfo, err error) (ObjectInfo, error) {
	if err != nil {
		return ObjectInfo{}, err
	}
	if len(objs) == 0 {
		return ObjectInfo{}, ErrNotFound
	}
	return objs[0], nil
}

// wholeObject returns b, the bytes downloaded of obj, unless their length
// differs from the listed size.
func wholeObject(obj ObjectInfo, b []byte) ([]byte, error) {
	if obj.Size > 0 && int64(len(b)) != obj.Size {
		return nil, fmt.Errorf("download archive object %s: got %d bytes, listed as %d", obj.Name, len(b), obj.Size)
	}
	return b, nil
}
