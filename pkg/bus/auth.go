package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ErrNoCredential is returned when a role has no seed in Credentials.
var ErrNoCredential = errors.New("bus: no NATS credential for role")

// Credentials holds one nkey user per role: the seed (private) and its public
// key. Each user's permissions are its role's (Role.Permissions), enforced by
// the server. Why nkeys: a static user list with permissions is what a NATS
// operator configures for one account, the seed never crosses the wire
// (the server sends a nonce, the client signs it), and no operator/account
// JWT machinery is needed for a single-tenant bus.
//
// A Credentials value never prints a seed.
type Credentials struct {
	dir   string
	seeds map[Role][]byte
	pubs  map[Role]string
}

// CredentialFile is the file name of a role's seed in a credentials dir.
func CredentialFile(r Role) string { return string(r) + ".nk" }

// AuthConfigFile is the nats-server configuration include written beside the
// seeds: the users (public keys only) and their permissions.
const AuthConfigFile = "auth.conf"

// LeafRemoteFile is the nats-server configuration include written beside the
// seeds for an edge site's leaf node: the leaf role's seed as a remote's
// `nkey` (nats-server reads a seed there, or a .creds file with a user JWT,
// but not a bare seed file). Include it inside the remote's block:
//
//	leafnodes { remotes: [ { urls: [...], include "leaf-remote.conf" } ] }
//
// It holds a secret: 0600, mounted only into the leaf's server.
const LeafRemoteFile = "leaf-remote.conf"

// LoadOrCreateCredentials reads the seeds in dir and generates the missing
// ones (every role of Roles), the dir 0700 and each file 0600. It also
// (re)writes AuthConfigFile, for a nats-server run outside the hub, and
// LeafRemoteFile, for an edge site's leaf node.
func LoadOrCreateCredentials(dir string) (*Credentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: credentials dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: credentials dir: %w", err)
	}
	c := &Credentials{dir: dir, seeds: map[Role][]byte{}, pubs: map[Role]string{}}
	for _, r := range Roles() {
		path := filepath.Join(dir, CredentialFile(r))
		seed, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			kp, err := nkeys.CreateUser()
			if err != nil {
				return nil, fmt.Errorf("bus: new nkey for %s: %w", r, err)
			}
			if seed, err = kp.Seed(); err != nil {
				return nil, fmt.Errorf("bus: new nkey for %s: %w", r, err)
			}
			if err := writePrivate(path, append(bytes.Clone(seed), '\n')); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, fmt.Errorf("bus: credential of %s: %w", r, err)
		default:
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, fmt.Errorf("bus: credential of %s: %w", r, err)
			}
		}
		seed = bytes.TrimSpace(seed)
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("bus: %s does not hold an nkey user seed; delete it to get a new one", path)
		}
		pub, err := kp.PublicKey()
		if err != nil || !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("bus: %s does not hold an nkey user seed; delete it to get a new one", path)
		}
		c.seeds[r], c.pubs[r] = seed, pub
	}
	conf, err := c.ServerConfig()
	if err != nil {
		return nil, err
	}
	if err := writePrivate(filepath.Join(dir, AuthConfigFile), conf); err != nil {
		return nil, err
	}
	remote := "# The leaf node's credential at the central cluster (generated; a SECRET, keep it 0600).\n" +
		"# Include it in the leafnodes remote block of the edge site's nats-server.conf.\n" +
		"nkey: \"" + string(c.seeds[RoleLeaf]) + "\"\n"
	if err := writePrivate(filepath.Join(dir, LeafRemoteFile), []byte(remote)); err != nil {
		return nil, err
	}
	return c, nil
}

func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("bus: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("bus: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bus: write %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// Dir is where the seeds are.
func (c *Credentials) Dir() string { return c.dir }

// File is the path of role r's seed file (for nats --nkey, HUB_NATS_CREDS).
func (c *Credentials) File(r Role) string { return filepath.Join(c.dir, CredentialFile(r)) }

// PublicKey is role r's nkey user (public, safe to print).
func (c *Credentials) PublicKey(r Role) string { return c.pubs[r] }

// Option authenticates a connection as role r: the server's nonce is signed
// with the seed, which stays in this process.
func (c *Credentials) Option(r Role) (nats.Option, error) {
	seed, ok := c.seeds[r]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrNoCredential, r)
	}
	nkey := nats.Nkey(c.pubs[r], func(nonce []byte) ([]byte, error) {
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return nil, err
		}
		defer kp.Wipe()
		return kp.Sign(nonce)
	})
	return both(nkey, nats.CustomInboxPrefix(r.InboxPrefix())), nil
}

// both applies two options as one.
func both(a, b nats.Option) nats.Option {
	return func(o *nats.Options) error {
		if err := a(o); err != nil {
			return err
		}
		return b(o)
	}
}

// Users are the server-side users: every role's public key with its
// permissions.
func (c *Credentials) Users() []*server.NkeyUser {
	var users []*server.NkeyUser
	for _, r := range Roles() {
		if pub, ok := c.pubs[r]; ok {
			u := &server.NkeyUser{Nkey: pub, Permissions: r.Permissions()}
			if types := r.ConnectionTypes(); types != nil {
				u.AllowedConnectionTypes = map[string]struct{}{}
				for _, t := range types {
					u.AllowedConnectionTypes[t] = struct{}{}
				}
			}
			users = append(users, u)
		}
	}
	return users
}

// String never shows a seed.
func (c *Credentials) String() string { return "bus.Credentials(" + c.dir + ")" }

// ServerConfig renders the users as a nats-server configuration include
// (JSON, which the server's configuration format accepts):
//
//	authorization { include "auth.conf" }  // or: include ./auth.conf at top level
func (c *Credentials) ServerConfig() ([]byte, error) {
	type subj struct {
		Allow []string `json:"allow,omitempty"`
		Deny  []string `json:"deny,omitempty"`
	}
	type resp struct {
		Max     int    `json:"max"`
		Expires string `json:"expires"`
	}
	type perms struct {
		Publish   subj  `json:"publish"`
		Subscribe subj  `json:"subscribe"`
		Responses *resp `json:"allow_responses,omitempty"`
	}
	type user struct {
		Role  string   `json:"-"`
		Nkey  string   `json:"nkey"`
		Perms perms    `json:"permissions"`
		Types []string `json:"allowed_connection_types,omitempty"`
	}
	var users []user
	for _, r := range Roles() {
		pub, ok := c.pubs[r]
		if !ok {
			continue
		}
		p := r.Permissions()
		u := user{Role: string(r), Nkey: pub, Perms: perms{Publish: subj{p.Publish.Allow, p.Publish.Deny}, Subscribe: subj{p.Subscribe.Allow, p.Subscribe.Deny}},
			Types: r.ConnectionTypes()}
		if p.Response != nil {
			u.Perms.Responses = &resp{Max: p.Response.MaxMsgs, Expires: p.Response.Expires.String()}
		}
		users = append(users, u)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the server's parser knows no \u escapes, and subjects hold '>'
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"authorization": map[string]any{"users": users}}); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	header := "# connectorhub NATS users, one per role (generated; public keys only).\n" +
		"# Include it in nats-server.conf: include ./" + AuthConfigFile + "\n"
	return append([]byte(header), b...), nil
}

// ClientAuth is how a process outside the hub's embedded server reaches a
// shared NATS: a credential file and, optionally, TLS.
type ClientAuth struct {
	// CredsFile is an nkey seed file (as LoadOrCreateCredentials writes) or a
	// NATS .creds file (user JWT and seed), or a directory holding one seed
	// file per role (<role>.nk), of which Role's is used. Empty: no credential.
	CredsFile string
	// Role picks the seed file when CredsFile is a directory. The
	// connection's inbox prefix is that of the role the seed file is named
	// for (<role>.nk), else Role's; a .creds file keeps the default inbox.
	Role Role
	// TLSCert and TLSKey are a client certificate (mutual TLS); TLSCA
	// verifies the server. Any of them set turns TLS on.
	TLSCert, TLSKey, TLSCA string
}

// Options returns the nats.Options for a.
func (a ClientAuth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.CredsFile != "" {
		if fi, err := os.Stat(a.CredsFile); err == nil && fi.IsDir() {
			if a.Role == "" {
				return nil, fmt.Errorf("%w: NATS credentials dir %s without a role", ErrInvalidOptions, a.CredsFile)
			}
			a.CredsFile = filepath.Join(a.CredsFile, CredentialFile(a.Role))
		}
		data, err := os.ReadFile(a.CredsFile)
		if err != nil {
			return nil, fmt.Errorf("bus: NATS credential: %w", err)
		}
		if bytes.Contains(data, []byte("BEGIN NATS USER JWT")) {
			opts = append(opts, nats.UserCredentials(a.CredsFile))
		} else {
			o, err := nats.NkeyOptionFromSeed(a.CredsFile)
			if err != nil {
				return nil, fmt.Errorf("bus: NATS credential %s holds neither an nkey seed nor a .creds file", a.CredsFile)
			}
			opts = append(opts, o)
			role := RoleOfFile(a.CredsFile)
			if role == "" {
				role = a.Role
			}
			if role != "" {
				opts = append(opts, nats.CustomInboxPrefix(role.InboxPrefix()))
			}
		}
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return nil, fmt.Errorf("%w: NATS TLS client certificate and key go together", ErrInvalidOptions)
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" || a.TLSCA != "" {
		opts = append(opts, nats.Secure())
	}
	return opts, nil
}

// authTimeout is how long the server waits for a client to authenticate.
const authTimeout = 5 * time.Second
