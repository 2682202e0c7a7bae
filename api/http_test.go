package api_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// TestErrorMapping checks that every domain error code has its own HTTP
// status and survives a round trip through WriteError and ResponseError
// with its message and hint.
func TestErrorMapping(t *testing.T) {
	seen := map[int]string{}
	for _, code := range crucible.ErrorCodes {
		status := api.HTTPStatus(code)
		if prev, dup := seen[status]; dup {
			t.Errorf("codes %s and %s share HTTP status %d", prev, code, status)
		}
		seen[status] = code
		if got := api.ErrorCode(status); got != code {
			t.Errorf("ErrorCode(%d) = %s, want %s", status, got, code)
		}
		rec := httptest.NewRecorder()
		api.WriteError(rec, crucible.Errorf(code, "message %s", code).WithHint("hint"))
		if rec.Code != status {
			t.Errorf("%s: WriteError status %d, want %d", code, rec.Code, status)
		}
		err := api.ResponseError(rec.Result())
		var e *crucible.Error
		if !errors.As(err, &e) || e.Code != code || e.Hint != "hint" {
			t.Errorf("%s: round trip gave %#v", code, err)
		}
		if code != crucible.EINTERNAL && e.Message != "message "+code {
			t.Errorf("%s: message %q", code, e.Message)
		}
	}
	want := map[string]int{crucible.ERATELIMITED: http.StatusTooManyRequests, crucible.ETOOLARGE: http.StatusRequestEntityTooLarge,
		crucible.EUNAUTHORIZED: http.StatusUnauthorized, crucible.EFORBIDDEN: http.StatusForbidden}
	for code, status := range want {
		if got := api.HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, status)
		}
	}
	// A plain error never leaks its text.
	rec := httptest.NewRecorder()
	api.WriteError(rec, errors.New("secret path /etc/x"))
	if rec.Code != http.StatusInternalServerError || rec.Body.String() == "" || strings.Contains(rec.Body.String(), "/etc/x") {
		t.Errorf("plain error: %d %s", rec.Code, rec.Body)
	}
	// A reply without a body maps its status back.
	if c := crucible.ErrorCode(api.ResponseError(&http.Response{StatusCode: 405, Status: "405 Method Not Allowed", Body: http.NoBody})); c != crucible.EINVALID {
		t.Errorf("405 without a body: %s", c)
	}
}
