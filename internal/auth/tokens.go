// Package auth holds cdewatch's API credentials and who may do what with
// them: bearer tokens with a role (roles.go), ingest tokens bound to the
// source (cluster) whose events they may send, optional OIDC sign-in
// (oidc.go), and the per-client limit on failed authentication
// (ratelimit.go).
//
// Only SHA-256 hashes of token secrets are stored (TOKENS.md describes the
// file). A secret is 32 random bytes, so its hash is a safe lookup key:
// Verify looks the hash of the presented secret up in a map, and the
// timing of that lookup can at most tell an attacker something about the
// hash of a secret they chose, never about a stored secret — turning a
// stored hash into a working secret would need a SHA-256 preimage. No
// secret-dependent comparison with attacker-chosen data takes place, so no
// constant-time compare is needed.
//
// Every change of a credential — creation, rotation, a role change,
// revocation, the first-start token and the migration of old role names —
// is recorded through a Recorder before it is kept (PCI DSS 10.2.1.5): a
// change that cannot be recorded does not happen.
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/fsutil"
)

// File names in the data directory.
const (
	// AdminTokenFile holds the secret of the platform-admin token created
	// on first start (mode 0600).
	AdminTokenFile = "admin.token"
	tokensFile     = "tokens.json"
	tokenPrefix    = "cdw_"
)

// MaxRotationGrace bounds how long a rotated token's previous secret
// stays valid.
const MaxRotationGrace = 7 * 24 * time.Hour

// Token is a stored credential (never the secret itself). TOKENS.md
// describes its JSON form.
type Token struct {
	ID        string    `json:"id"`
	Role      Role      `json:"role"`
	Source    string    `json:"source,omitempty"` // for ingest tokens: the source name events are stamped with
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	// ExpiresAt is when the token stops working; zero: never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Hash      string    `json:"sha256"` // hex SHA-256 of the secret
	// Rotated is when the secret was last replaced.
	Rotated time.Time `json:"rotated,omitzero"`
	// PrevHash is the secret the last rotation replaced, valid until
	// PrevUntil (the rotation's grace period).
	PrevHash  string    `json:"prev_sha256,omitempty"`
	PrevUntil time.Time `json:"prev_valid_until,omitzero"`
	// MigratedFrom is the role name an older version stored ("admin",
	// "reader"); Migrated is when that change was recorded.
	MigratedFrom Role      `json:"migrated_from,omitempty"`
	Migrated     time.Time `json:"migrated,omitzero"`
	// InitPending marks the first-start token until its creation is
	// recorded (token.init).
	InitPending bool `json:"init_pending,omitempty"`
}

// Expired reports whether the token no longer works at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// ErrInvalidToken is returned by Verify for a secret that is no token.
var ErrInvalidToken = errors.New("invalid token")

// ErrNotRecorded wraps the error of a Recorder: the change was not made.
var ErrNotRecorded = errors.New("the change could not be recorded in the audit trail; nothing changed")

// ExpiredError is returned by Verify for the secret of an expired token,
// or for a secret that a rotation replaced after its grace period.
type ExpiredError struct {
	TokenID  string
	At       time.Time
	Replaced bool // the secret was replaced by a rotation
}

func (e *ExpiredError) Error() string {
	at := e.At.UTC().Format(time.RFC3339)
	if e.Replaced {
		return fmt.Sprintf("token %s: this secret was replaced by a rotation and its grace period ended at %s: use the new secret", e.TokenID, at)
	}
	return fmt.Sprintf("token %s expired at %s: ask a platform-admin to rotate it (cdewatch token rotate %s --expires ...) or create a new one", e.TokenID, at, e.TokenID)
}

// Recorder stores the self-audit record of a credential change durably
// and returns nil only once it is stored. The Store calls it before it
// keeps a change; when it fails, the change is not made.
type Recorder func(ctx context.Context, a event.SelfAudit) error

// Store is the token file of a data directory. Safe for concurrent use;
// one process should own a data directory's store at a time (serve, or
// the token command while the server is stopped).
type Store struct {
	path   string
	now    func() time.Time
	mu     sync.RWMutex
	tokens []Token
	byHash map[[32]byte]hashRef
}

// hashRef locates a secret's token: its index, and whether the hash is
// the previous secret of a rotation.
type hashRef struct {
	i    int
	prev bool
}

// Option changes how Open sets up a Store.
type Option func(*Store)

// WithClock makes the store read the time from now (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

var sourceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// ValidSource reports whether name is an acceptable source name.
func ValidSource(name string) bool { return sourceRe.MatchString(name) }

// Open loads the token store in dir. On first start it creates a
// platform-admin token and writes its secret to dir/admin.token (mode
// 0600); created reports that. Tokens with the role names of older
// versions load with the roles that replaced them ("admin" becomes
// platform-admin, "reader" log-reader); RecordPending records both.
func Open(dir string, opts ...Option) (s *Store, created *Token, err error) {
	s = &Store{path: filepath.Join(dir, tokensFile), now: time.Now, byHash: map[[32]byte]hashRef{}}
	for _, o := range opts {
		o(s)
	}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		secret, tok, err := s.newToken(RolePlatformAdmin, "", time.Time{}, "system:cdewatch (first start)")
		if err != nil {
			return nil, nil, err
		}
		tok.InitPending = true
		if err := s.save([]Token{tok}); err != nil {
			return nil, nil, err
		}
		s.tokens = []Token{tok}
		s.reindex()
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, AdminTokenFile), []byte(secret+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("write the first platform-admin token: %w", err)
		}
		return s, &tok, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read token store: %w", err)
	}
	if st, err := os.Stat(s.path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("token store %s has mode %v: it must not be accessible by group or others (chmod 600)", s.path, st.Mode().Perm())
	}
	tokens, err := parseTokens(b)
	if err != nil {
		return nil, nil, fmt.Errorf("token store %s: %w", s.path, err)
	}
	s.tokens = tokens
	s.reindex()
	return s, nil, nil
}

// parseTokens reads a token file: a JSON array of Token. Old role names
// are mapped to their new roles (with MigratedFrom set).
func parseTokens(b []byte) ([]Token, error) {
	var tokens []Token
	if err := json.Unmarshal(b, &tokens); err != nil {
		return nil, fmt.Errorf("parse: %w (want a JSON array of tokens, see internal/auth/TOKENS.md)", err)
	}
	ids := map[string]bool{}
	hashes := map[string]bool{}
	for i := range tokens {
		t := &tokens[i]
		if t.ID == "" || ids[t.ID] {
			return nil, fmt.Errorf("token %d: missing or repeated id %q", i, t.ID)
		}
		ids[t.ID] = true
		for j, h := range []string{t.Hash, t.PrevHash} {
			if j == 1 && h == "" {
				continue
			}
			if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("token %s has a bad hash", t.ID)
			}
			if hashes[h] {
				return nil, fmt.Errorf("token %s: its hash is used twice", t.ID)
			}
			hashes[h] = true
		}
		if nr, ok := LegacyRole(t.Role); ok {
			t.MigratedFrom, t.Role = t.Role, nr
		}
		if !t.Role.Valid() {
			return nil, fmt.Errorf("token %s has unknown role %q (want one of %s)", t.ID, t.Role, roleNames())
		}
		if (t.Role == RoleIngest) != (t.Source != "") {
			return nil, fmt.Errorf("token %s: role %s with source %q: ingest tokens, and only they, are bound to a source", t.ID, t.Role, t.Source)
		}
	}
	return tokens, nil
}

// reindex rebuilds byHash from tokens; the caller holds mu (or owns s).
func (s *Store) reindex() {
	s.byHash = make(map[[32]byte]hashRef, len(s.tokens))
	for i, t := range s.tokens {
		if h, err := hex.DecodeString(t.Hash); err == nil && len(h) == sha256.Size {
			s.byHash[[32]byte(h)] = hashRef{i: i}
		}
		if h, err := hex.DecodeString(t.PrevHash); err == nil && len(h) == sha256.Size {
			s.byHash[[32]byte(h)] = hashRef{i: i, prev: true}
		}
	}
}

// Verify returns the principal for a bearer secret: ErrInvalidToken for a
// secret that is no token, *ExpiredError for an expired token or a
// replaced secret past its grace period.
func (s *Store) Verify(secret string) (Principal, error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Principal{}, ErrInvalidToken
	}
	h := sha256.Sum256([]byte(secret))
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ref, ok := s.byHash[h]
	if !ok {
		return Principal{}, ErrInvalidToken
	}
	t := s.tokens[ref.i]
	if t.Expired(now) {
		return Principal{}, &ExpiredError{TokenID: t.ID, At: t.ExpiresAt}
	}
	if ref.prev && !now.Before(t.PrevUntil) {
		return Principal{}, &ExpiredError{TokenID: t.ID, At: t.PrevUntil, Replaced: true}
	}
	return Principal{TokenID: t.ID, Role: t.Role, Roles: []Role{t.Role}, Source: t.Source}, nil
}

// Authenticate returns the principal for a bearer secret, and whether the
// secret is a valid token now; Verify says why not.
func (s *Store) Authenticate(secret string) (Principal, bool) {
	p, err := s.Verify(secret)
	return p, err == nil
}

// Spec describes a token to create.
type Spec struct {
	Role   Role
	Source string // ingest tokens only
	// ExpiresAt is when the token stops working; zero: never.
	ExpiresAt time.Time
	// By names who creates it (the principal's Name), for the record.
	By string
}

// Create makes a token that never expires, unrecorded, and returns its
// secret. It is for setting up a data directory (tests, benchmarks);
// Issue is the recorded form.
func (s *Store) Create(role Role, source string) (string, Token, error) {
	return s.Issue(context.Background(), Spec{Role: role, Source: source}, nil)
}

// checkRole checks that role and source go together.
func checkRole(role Role, source string) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if role == RoleIngest {
		if !ValidSource(source) {
			return fmt.Errorf("ingest tokens need a source name (letters, digits, . _ : / -, at most 128): got %q", source)
		}
		return nil
	}
	if source != "" {
		return fmt.Errorf("%s tokens are not bound to a source (only ingest tokens are)", role)
	}
	return nil
}

// Issue makes a new token, records it (token.create) with rec and keeps
// it; it returns the secret, shown only this once. A nil rec records
// nothing.
func (s *Store) Issue(ctx context.Context, spec Spec, rec Recorder) (string, Token, error) {
	if err := checkRole(spec.Role, spec.Source); err != nil {
		return "", Token{}, err
	}
	if !spec.ExpiresAt.IsZero() && !spec.ExpiresAt.After(s.now()) {
		return "", Token{}, fmt.Errorf("expiry %s is not in the future", spec.ExpiresAt.UTC().Format(time.RFC3339))
	}
	secret, tok, err := s.newToken(spec.Role, spec.Source, spec.ExpiresAt, spec.By)
	if err != nil {
		return "", Token{}, err
	}
	err = s.change(ctx, rec, func(tokens []Token) ([]Token, event.SelfAudit, error) {
		return append(tokens, tok), credentialChange(event.ActionTokenCreate, spec.By, tok, nil), nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, tok, nil
}

// newToken makes a token and its secret, not yet stored.
func (s *Store) newToken(role Role, source string, expires time.Time, by string) (string, Token, error) {
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, fmt.Errorf("%w: make a token id: %w", ErrStorage, err)
	}
	secret, hash, err := newSecret()
	if err != nil {
		return "", Token{}, err
	}
	return secret, Token{ID: hex.EncodeToString(id[:]), Role: role, Source: source, Created: s.now().UTC().Truncate(time.Second),
		CreatedBy: by, ExpiresAt: expires.UTC(), Hash: hash}, nil
}

// newSecret returns a new secret (32 random bytes) and its hex SHA-256.
func newSecret() (secret, hash string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("%w: make a token secret: %w", ErrStorage, err)
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(h[:]), nil
}

// credentialChange is the self-audit record of a change to tok; extra
// details are added to the token's.
func credentialChange(action, by string, tok Token, extra map[string]any) event.SelfAudit {
	d := map[string]any{"token_id": tok.ID, "role": string(tok.Role)}
	if tok.Source != "" {
		d["source"] = tok.Source
	}
	if !tok.ExpiresAt.IsZero() {
		d["expires_at"] = tok.ExpiresAt.UTC().Format(time.RFC3339)
	}
	for k, v := range extra {
		d[k] = v
	}
	return event.SelfAudit{Action: action, User: by, Outcome: event.Success, Class: event.CredentialChange | event.AdminAction, Resource: "token:" + tok.ID, Details: d}
}

// change applies edit to a copy of the tokens, records the change, then
// saves and keeps it. If the record fails nothing changes; if the save
// fails after the record, a failure record follows (best effort).
func (s *Store) change(ctx context.Context, rec Recorder, edit func([]Token) ([]Token, event.SelfAudit, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, a, err := edit(slices.Clone(s.tokens))
	if err != nil {
		return err
	}
	if rec != nil {
		if err := rec(ctx, a); err != nil {
			return fmt.Errorf("%w: %w", ErrNotRecorded, err)
		}
	}
	if err := s.save(next); err != nil {
		if rec != nil {
			a.Outcome = event.Failure
			a.Details["error"] = err.Error()
			_ = rec(ctx, a)
		}
		return err
	}
	s.tokens = next
	s.reindex()
	return nil
}

// find returns the index of the token with id in tokens.
func find(tokens []Token, id string) (int, error) {
	i := slices.IndexFunc(tokens, func(t Token) bool { return t.ID == id })
	if i < 0 {
		return 0, fmt.Errorf("%w: no token with id %q (cdewatch token list shows them)", ErrNotFound, id)
	}
	return i, nil
}

// ErrNotFound is returned for a token id that is not in the store.
var ErrNotFound = errors.New("not found")

// ErrStorage wraps failures to write the token file or to draw random
// bytes: the store's fault, not the request's.
var ErrStorage = errors.New("token store")

// Revoke deletes the token with the given ID, recording it
// (token.revoke) as done by by.
func (s *Store) Revoke(ctx context.Context, id, by string, rec Recorder) (Token, error) {
	var gone Token
	err := s.change(ctx, rec, func(tokens []Token) ([]Token, event.SelfAudit, error) {
		i, err := find(tokens, id)
		if err != nil {
			return nil, event.SelfAudit{}, err
		}
		gone = tokens[i]
		return slices.Delete(tokens, i, i+1), credentialChange(event.ActionTokenRevoke, by, gone, nil), nil
	})
	return gone, err
}

// Rotation describes the rotation of a token's secret.
type Rotation struct {
	// Grace is how long the previous secret stays valid (at most
	// MaxRotationGrace); zero: it stops working at once.
	Grace time.Duration
	// ExpiresAt, if set, is the token's new expiry; zero keeps it.
	ExpiresAt time.Time
	By        string
}

// Rotate gives the token a new secret, keeping its id, role and source,
// records it (token.rotate) and returns the new secret. The previous
// secret stays valid for the grace period; a secret replaced earlier no
// longer works.
func (s *Store) Rotate(ctx context.Context, id string, r Rotation, rec Recorder) (string, Token, error) {
	if r.Grace < 0 || r.Grace > MaxRotationGrace {
		return "", Token{}, fmt.Errorf("grace period %v: want between 0 and %v", r.Grace, MaxRotationGrace)
	}
	now := s.now().UTC()
	if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
		return "", Token{}, fmt.Errorf("expiry %s is not in the future", r.ExpiresAt.UTC().Format(time.RFC3339))
	}
	secret, hash, err := newSecret()
	if err != nil {
		return "", Token{}, err
	}
	var tok Token
	err = s.change(ctx, rec, func(tokens []Token) ([]Token, event.SelfAudit, error) {
		i, err := find(tokens, id)
		if err != nil {
			return nil, event.SelfAudit{}, err
		}
		tok = tokens[i]
		if !r.ExpiresAt.IsZero() {
			tok.ExpiresAt = r.ExpiresAt.UTC()
		} else if tok.Expired(now) {
			return nil, event.SelfAudit{}, fmt.Errorf("token %s expired at %s: give it a new expiry to rotate it", id, tok.ExpiresAt.Format(time.RFC3339))
		}
		tok.PrevHash, tok.PrevUntil = "", time.Time{}
		extra := map[string]any{"grace_seconds": int64(r.Grace / time.Second)}
		if r.Grace > 0 {
			tok.PrevHash, tok.PrevUntil = tok.Hash, now.Add(r.Grace)
			extra["previous_valid_until"] = tok.PrevUntil.Format(time.RFC3339)
		}
		tok.Hash, tok.Rotated = hash, now.Truncate(time.Second)
		tokens[i] = tok
		return tokens, credentialChange(event.ActionTokenRotate, r.By, tok, extra), nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, tok, nil
}

// SetRole changes the role (and source: ingest tokens only) of a token,
// keeping its secret, and records it (token.role).
func (s *Store) SetRole(ctx context.Context, id string, role Role, source, by string, rec Recorder) (Token, error) {
	if err := checkRole(role, source); err != nil {
		return Token{}, err
	}
	var tok Token
	err := s.change(ctx, rec, func(tokens []Token) ([]Token, event.SelfAudit, error) {
		i, err := find(tokens, id)
		if err != nil {
			return nil, event.SelfAudit{}, err
		}
		old := tokens[i]
		if old.Role == role && old.Source == source {
			return nil, event.SelfAudit{}, fmt.Errorf("token %s already has role %s%s", id, role, sourceText(source))
		}
		tok = old
		tok.Role, tok.Source = role, source
		tokens[i] = tok
		extra := map[string]any{"previous_role": string(old.Role)}
		if old.Source != "" {
			extra["previous_source"] = old.Source
		}
		return tokens, credentialChange(event.ActionTokenRole, by, tok, extra), nil
	})
	return tok, err
}

func sourceText(source string) string {
	if source == "" {
		return ""
	}
	return " (source " + source + ")"
}

// RecordPending records what Open did without a record: the first-start
// platform-admin token (token.init) and the mapping of old role names
// (token.migrate, one record for all tokens), then saves that they are
// recorded. Call it once a Recorder exists. What is pending is kept in
// the file (InitPending, Migrated), so whichever process opens the store
// first, and a failed record, are recorded at the next call.
func (s *Store) RecordPending(ctx context.Context, rec Recorder) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.Clone(s.tokens)
	now := s.now().UTC().Truncate(time.Second)
	var inits []event.SelfAudit
	var moved []map[string]any
	for i, t := range next {
		if t.InitPending {
			inits = append(inits, credentialChange(event.ActionTokenInit, "", t, map[string]any{"reason": "first start: secret written to " + AdminTokenFile}))
			next[i].InitPending = false
		}
		if t.MigratedFrom != "" && t.Migrated.IsZero() {
			moved = append(moved, map[string]any{"token_id": t.ID, "from": string(t.MigratedFrom), "to": string(t.Role)})
			next[i].Migrated = now
		}
	}
	if len(inits) == 0 && len(moved) == 0 {
		return nil
	}
	for _, a := range inits {
		if err := rec(ctx, a); err != nil {
			return fmt.Errorf("record the first-start token: %w", err)
		}
	}
	if len(moved) > 0 {
		a := event.SelfAudit{Action: event.ActionTokenMigrate, Outcome: event.Success, Class: event.CredentialChange, Resource: tokensFile,
			Details: map[string]any{"tokens": moved, "reason": "role names of an older version: admin is now platform-admin, reader is now log-reader"}}
		if err := rec(ctx, a); err != nil {
			return fmt.Errorf("record the migration of token roles: %w", err)
		}
	}
	if err := s.save(next); err != nil {
		return err
	}
	s.tokens = next
	s.reindex()
	return nil
}

// Now returns the time on the store's clock, which decides expiry.
func (s *Store) Now() time.Time { return s.now() }

// Get returns the token with the given id.
func (s *Store) Get(id string) (Token, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, err := find(s.tokens, id)
	if err != nil {
		return Token{}, false
	}
	return s.tokens[i], true
}

// List returns the stored tokens ordered by creation.
func (s *Store) List() []Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Clone(s.tokens)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

func (s *Store) save(tokens []Token) error {
	if tokens == nil {
		tokens = []Token{}
	}
	b, err := json.MarshalIndent(tokens, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: encode: %w", ErrStorage, err)
	}
	if err := fsutil.WriteFileAtomic(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("%w: save: %w", ErrStorage, err)
	}
	return nil
}

// ParseLifetime reads a token lifetime or grace period: a Go duration
// ("720h", "15m") or a number of days ("90d").
func ParseLifetime(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 16)
		if err != nil || n > 10000 {
			return 0, fmt.Errorf("duration %q: want a number of days up to 10000, e.g. 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(t)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("duration %q: want e.g. 90d, 720h or 15m", s)
	}
	return v, nil
}
