// Package auth holds cdewatch's API credentials: bearer tokens with a role,
// ingest tokens bound to the source (cluster) whose events they may send.
// Only SHA-256 hashes of tokens are stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// Role is what a token may do.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"  // everything: tokens, proofs, checkpoints, queries
	RoleIngest Role = "ingest" // send events for its source only
	RoleReader Role = "reader" // run queries over the index, nothing else
)

// File names in the data directory.
const (
	AdminTokenFile = "admin.token"
	tokensFile     = "tokens.json"
	tokenPrefix    = "cdw_"
)

// Token is a stored credential (never the secret itself).
type Token struct {
	ID      string    `json:"id"`
	Role    Role      `json:"role"`
	Source  string    `json:"source,omitempty"` // for ingest tokens: the source name events are stamped with
	Created time.Time `json:"created"`
	Hash    string    `json:"sha256"` // hex SHA-256 of the secret
}

// Principal is an authenticated caller.
type Principal struct {
	TokenID string
	Role    Role
	Source  string
}

// Name identifies the principal in audit records.
func (p Principal) Name() string {
	if p.Source != "" {
		return fmt.Sprintf("token:%s (%s, source %s)", p.TokenID, p.Role, p.Source)
	}
	return fmt.Sprintf("token:%s (%s)", p.TokenID, p.Role)
}

// Store is the token file of a data directory. Safe for concurrent use.
type Store struct {
	path   string
	mu     sync.RWMutex
	tokens []Token
	byHash map[[32]byte]int
}

var sourceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// ValidSource reports whether name is an acceptable source name.
func ValidSource(name string) bool { return sourceRe.MatchString(name) }

// Open loads the token store in dir. On first start it creates an admin
// token and writes it to dir/admin.token (mode 0600); created reports that.
func Open(dir string) (s *Store, created *Token, err error) {
	s = &Store{path: filepath.Join(dir, tokensFile), byHash: map[[32]byte]int{}}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		secret, tok, err := s.create(RoleAdmin, "")
		if err != nil {
			return nil, nil, err
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, AdminTokenFile), []byte(secret+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("write admin token: %w", err)
		}
		return s, &tok, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read token store: %w", err)
	}
	if st, err := os.Stat(s.path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("token store %s has mode %v: it must not be accessible by group or others (chmod 600)", s.path, st.Mode().Perm())
	}
	if err := json.Unmarshal(b, &s.tokens); err != nil {
		return nil, nil, fmt.Errorf("parse token store %s: %w", s.path, err)
	}
	for i, t := range s.tokens {
		h, err := hex.DecodeString(t.Hash)
		if err != nil || len(h) != 32 {
			return nil, nil, fmt.Errorf("token store %s: token %s has a bad hash", s.path, t.ID)
		}
		s.byHash[[32]byte(h)] = i
	}
	return s, nil, nil
}

// Authenticate returns the principal for a bearer secret.
func (s *Store) Authenticate(secret string) (Principal, bool) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(secret))
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.byHash[h]
	if !ok {
		return Principal{}, false
	}
	t := s.tokens[i]
	return Principal{TokenID: t.ID, Role: t.Role, Source: t.Source}, true
}

// Create makes a new token and returns its secret, shown only this once.
func (s *Store) Create(role Role, source string) (string, Token, error) {
	switch role {
	case RoleAdmin, RoleReader:
		if source != "" {
			return "", Token{}, fmt.Errorf("%s tokens are not bound to a source", role)
		}
	case RoleIngest:
		if !ValidSource(source) {
			return "", Token{}, fmt.Errorf("ingest tokens need a source name (letters, digits, . _ : / -, at most 128): got %q", source)
		}
	default:
		return "", Token{}, fmt.Errorf("unknown role %q (want admin, ingest or reader)", role)
	}
	return s.create(role, source)
}

func (s *Store) create(role Role, source string) (string, Token, error) {
	var raw [32]byte
	var id [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(secret))
	t := Token{ID: hex.EncodeToString(id[:]), Role: role, Source: source, Created: time.Now().UTC().Truncate(time.Second), Hash: hex.EncodeToString(h[:])}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := append(append([]Token(nil), s.tokens...), t)
	if err := s.save(next); err != nil {
		return "", Token{}, err
	}
	s.tokens = next
	s.byHash[h] = len(next) - 1
	return secret, t, nil
}

// Revoke deletes the token with the given ID.
func (s *Store) Revoke(id string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range s.tokens {
		if t.ID != id {
			continue
		}
		next := append(append([]Token(nil), s.tokens[:i]...), s.tokens[i+1:]...)
		if err := s.save(next); err != nil {
			return Token{}, err
		}
		s.tokens = next
		s.byHash = map[[32]byte]int{}
		for j, t := range next {
			h, _ := hex.DecodeString(t.Hash)
			s.byHash[[32]byte(h)] = j
		}
		return t, nil
	}
	return Token{}, fmt.Errorf("no token with id %q", id)
}

// List returns the stored tokens ordered by creation.
func (s *Store) List() []Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := append([]Token(nil), s.tokens...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

func (s *Store) save(tokens []Token) error {
	b, err := json.MarshalIndent(tokens, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save token store: %w", err)
	}
	return nil
}

type ctxKey struct{}

// WithPrincipal returns a context carrying the authenticated principal.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal set by WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
