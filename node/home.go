package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Home is the directory that holds a node's state by default:
// $CRUCIBLE_HOME, else ~/.crucible.
func Home() string {
	if h := os.Getenv("CRUCIBLE_HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".crucible")
	}
	return ".crucible"
}

// ExpandHome replaces a leading $CRUCIBLE_HOME in path with Home(), so that
// documented defaults such as "$CRUCIBLE_HOME/validator.db" follow the
// environment the node runs in.
func ExpandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "$CRUCIBLE_HOME"); ok && (rest == "" || rest[0] == '/' || rest[0] == filepath.Separator) {
		return Home() + rest
	}
	return path
}

// State is a node's state directory, held exclusively by this process
// until Release: a second process opening the same directory for the same
// role gets ECONFLICT instead of silently sharing (and corrupting) it.
type State struct {
	Dir  string // the directory, absolute
	Role string // "validator", "miner", ...
	lock *os.File
}

// OpenState creates dir (0700) when missing and takes the role's lock in it
// (a file named ROLE.lock holding the process id). The lock is released by
// Release or when the process exits, however it exits.
func OpenState(dir, role string) (*State, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s state %s: %w", role, dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "%s state directory %s", role, abs).
			WithHint("set CRUCIBLE_HOME (or the node's --home) to a directory this user can write")
	}
	path := filepath.Join(abs, role+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s state lock %s: %w", role, path, err)
	}
	if err := lockFile(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		holder := ""
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil {
			holder = fmt.Sprintf(" (process %d)", pid)
		}
		if errors.Is(err, errLocked) {
			return nil, crucible.Errorf(crucible.ECONFLICT, "%s state %s is in use by another %s%s", role, abs, role, holder).
				WithHint("stop the other process, or give this one its own state with CRUCIBLE_HOME or --home")
		}
		return nil, fmt.Errorf("%s state lock %s: %w", role, path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &State{Dir: abs, Role: role, lock: f}, nil
}

// Path returns the path of name inside the state directory.
func (s *State) Path(name ...string) string {
	return filepath.Join(append([]string{s.Dir}, name...)...)
}

// Release gives up the lock. The State must not be used afterwards.
func (s *State) Release() error {
	if s == nil || s.lock == nil {
		return nil
	}
	err := unlockFile(s.lock)
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	s.lock = nil
	return err
}

// errLocked reports that another process holds a state lock.
var errLocked = errors.New("locked by another process")
