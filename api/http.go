package api

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/crucible-net/crucible/crucible"
)

// statusOf maps every domain error code to its HTTP status. This is the one
// place the mapping lives: the customer API, the node protocol (validator and
// miner), the chain server, signed-request refusals and blob links all write
// errors with WriteError, and their clients read them back with
// ResponseError.
var statusOf = map[string]int{
	crucible.EINVALID:      http.StatusBadRequest,
	crucible.ENOTFOUND:     http.StatusNotFound,
	crucible.ECONFLICT:     http.StatusConflict,
	crucible.EUNAUTHORIZED: http.StatusUnauthorized,
	crucible.EFORBIDDEN:    http.StatusForbidden,
	crucible.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	crucible.ERATELIMITED:  http.StatusTooManyRequests,
	crucible.EINTERNAL:     http.StatusInternalServerError,
}

// codeOf is the inverse of statusOf, for clients.
var codeOf = map[int]string{}

func init() {
	for code, status := range statusOf {
		codeOf[status] = code
	}
}

// HTTPStatus returns the HTTP status for a domain error code.
func HTTPStatus(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorCode returns the domain error code for an HTTP status: the inverse
// of HTTPStatus, for a reply whose body names no code. Any other 4xx status
// is EINVALID, anything else EINTERNAL.
func ErrorCode(status int) string {
	if c, ok := codeOf[status]; ok {
		return c
	}
	if status >= 400 && status < 500 {
		return crucible.EINVALID
	}
	return crucible.EINTERNAL
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// WriteError writes err as an ErrorResponse with the status of its code.
// Errors that are not domain errors are reported as "internal error"
// without their text.
func WriteError(w http.ResponseWriter, err error) {
	WriteJSON(w, HTTPStatus(crucible.ErrorCode(err)), NewErrorResponse(err))
}

// NewErrorResponse is the body WriteError sends for err.
func NewErrorResponse(err error) ErrorResponse {
	return ErrorResponse{Code: crucible.ErrorCode(err), Message: crucible.ErrorMessage(err), Hint: crucible.ErrorHint(err)}
}

// DecodeJSON reads a JSON request body of at most limit bytes into v,
// rejecting unknown fields. Errors are EINVALID.
func DecodeJSON(r io.Reader, limit int64, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return crucible.Errorf(crucible.EINVALID, "bad request body: %v", err)
	}
	return nil
}

// ResponseError turns a non-2xx response into a domain error carrying the
// server's code, message and hint.
func ResponseError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e ErrorResponse
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		code := e.Code
		if code == "" {
			code = ErrorCode(resp.StatusCode)
		}
		return &crucible.Error{Code: code, Message: e.Message, Hint: e.Hint}
	}
	return crucible.Errorf(ErrorCode(resp.StatusCode), "%s: %.200s", resp.Status, b)
}
