// Package hubstate is the small state file the all-in-one hub writes when it
// starts, so that hubctl (and people) can find the registry it runs without
// being told the address: {"registry_addr":"127.0.0.1:7400",
// "admin_token_file":"/path/admin.token","pid":123,"start_time":"…"}.
//
// The file holds the paths of the admin token file and of the NATS
// credential, never a token or a seed.
package hubstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is what a running hub records about itself.
type State struct {
	// RegistryAddr is host:port of the registry's gRPC listener.
	RegistryAddr string `json:"registry_addr"`
	// AdminTokenFile is the path of a file holding the registry's admin API token.
	AdminTokenFile string `json:"admin_token_file,omitempty"`
	// NATSURL is where the hub's NATS accepts TCP clients; empty when it does not.
	NATSURL string `json:"nats_url,omitempty"`
	// NATSCredsFile is the path of the hubctl role's NATS nkey seed file, for
	// clients of NATSURL (hubctl, the nats CLI's --nkey); never the seed.
	NATSCredsFile string    `json:"nats_creds_file,omitempty"`
	PID           int       `json:"pid"`
	StartTime     time.Time `json:"start_time"`
}

// EnvPath names the environment variable that overrides the state file path.
const EnvPath = "HUB_STATE_FILE"

// PathFromEnv is where the state file lives for the environment getenv
// reads (os.Getenv, or a map in the hub and in tests): $HUB_STATE_FILE, else
// $XDG_STATE_HOME/connectorhub/hub.json, else
// ~/.local/state/connectorhub/hub.json. It is empty when none can be found.
func PathFromEnv(getenv func(string) string) string {
	if p := getenv(EnvPath); p != "" {
		return p
	}
	if dir := getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "connectorhub", "hub.json")
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "connectorhub", "hub.json")
}

// Read loads the state file at path. A missing file gives an error for which
// errors.Is(err, fs.ErrNotExist) holds.
func Read(path string) (State, error) {
	if path == "" {
		return State{}, fmt.Errorf("hub state file: no path: %w", fs.ErrNotExist)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("hub state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("hub state file %s: %w", path, err)
	}
	return s, nil
}

// Write stores s at path atomically (temporary file + rename), the file 0600
// and its directory created 0700, so a reader never sees half a file.
func Write(path string, s State) error {
	if path == "" {
		return errors.New("hub state file: no path")
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("hub state file: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hub state file: %w", err)
	}
	f, err := os.CreateTemp(dir, ".hub-*.json")
	if err != nil {
		return fmt.Errorf("hub state file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("hub state file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("hub state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("hub state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hub state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("hub state file: %w", err)
	}
	return nil
}

// Remove deletes the state file, for a hub that stops; a missing file is fine.
func Remove(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hub state file: %w", err)
	}
	return nil
}
