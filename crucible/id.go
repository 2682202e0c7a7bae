package crucible

// MaxIDLen is the longest id crucible accepts from anyone: task, account,
// key, upload and result-name ids are at most this long.
const MaxIDLen = 64

// ValidID reports whether s is shaped like an id: 1 to MaxIDLen ASCII
// letters, digits, '-' and '_', starting with a letter or digit. Every id a
// peer or a customer sends (in a path, a query, a JSON body) is checked
// with it before it is used as a database key, a blob key or a file name:
// an id can never be ".", "..", empty, or hold a separator.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckID returns an EINVALID error naming field when s is not an id
// (ValidID), nil otherwise.
func CheckID(field, s string) error {
	if ValidID(s) {
		return nil
	}
	shown := s
	if len(shown) > MaxIDLen+16 {
		shown = shown[:MaxIDLen] + "…"
	}
	return Errorf(EINVALID, "%s %q is not an id: want 1 to %d letters, digits, '-' or '_'", field, shown, MaxIDLen)
}
