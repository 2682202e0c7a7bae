package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/sign"
)

func init() { register(newKeysCmd) }

// defaultKeysDir is where named keys live: $CRUCIBLE_HOME/keys, or
// ~/.crucible/keys.
func defaultKeysDir() string { return filepath.Join(node.Home(), "keys") }

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// keyPath resolves a key name in dir; a value with a path separator is taken
// as a file path as it is.
func keyPath(dir, name string) (string, error) {
	if strings.ContainsRune(name, os.PathSeparator) || strings.Contains(name, "/") {
		return name, nil
	}
	if !keyNameRE.MatchString(name) {
		return "", crucible.Errorf(crucible.EINVALID, "key name %q: use letters, digits, '.', '_' and '-' (at most 64)", name)
	}
	if dir == "" {
		dir = defaultKeysDir()
	}
	return filepath.Join(dir, name), nil
}

// loadKey loads the key named name (or the key file at path name) from dir
// ("" means the default directory). Daemons use it to load their hotkey.
func loadKey(dir, name string) (*sign.Keypair, error) {
	if name == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "no key named").WithHint("pass --hotkey NAME; create one with: crucible keys new --name NAME")
	}
	path, err := keyPath(dir, name)
	if err != nil {
		return nil, err
	}
	kp, err := sign.LoadKeyFile(path)
	if err != nil {
		if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
			return nil, crucible.Wrap(err, crucible.ENOTFOUND, "key %q", name).
				WithHint("create it with: crucible keys new --name " + filepath.Base(path))
		}
		return nil, crucible.Wrap(err, crucible.EINVALID, "key %q", name)
	}
	return kp, nil
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, import and show sr25519 hotkeys (Bittensor-compatible)",
		Long: `Keys identify crucible nodes. They are sr25519 keys with SS58 addresses, made
and derived exactly as Bittensor and Substrate make them, stored as JSON files
(mode 0600) in the Bittensor key file layout, one per name, in
$CRUCIBLE_HOME/keys or ~/.crucible/keys.`,
	}
	cmd.AddCommand(newKeysNewCmd(), newKeysShowCmd(), newKeysImportCmd(), newKeysListCmd())
	return cmd
}

func newKeysNewCmd() *cobra.Command {
	var name, dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Create a key and print its address and mnemonic (shown only this once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := keyPath(dir, name)
			if err != nil {
				return err
			}
			kp, phrase, err := sign.Generate()
			if err != nil {
				return err
			}
			if err := saveKey(path, kp, "", force); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "key:      %s\n", path)
			fmt.Fprintf(w, "address:  %s\n", kp.Address())
			fmt.Fprintf(w, "mnemonic: %s\n", phrase)
			fmt.Fprintln(w, "Write the mnemonic down and keep it secret: it is the only way to restore this key.")
			return nil
		},
	}
	keysFlags(cmd, &name, &dir)
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing key of this name")
	return cmd
}

func newKeysImportCmd() *cobra.Command {
	var name, dir, mnemonic, derive string
	var force bool
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import a key from a mnemonic (or 0x seed), optionally derived (--derive //hot)",
		Long: `Import a key from a mnemonic given with --mnemonic or, without it, read from
standard input (first line). A 0x-prefixed 32-byte hex seed works too, and so
does a full secret URI ("PHRASE//hard/soft///password"). --derive appends a
derivation path; "--mnemonic '' --derive //Alice" is the development key Alice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := keyPath(dir, name)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("mnemonic") {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read mnemonic from stdin: %w", err)
				}
				mnemonic = strings.TrimSpace(line)
			}
			if derive != "" && !strings.HasPrefix(derive, "/") {
				return crucible.Errorf(crucible.EINVALID, "--derive %q: a derivation path starts with // (hard) or / (soft)", derive)
			}
			mnemonic = strings.TrimSpace(mnemonic)
			if mnemonic == "" && derive == "" {
				return crucible.Errorf(crucible.EINVALID, "no mnemonic given").WithHint("pass --mnemonic or pipe it on standard input")
			}
			kp, err := sign.FromURI(mnemonic + derive)
			if err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "import key")
			}
			if err := saveKey(path, kp, derive, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key:      %s\naddress:  %s\n", path, kp.Address())
			return nil
		},
	}
	keysFlags(cmd, &name, &dir)
	cmd.Flags().StringVar(&mnemonic, "mnemonic", "", "the mnemonic, 0x seed or secret URI (default: read from stdin)")
	cmd.Flags().StringVar(&derive, "derive", "", "derivation path to apply, e.g. //validator or //Alice")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing key of this name")
	return cmd
}

func newKeysShowCmd() *cobra.Command {
	var name, dir string
	cmd := &cobra.Command{
		Use:   "show [NAME]",
		Short: "Print a key's address and public key",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				name = args[0]
			}
			kp, err := loadKey(dir, name)
			if err != nil {
				return err
			}
			pub := kp.PublicKey()
			fmt.Fprintf(cmd.OutOrStdout(), "address:    %s\npublic key: 0x%s\n", kp.Address(), hex.EncodeToString(pub[:]))
			return nil
		},
	}
	keysFlags(cmd, &name, &dir)
	return cmd
}

func newKeysListCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the keys in the key directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = defaultKeysDir()
			}
			entries, err := os.ReadDir(dir)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("list keys: %w", err)
			}
			var names []string
			for _, e := range entries {
				if e.Type().IsRegular() && keyNameRE.MatchString(e.Name()) {
					names = append(names, e.Name())
				}
			}
			sort.Strings(names)
			if len(names) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no keys in %s (create one with: crucible keys new)\n", dir)
				return nil
			}
			w := cmd.OutOrStdout()
			for _, n := range names {
				kp, err := sign.LoadKeyFile(filepath.Join(dir, n))
				if err != nil {
					fmt.Fprintf(w, "%-20s (unreadable: %v)\n", n, err)
					continue
				}
				fmt.Fprintf(w, "%-20s %s\n", n, kp.Address())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "key directory (default $CRUCIBLE_HOME/keys or ~/.crucible/keys)")
	return cmd
}

func keysFlags(cmd *cobra.Command, name, dir *string) {
	cmd.Flags().StringVar(name, "name", "default", "key name (a file in the key directory), or a path to a key file")
	cmd.Flags().StringVar(dir, "dir", "", "key directory (default $CRUCIBLE_HOME/keys or ~/.crucible/keys)")
}

func saveKey(path string, kp *sign.Keypair, derivation string, force bool) error {
	if err := sign.SaveKeyFile(path, kp, derivation, force); err != nil {
		if errors.Is(err, sign.ErrKeyExists) {
			return crucible.Errorf(crucible.ECONFLICT, "key %s already exists", path).WithHint("pass --force to replace it (the old key is lost)")
		}
		return err
	}
	return nil
}
