package api

import (
	"encoding/json"
	"net/http"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/httpjson"
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Role   auth.Role `json:"role"`
	Source string    `json:"source,omitempty"`
}

// TokenResponse carries a new token's secret, shown only once.
type TokenResponse struct {
	auth.Token
	Secret string `json:"token"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, s.Tokens.List())
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "token request: "+err.Error()+` (want {"role":"ingest","source":"<cluster>"}, {"role":"reader"} or {"role":"admin"})`)
		return
	}
	if req.Role == "" {
		req.Role = auth.RoleIngest
	}
	p, _ := auth.FromContext(r.Context())
	secret, tok, err := s.Tokens.Create(req.Role, req.Source)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	s.audit(r, event.SelfAudit{Action: event.ActionTokenCreate, User: p.Name(), Class: event.CredentialChange,
		Details: map[string]any{"token_id": tok.ID, "role": string(tok.Role), "source": tok.Source}})
	httpjson.Write(w, http.StatusCreated, TokenResponse{Token: tok, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	id := r.PathValue("id")
	if id == p.TokenID {
		httpjson.Error(w, http.StatusConflict, "a token cannot revoke itself; use another admin token")
		return
	}
	tok, err := s.Tokens.Revoke(id)
	if err != nil {
		httpjson.Error(w, http.StatusNotFound, err.Error())
		return
	}
	s.audit(r, event.SelfAudit{Action: event.ActionTokenRevoke, User: p.Name(), Class: event.CredentialChange,
		Details: map[string]any{"token_id": tok.ID, "role": string(tok.Role), "source": tok.Source}})
	httpjson.Write(w, http.StatusOK, tok)
}
