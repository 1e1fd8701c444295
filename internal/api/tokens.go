package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/httpjson"
)

// TokenInfo is a token as the API shows it: never its secret nor the
// secret's hash.
type TokenInfo struct {
	ID        string    `json:"id"`
	Role      auth.Role `json:"role"`
	Source    string    `json:"source,omitempty"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Expired   bool      `json:"expired,omitempty"`
	Rotated   time.Time `json:"rotated,omitzero"`
	// PreviousValidUntil is the end of the grace period of the secret the
	// last rotation replaced.
	PreviousValidUntil time.Time `json:"previous_valid_until,omitzero"`
	MigratedFrom       auth.Role `json:"migrated_from,omitempty"`
}

// NewTokenInfo returns the API view of t at now.
func NewTokenInfo(t auth.Token, now time.Time) TokenInfo {
	ti := TokenInfo{ID: t.ID, Role: t.Role, Source: t.Source, Created: t.Created, CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt,
		Expired: t.Expired(now), Rotated: t.Rotated, MigratedFrom: t.MigratedFrom}
	if t.PrevHash != "" && now.Before(t.PrevUntil) {
		ti.PreviousValidUntil = t.PrevUntil
	}
	return ti
}

// TokenRequest is the body of POST /v1/tokens. ExpiresIn is a duration
// ("90d", "720h"); ExpiresAt a time; at most one of them. Without either
// the token does not expire.
type TokenRequest struct {
	Role      auth.Role  `json:"role"` // default ingest
	Source    string     `json:"source,omitempty"`
	ExpiresIn string     `json:"expires_in,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// TokenResponse carries a new secret, shown only once.
type TokenResponse struct {
	TokenInfo
	Secret string `json:"token"`
}

// RotateRequest is the body of POST /v1/tokens/{id}/rotate (may be
// empty). Grace is how long the previous secret stays valid ("1h"; at
// most 7d; default 0: it stops working at once); ExpiresIn or ExpiresAt
// give the token a new expiry (default: unchanged).
type RotateRequest struct {
	Grace     string     `json:"grace,omitempty"`
	ExpiresIn string     `json:"expires_in,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// RoleRequest is the body of POST /v1/tokens/{id}/role.
type RoleRequest struct {
	Role   auth.Role `json:"role"`
	Source string    `json:"source,omitempty"` // for the ingest role
}

// decodeBody reads a small JSON body into v; an empty body leaves v as is
// when emptyOK.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && emptyOK {
		return nil
	}
	return err
}

// expiry reads ExpiresIn/ExpiresAt: the zero time for neither.
func expiry(in string, at *time.Time, now time.Time) (time.Time, error) {
	switch {
	case in != "" && at != nil:
		return time.Time{}, errors.New("give expires_in or expires_at, not both")
	case in != "":
		d, err := auth.ParseLifetime(in)
		if err != nil {
			return time.Time{}, fmt.Errorf("expires_in: %w", err)
		}
		if d <= 0 {
			return time.Time{}, errors.New("expires_in must be positive")
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	case at != nil:
		return at.UTC(), nil
	}
	return time.Time{}, nil
}

// tokenError answers an error of the token store.
func (s *Server) tokenError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, err.Error())
	case errors.Is(err, auth.ErrNotRecorded):
		s.Log.Error("a token change could not be recorded", "err", err)
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, auth.ErrNotRecorded.Error()+": retry")
	case errors.Is(err, auth.ErrStorage):
		s.Log.Error("token store", "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "the token store could not be written; the server log has the cause")
	default:
		httpjson.Error(w, http.StatusBadRequest, err.Error())
	}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	now := s.Tokens.Now()
	toks := s.Tokens.List()
	out := make([]TokenInfo, len(toks))
	for i, t := range toks {
		out[i] = NewTokenInfo(t, now)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "token request: "+err.Error()+` (want {"role":"ingest","source":"<cluster>"} or {"role":"log-reader","expires_in":"90d"})`)
		return
	}
	if req.Role == "" {
		req.Role = auth.RoleIngest
	}
	now := s.Tokens.Now()
	exp, err := expiry(req.ExpiresIn, req.ExpiresAt, now)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := auth.FromContext(r.Context())
	secret, tok, err := s.Tokens.Issue(r.Context(), auth.Spec{Role: req.Role, Source: req.Source, ExpiresAt: exp, By: p.Name()}, s.recorder(r))
	if err != nil {
		s.tokenError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusCreated, TokenResponse{TokenInfo: NewTokenInfo(tok, now), Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	id := r.PathValue("id")
	if id == p.TokenID {
		httpjson.Error(w, http.StatusConflict, "a token cannot revoke itself; use another platform-admin token")
		return
	}
	tok, err := s.Tokens.Revoke(r.Context(), id, p.Name(), s.recorder(r))
	if err != nil {
		s.tokenError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, NewTokenInfo(tok, s.Tokens.Now()))
}

func (s *Server) rotateToken(w http.ResponseWriter, r *http.Request) {
	var req RotateRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "rotate request: "+err.Error()+` (want {"grace":"1h","expires_in":"90d"}, both optional)`)
		return
	}
	now := s.Tokens.Now()
	var grace time.Duration
	if req.Grace != "" {
		var err error
		if grace, err = auth.ParseLifetime(req.Grace); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "grace: "+err.Error())
			return
		}
	}
	exp, err := expiry(req.ExpiresIn, req.ExpiresAt, now)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	p, _ := auth.FromContext(r.Context())
	secret, tok, err := s.Tokens.Rotate(r.Context(), r.PathValue("id"), auth.Rotation{Grace: grace, ExpiresAt: exp, By: p.Name()}, s.recorder(r))
	if err != nil {
		s.tokenError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, TokenResponse{TokenInfo: NewTokenInfo(tok, now), Secret: secret})
}

func (s *Server) setTokenRole(w http.ResponseWriter, r *http.Request) {
	var req RoleRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "role request: "+err.Error()+` (want {"role":"soc-analyst"} or {"role":"ingest","source":"<cluster>"})`)
		return
	}
	p, _ := auth.FromContext(r.Context())
	id := r.PathValue("id")
	if id == p.TokenID {
		httpjson.Error(w, http.StatusConflict, "a token cannot change its own role; use another platform-admin token")
		return
	}
	tok, err := s.Tokens.SetRole(r.Context(), id, req.Role, req.Source, p.Name(), s.recorder(r))
	if err != nil {
		s.tokenError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, NewTokenInfo(tok, s.Tokens.Now()))
}
