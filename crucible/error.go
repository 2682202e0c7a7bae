package crucible

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status, in one place (api.HTTPStatus),
// which every HTTP server and client of crucible uses in both directions.
const (
	EINVALID      = "invalid"      // the caller sent something malformed or out of range
	ENOTFOUND     = "not_found"    // the named thing does not exist (or is not visible to the caller)
	ECONFLICT     = "conflict"     // the request conflicts with the current state
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, but not allowed
	ETOOLARGE     = "too_large"    // the request (a body, an upload) is larger than allowed
	ERATELIMITED  = "rate_limited" // too many requests; try again later
	EINTERNAL     = "internal"     // a bug or an infrastructure failure
)

// ErrorCodes lists every error code.
var ErrorCodes = []string{EINVALID, ENOTFOUND, ECONFLICT, EUNAUTHORIZED, EFORBIDDEN, ETOOLARGE, ERATELIMITED, EINTERNAL}

// Error is the one domain error type. Code is machine readable, Message is for
// the person reading it, Hint (optional) tells an operator what to do about it.
type Error struct {
	Code    string
	Message string
	Hint    string
	Err     error // the underlying cause, if any
}

// Error renders the message, the hint and the cause.
func (e *Error) Error() string {
	s := e.Message
	if s == "" {
		s = e.Code
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns a copy of e that carries hint.
func (e *Error) WithHint(hint string) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// Wrap returns an *Error with code and message whose cause is err.
func Wrap(err error, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain. Other
// errors get a generic message so that internal details are not leaked to
// callers; log those separately.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorHint returns the hint of the first *Error in err's chain, or "".
func ErrorHint(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
