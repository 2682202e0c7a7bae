package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// pages holds the parsed dashboard templates, one set per page so that each
// page's "content" block is its own.
type pages struct {
	t map[string]*template.Template
}

var funcs = template.FuncMap{
	"short": short,
	"ago": func(t time.Time) string {
		d := time.Since(t).Round(time.Second)
		if d < 0 { // a time to come: a retry, a deadline
			return "in " + (-d).String()
		}
		switch {
		case d < time.Minute:
			return fmt.Sprintf("%ds ago", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%dm ago", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%dh ago", int(d.Hours()))
		}
		return t.Format("2006-01-02")
	},
	"clock":  func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"params": humanCount,
	"loss": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return strconv.FormatFloat(*p, 'f', 4, 64)
	},
	"score": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return strconv.FormatFloat(*p, 'g', 4, 64)
	},
	"pct":      func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
	"hours":    humanHours,
	"terminal": func(s crucible.TaskStatus) bool { return s.Terminal() },
	"inc":      func(i int) int { return i + 1 },
	"deref":    func(p *float64) float64 { return *p },
}

func newPages() *pages {
	p := &pages{t: map[string]*template.Template{}}
	names, err := fs.Glob(assets, "assets/templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		base := strings.TrimSuffix(name[len("assets/templates/"):], ".html")
		if base == "layout" {
			continue
		}
		p.t[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/templates/layout.html", name))
	}
	return p
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the active tab
	User    *crucible.Account
	Page    any
	Flash   string
	Version string
	// Experiments shows the experiments tab (the validator publishes some).
	Experiments bool
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.User, v.Experiments = nil, s.opt.Experiments != nil
	if c := s.pageCaller(r); c != nil {
		v.User = c.account
	}
	var buf bytes.Buffer
	if err := s.pages.t[name].Execute(&buf, v); err != nil {
		s.opt.Log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// pageError renders an error page with the status of err's code.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code := crucible.ErrorCode(err)
	if code == crucible.EINTERNAL {
		s.opt.Log.Error("page failed", "path", r.URL.Path, "err", err)
	}
	if code == crucible.EUNAUTHORIZED {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	s.render(w, r, api.HTTPStatus(code), "error", view{Title: "Error", Page: map[string]string{
		"Status": http.StatusText(api.HTTPStatus(code)), "Message": crucible.ErrorMessage(err), "Hint": crucible.ErrorHint(err)}})
}

// pageCaller is the account logged in with the dashboard's cookie, or nil.
func (s *Server) pageCaller(r *http.Request) *caller {
	if c, ok := r.Context().Value(callerKey{}).(*caller); ok {
		return c
	}
	return nil
}

type callerKey struct{}

// withCookie resolves the login cookie once per request.
func (s *Server) withCookie(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkPathID(r); err != nil {
			s.pageError(w, r, err)
			return
		}
		if ck, err := r.Cookie(cookieName); err == nil && ck.Value != "" {
			if c, err := s.lookupKey(r.Context(), ck.Value); err == nil {
				// A logged-in page spends from the account's allowance, as
				// the API does.
				if !s.allow(w, c) {
					return
				}
				r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
			} else {
				s.setCookie(w, "", -1)
			}
		}
		h(w, r)
	}
}

// mustLogin returns the logged-in caller or EUNAUTHORIZED (which pageError
// turns into a redirect to the login form).
func (s *Server) mustLogin(r *http.Request) (*caller, error) {
	if c := s.pageCaller(r); c != nil {
		return c, nil
	}
	return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "log in first")
}

func (s *Server) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opt.SecureCookies})
}

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.withCookie(h)) }
	page("GET /{$}", s.homePage)
	page("GET /login", s.loginPage)
	page("POST /login", s.login)
	page("POST /logout", s.logout)
	page("GET /tasks", s.tasksPage)
	page("GET /tasks/new", s.newTaskPage)
	page("POST /tasks/new", s.checkTaskForm)
	page("POST /tasks", s.createTaskForm)
	page("GET /tasks/{id}", s.taskPage)
	page("GET /tasks/{id}/events", s.pageEvents)
	page("GET /tasks/{id}/download", s.pageDownload)
	page("POST /tasks/{id}/cancel", s.cancelTaskForm)
	page("GET /tournaments", s.tournamentsPage)
	page("GET /tournaments/{id}", s.tournamentPage)
	page("GET /tournaments/{id}/events", s.tournamentPageEvents)
	page("GET /experiments", s.experimentsPage)
	page("GET /experiments/{name}", s.experimentPage)
	page("GET /experiments/{name}/{file}", s.experimentChart)
	page("GET /keys", s.keysPage)
	page("POST /keys", s.createKeyForm)
	page("POST /keys/{id}/revoke", s.revokeKeyForm)
	s.webhookPageRoutes(page)
}

// keysPage lists the account's API keys.
func (s *Server) keysPage(w http.ResponseWriter, r *http.Request) {
	s.renderKeys(w, r, nil, "")
}

func (s *Server) renderKeys(w http.ResponseWriter, r *http.Request, created *crucible.APIKey, secret string) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	keys, err := s.b.FindAPIKeys(r.Context(), c.account.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	bal, err := s.balance(r.Context(), c.account.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "keys", view{Title: "API keys", Nav: "keys",
		Page: map[string]any{"Keys": keys, "Created": created, "Secret": secret, "Balance": bal}})
}

// createKeyForm makes a key for the logged-in account and shows its secret
// once.
func (s *Server) createKeyForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if len(name) > 100 {
		s.pageError(w, r, crucible.Errorf(crucible.EINVALID, "key name is longer than 100 characters"))
		return
	}
	k, secret, err := newKey(r.Context(), s.b, c.account.ID, name, 0)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.renderKeys(w, r, k, secret)
}

// revokeKeyForm revokes one of the logged-in account's keys.
func (s *Server) revokeKeyForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	keys, err := s.b.FindAPIKeys(r.Context(), c.account.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	id := r.PathValue("id")
	for _, k := range keys {
		if k.ID == id {
			if err := s.b.RevokeAPIKey(r.Context(), id); err != nil {
				s.pageError(w, r, err)
				return
			}
			if k.ID == c.key.ID {
				s.setCookie(w, "", -1) // the session's own key
			}
			http.Redirect(w, r, "/keys", http.StatusSeeOther)
			return
		}
	}
	s.pageError(w, r, crucible.Errorf(crucible.ENOTFOUND, "API key %s not found", id))
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", view{Title: "Log in", Nav: "login", Page: map[string]string{"Next": safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a redirect target on this site: a path (with an optional
// query) that every browser reads as one. Anything a browser could read as
// another origin (//host, /\host, schemes, control characters and
// whitespace that browsers strip, encoded slashes after the first) becomes
// the tasks page.
func safeNext(next string) string {
	const fallback = "/tasks"
	if len(next) == 0 || len(next) > 2000 || next[0] != '/' {
		return fallback
	}
	for _, c := range next {
		if c <= ' ' || c == 0x7f || c == '\\' || c > 0x7e {
			return fallback
		}
	}
	if strings.HasPrefix(next, "//") || strings.HasPrefix(strings.ToLower(next), "/%2f") || strings.HasPrefix(strings.ToLower(next), "/%5c") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	return next
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.PostFormValue("key"))
	next := safeNext(r.PostFormValue("next"))
	if _, err := s.lookupKey(r.Context(), key); err != nil {
		if crucible.ErrorCode(err) == crucible.EINTERNAL {
			s.pageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Nav: "login",
			Flash: crucible.ErrorMessage(err), Page: map[string]string{"Next": next}})
		return
	}
	s.setCookie(w, key, 30*24*3600)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.setCookie(w, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// homePage is the network page: headline counters, charts, the miner
// leaderboard and recent public tasks.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	days, err := intParam(r.URL.Query().Get("days"), 7, 1, 3650)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	st, err := s.network(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	board, err := s.leaderboard(r.Context(), days)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	recent, _, err := s.b.FindTasks(r.Context(), crucible.TaskFilter{Limit: 50})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var public []*crucible.Task
	for _, t := range recent {
		if !t.Private && len(public) < 10 {
			public = append(public, t)
		}
	}
	var statusBars, scoreBars, weightBars []bar
	for _, status := range crucible.Statuses {
		if n := st.TasksByStatus[status]; n > 0 {
			statusBars = append(statusBars, bar{Label: string(status), Value: float64(n), Class: "status " + string(status)})
		}
	}
	for _, m := range board {
		if m.Score != 0 {
			scoreBars = append(scoreBars, bar{Label: m.Hotkey, Value: m.Score, Class: "miner"})
		}
		if m.Weight > 0 {
			weightBars = append(weightBars, bar{Label: m.Hotkey, Value: m.Weight, Class: "weight"})
		}
	}
	s.render(w, r, http.StatusOK, "home", view{Title: "Network", Nav: "network", Page: map[string]any{
		"Status": st, "Board": board, "Days": days, "Windows": leaderboardDays, "Recent": public,
		"StatusChart": barChart("Tasks by status", statusBars, "%.0f"),
		"ScoreChart":  barChart(fmt.Sprintf("Miner scores over %d days", days), scoreBars, "%.3g"),
		"WeightChart": barChart("Latest weights", weightBars, "%.3f"),
	}})
}

func (s *Server) tasksPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	tasks, total, err := s.b.FindTasks(r.Context(), crucible.TaskFilter{AccountID: c.account.ID, Limit: 100})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "tasks", view{Title: "Your tasks", Nav: "tasks", Page: map[string]any{"Tasks": tasks, "Total": total}})
}

// humanCount writes 1234567 as 1.2M.
func humanCount(n int64) string {
	f := float64(n)
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if f >= u.div {
			return strconv.FormatFloat(f/u.div, 'f', 1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// humanHours writes a budget in minutes or hours.
func humanHours(h float64) string {
	if h*60 < 1 {
		return fmt.Sprintf("%.0f s", h*3600)
	}
	if h < 1 {
		return fmt.Sprintf("%.0f min", h*60)
	}
	return fmt.Sprintf("%.1f h", h)
}

// mappingField is one column-mapping input of the new-task form.
type mappingField struct {
	Name, Label, Value string
}

// mappingFields lists the mapping inputs of a task type, prefilled from m.
func mappingFields(t crucible.TaskType, m crucible.ColumnMapping) []mappingField {
	names := map[crucible.TaskType][]string{
		crucible.TaskInstruct: {"field_instruction", "field_input", "field_output", "field_system"},
		crucible.TaskChat:     {"chat_column", "chat_role_field", "chat_content_field", "chat_user_reference", "chat_assistant_reference", "chat_system_reference"},
		crucible.TaskDPO:      {"field_prompt", "field_chosen", "field_rejected"},
		crucible.TaskText:     {"field_text"},
	}[t]
	values := mappingValues(m)
	out := make([]mappingField, 0, len(names))
	for _, n := range names {
		label := strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(n, "field_"), "chat_"), "_", " ")
		out = append(out, mappingField{Name: n, Label: label, Value: values[n]})
	}
	return out
}

// mappingValues returns m's fields by JSON name.
func mappingValues(m crucible.ColumnMapping) map[string]string {
	out := map[string]string{}
	v, t := reflect.ValueOf(m), reflect.TypeOf(m)
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[name] = v.Field(i).String()
	}
	return out
}

// mappingFromForm reads the mapping inputs of a form; nil when none is set.
func mappingFromForm(r *http.Request) (*crucible.ColumnMapping, error) {
	vals := map[string]string{}
	for name := range mappingValues(crucible.ColumnMapping{}) {
		if v := strings.TrimSpace(r.FormValue("map_" + name)); v != "" {
			vals[name] = v
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	b, _ := json.Marshal(vals)
	var m crucible.ColumnMapping
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "column mapping: %v", err)
	}
	return &m, nil
}
