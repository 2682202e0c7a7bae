package data

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/crucible-net/crucible/crucible"
)

// columnStats summarises one column over the sample.
type columnStats struct {
	name     string
	strings  int       // rows holding a string
	others   int       // rows holding something else than a string or null
	messages int       // rows holding a list of message objects
	keys     [2]string // role and content field names of the messages
	roles    []string  // distinct role values seen
	roleSet  map[string]bool
}

func (s *columnStats) observe(v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if t := strings.TrimSpace(x); strings.HasPrefix(t, "[{") {
			var list []any
			if json.Unmarshal([]byte(t), &list) == nil && s.observeMessages(list) {
				return
			}
		}
		s.strings++
		return
	case []byte: // Parquet binary columns without a string annotation
		if utf8.Valid(x) {
			s.strings++
			return
		}
	case []any:
		if s.observeMessages(x) {
			return
		}
	}
	s.others++
}

// observeMessages records a list of {role, content} or {from, value}
// objects; it reports false for any other list.
func (s *columnStats) observeMessages(list []any) bool {
	if len(list) == 0 {
		return false
	}
	var keys [2]string
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return false
		}
		k := messageKeys(obj)
		if k[0] == "" || (keys[0] != "" && k != keys) {
			return false
		}
		keys = k
	}
	if s.keys[0] != "" && s.keys != keys {
		return false
	}
	s.keys = keys
	s.messages++
	for _, e := range list {
		if role, ok := e.(map[string]any)[keys[0]].(string); ok && !s.roleSet[role] {
			s.roleSet[role] = true
			s.roles = append(s.roles, role)
		}
	}
	return true
}

// messageKeys finds the role and content field names of a message object.
func messageKeys(obj map[string]any) [2]string {
	for _, role := range []string{"role", "from"} {
		if _, ok := obj[role]; !ok {
			continue
		}
		for _, content := range []string{"content", "value", "text"} {
			if _, ok := obj[content]; ok {
				return [2]string{role, content}
			}
		}
	}
	return [2]string{}
}

// chatMapping maps the role values seen onto user, assistant and system.
func (s *columnStats) chatMapping() (crucible.ColumnMapping, string, bool) {
	m := crucible.ColumnMapping{ChatColumn: s.name, ChatRoleField: s.keys[0], ChatContentField: s.keys[1]}
	pick := func(dst *string, names []string) {
		for _, n := range names {
			if s.roleSet[n] {
				*dst = n
				return
			}
		}
	}
	pick(&m.ChatUserRole, userRoles)
	pick(&m.ChatAssistRole, assistantRoles)
	pick(&m.ChatSystemRole, systemRoles)
	var unknown []string
	for _, r := range s.roles {
		if r != m.ChatUserRole && r != m.ChatAssistRole && r != m.ChatSystemRole {
			unknown = append(unknown, fmt.Sprintf("%q", r))
		}
	}
	switch {
	case m.ChatUserRole == "" || m.ChatAssistRole == "":
		return m, fmt.Sprintf("its roles (%s) do not include both a user and an assistant", strings.Join(s.roles, ", ")), false
	case len(unknown) > 0:
		return m, "the roles " + strings.Join(unknown, ", ") + " are not user, assistant or system", false
	}
	if m.ChatSystemRole == "" {
		m.ChatSystemRole = RoleSystem
	}
	return m, "", true
}

// dpoConversational sets the message fields of a dpo mapping whose columns
// hold message lists, when they differ from {role, content} and
// user/assistant/system, and reports whether any column does.
func dpoConversational(stats map[string]*columnStats, m *crucible.ColumnMapping, seen string) (bool, error) {
	var keys [2]string
	roles := map[string]bool{}
	conv := false
	for _, c := range []string{m.FieldPrompt, m.FieldChosen, m.FieldRejected} {
		s := stats[c]
		if s.messages == 0 {
			continue
		}
		if conv && s.keys != keys {
			return false, crucible.Errorf(crucible.EINVALID, "dpo columns hold messages of different shapes ({%s, %s} and {%s, %s}) (%s)", keys[0], keys[1], s.keys[0], s.keys[1], seen)
		}
		conv, keys = true, s.keys
		for r := range s.roleSet {
			roles[r] = true
		}
	}
	if !conv {
		return false, nil
	}
	all := &columnStats{name: m.FieldChosen, keys: keys, roleSet: roles}
	for r := range roles {
		all.roles = append(all.roles, r)
	}
	sort.Strings(all.roles)
	cm, why, ok := all.chatMapping()
	if !ok {
		return false, crucible.Errorf(crucible.EINVALID, "dpo columns hold messages, but %s (%s)", why, seen).
			WithHint("name the roles with --chat-user-reference and --chat-assistant-reference")
	}
	set := func(dst *string, v, def string) {
		if v != def {
			*dst = v
		}
	}
	set(&m.ChatRoleField, cm.ChatRoleField, "role")
	set(&m.ChatContentField, cm.ChatContentField, "content")
	set(&m.ChatUserRole, cm.ChatUserRole, RoleUser)
	set(&m.ChatAssistRole, cm.ChatAssistRole, RoleAssistant)
	set(&m.ChatSystemRole, cm.ChatSystemRole, RoleSystem)
	return true, nil
}
