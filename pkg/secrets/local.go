package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Local is an AES-256-GCM keyring kept in one file, for the all-in-one
// deployment without Vault. The keyring holds every key version ever created;
// new ciphertexts use the newest one and Rewrap moves old ones forward.
//
// The standard library's AES-GCM is used directly rather than a wrapper
// library: the whole scheme is "random nonce, Seal with the key context as
// additional data", which needs nothing more.
//
// Local is safe for concurrent use within one process. Two processes must not
// Rotate the same file at once.
type Local struct {
	path string

	mu     sync.RWMutex
	keys   map[int]cipher.AEAD
	raw    []keyEntry // as stored, for rewriting the file on Rotate
	latest int
}

var (
	_ Cipher = (*Local)(nil)
	_ Cipher = (*Vault)(nil)
)

const (
	keyringFormat = "connectorhub-local-keyring/v1"
	keySize       = 32 // AES-256
	nonceSize     = 12 // standard GCM nonce
)

type keyringFile struct {
	Format string     `json:"format"`
	Keys   []keyEntry `json:"keys"`
}

type keyEntry struct {
	Version int    `json:"version"`
	Key     string `json:"key"` // base64 (standard encoding)
}

// OpenLocal opens the keyring at path, creating it with one random key on
// first use (file mode 0600, parent directory 0700 when created). It refuses
// a key file that group or others can access.
func OpenLocal(path string) (*Local, error) {
	if path == "" {
		return nil, errors.New("local keyring: path must not be empty")
	}
	data, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	var kf keyringFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("local keyring %s: malformed key file: %w", path, err)
	}
	l := &Local{path: path}
	if err := l.load(kf); err != nil {
		return nil, fmt.Errorf("local keyring %s: %w", path, err)
	}
	return l, nil
}

// readKeyFile reads the key file after checking it is a regular file that
// only its owner can access.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("local keyring: open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("local keyring: stat key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("local keyring: key file %s is not a regular file", path)
	}
	// Windows has no POSIX permission bits to check.
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("local keyring: refusing key file %s: mode %04o lets group or others access it; run `chmod 600 %s`", path, perm, path)
	}
	data, err := readAll(f)
	if err != nil {
		return nil, fmt.Errorf("local keyring: read key file: %w", err)
	}
	return data, nil
}

func readAll(f *os.File) ([]byte, error) {
	const maxKeyFile = 1 << 20
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("key file larger than %d bytes", maxKeyFile)
	}
	return data, nil
}

// createKeyFile writes a new keyring with one random key. The content is
// written to a temporary file first and then hard-linked into place, which
// fails if the path exists: two processes starting at once therefore agree
// on one key (the loser reads the winner's complete file).
func createKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local keyring: create directory: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	data, err := marshalKeyring([]keyEntry{{Version: 1, Key: key}})
	if err != nil {
		return nil, err
	}
	tmp, err := writeTemp(dir, filepath.Base(path), data)
	if err != nil {
		return nil, fmt.Errorf("local keyring: write key file: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("local keyring: create key file: %w", err)
	}
	syncDir(dir)
	return data, nil
}

// writeTemp writes data to a new 0600 file in dir, synced, and returns its name.
func writeTemp(dir, base string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	// CreateTemp makes the file 0600 already; be explicit anyway.
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir persists a directory entry change; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func newKey() (string, error) {
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("local keyring: generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

func marshalKeyring(keys []keyEntry) ([]byte, error) {
	data, err := json.MarshalIndent(keyringFile{Format: keyringFormat, Keys: keys}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("local keyring: encode: %w", err)
	}
	return append(data, '\n'), nil
}

func (l *Local) load(kf keyringFile) error {
	if kf.Format != keyringFormat {
		return fmt.Errorf("unsupported key file format %q (want %q)", kf.Format, keyringFormat)
	}
	if len(kf.Keys) == 0 {
		return errors.New("key file holds no keys")
	}
	keys := make(map[int]cipher.AEAD, len(kf.Keys))
	latest := 0
	for i, e := range kf.Keys {
		if e.Version < 1 {
			return fmt.Errorf("key #%d: invalid version %d", i, e.Version)
		}
		if _, dup := keys[e.Version]; dup {
			return fmt.Errorf("key version %d appears twice", e.Version)
		}
		aead, err := newAEAD(e.Key)
		if err != nil {
			return fmt.Errorf("key version %d: %w", e.Version, err)
		}
		keys[e.Version] = aead
		latest = max(latest, e.Version)
	}
	l.keys, l.latest = keys, latest
	l.raw = append([]keyEntry(nil), kf.Keys...)
	return nil
}

func newAEAD(b64 string) (cipher.AEAD, error) {
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(k) != keySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(k), keySize)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// LatestVersion reports the key version new ciphertexts are made with.
func (l *Local) LatestVersion() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.latest
}

// Rotate adds a new random key, makes it the one used for encryption, and
// persists the keyring (atomically: temporary file, fsync, rename). Older
// versions stay so existing ciphertexts still decrypt until rewrapped.
func (l *Local) Rotate() (newVersion int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key, err := newKey()
	if err != nil {
		return 0, err
	}
	version := l.latest + 1
	aead, err := newAEAD(key)
	if err != nil {
		return 0, err
	}
	raw := append(append([]keyEntry(nil), l.raw...), keyEntry{Version: version, Key: key})
	data, err := marshalKeyring(raw)
	if err != nil {
		return 0, err
	}
	if err := writeFileAtomic(l.path, data); err != nil {
		return 0, fmt.Errorf("local keyring %s: rotate: %w", l.path, err)
	}
	l.keys[version] = aead
	l.raw = raw
	l.latest = version
	return version, nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, filepath.Base(path), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after a successful rename
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// Encrypt seals plaintext with the newest key; keyContext is the GCM
// additional data. The result looks like "local:v<N>:<base64>".
func (l *Local) Encrypt(ctx context.Context, keyContext string, plaintext []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkKeyContext(keyContext); err != nil {
		return "", err
	}
	l.mu.RLock()
	version, aead := l.latest, l.keys[l.latest]
	l.mu.RUnlock()
	return seal(aead, version, keyContext, plaintext)
}

func seal(aead cipher.AEAD, version int, keyContext string, plaintext []byte) (string, error) {
	buf := make([]byte, nonceSize, nonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("local keyring: generate nonce: %w", err)
	}
	buf = aead.Seal(buf, buf[:nonceSize], plaintext, []byte(keyContext))
	return prefixLocal + strconv.Itoa(version) + ":" + base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt opens a ciphertext made by this keyring for the same keyContext.
// Any mismatch (other key context, tampering, unknown key version, another
// backend's ciphertext) is ErrInvalidCiphertext.
func (l *Local) Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKeyContext(keyContext); err != nil {
		return nil, err
	}
	_, pt, err := l.open(keyContext, ciphertext)
	return pt, err
}

func (l *Local) open(keyContext, ciphertext string) (version int, plaintext []byte, err error) {
	version, body, err := parseLocal(ciphertext)
	if err != nil {
		return 0, nil, err
	}
	l.mu.RLock()
	aead, ok := l.keys[version]
	l.mu.RUnlock()
	if !ok {
		return 0, nil, newError(ErrInvalidCiphertext, nil,
			"local keyring: invalid ciphertext: key version %d is not in this keyring", version)
	}
	if len(body) < nonceSize+aead.Overhead() {
		return 0, nil, newError(ErrInvalidCiphertext, nil, "local keyring: invalid ciphertext: too short")
	}
	pt, err := aead.Open(nil, body[:nonceSize], body[nonceSize:], []byte(keyContext))
	if err != nil {
		return 0, nil, newError(ErrInvalidCiphertext, nil,
			"local keyring: invalid ciphertext: authentication failed (tampered, or bound to another key context)")
	}
	return version, pt, nil
}

func parseLocal(ciphertext string) (int, []byte, error) {
	rest, ok := strings.CutPrefix(ciphertext, prefixLocal)
	if !ok {
		kind := Kind(ciphertext)
		if kind == "" {
			kind = "unrecognised"
		}
		return 0, nil, newError(ErrInvalidCiphertext, nil,
			"local keyring: invalid ciphertext: %s ciphertext, want prefix %q", kind, prefixLocal)
	}
	v, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, nil, newError(ErrInvalidCiphertext, nil, "local keyring: invalid ciphertext: missing key version")
	}
	version, err := strconv.Atoi(v)
	if err != nil || version < 1 || strconv.Itoa(version) != v {
		return 0, nil, newError(ErrInvalidCiphertext, nil, "local keyring: invalid ciphertext: malformed key version")
	}
	body, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 0, nil, newError(ErrInvalidCiphertext, nil, "local keyring: invalid ciphertext: malformed base64")
	}
	return version, body, nil
}

// Rewrap re-encrypts a ciphertext under the newest key version. A ciphertext
// already on the newest version is verified and returned unchanged.
func (l *Local) Rewrap(ctx context.Context, keyContext, ciphertext string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkKeyContext(keyContext); err != nil {
		return "", err
	}
	version, pt, err := l.open(keyContext, ciphertext)
	if err != nil {
		return "", err
	}
	defer clear(pt)
	l.mu.RLock()
	latest, aead := l.latest, l.keys[l.latest]
	l.mu.RUnlock()
	if version == latest {
		return ciphertext, nil
	}
	return seal(aead, latest, keyContext, pt)
}

// RewrapBatch rewraps every item. On per-item failures it returns all
// results (with "" where an item failed) and a *BatchError.
func (l *Local) RewrapBatch(ctx context.Context, items []RewrapItem) ([]string, error) {
	out := make([]string, len(items))
	failed := map[int]error{}
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ct, err := l.Rewrap(ctx, it.KeyContext, it.Ciphertext)
		if err != nil {
			failed[i] = err
			continue
		}
		out[i] = ct
	}
	if len(failed) > 0 {
		return out, &BatchError{Failed: failed}
	}
	return out, nil
}
