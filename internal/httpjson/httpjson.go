// Package httpjson writes JSON responses and JSON errors for cdewatch's HTTP API.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write sends v as JSON with the given status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	// Item is the index of the offending item of a batch, when there is one.
	Item *int `json:"item,omitempty"`
}

// Error sends {"error": msg} with the given status.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, ErrorBody{Error: msg})
}

// ItemError sends {"error": msg, "item": index}.
func ItemError(w http.ResponseWriter, status int, msg string, index int) {
	Write(w, status, ErrorBody{Error: msg, Item: &index})
}
