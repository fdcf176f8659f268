package secrets_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/connectorhub/connectorhub/pkg/secrets"
)

const localPlaintext = "ghp_LocalSecretToken_0123456789abcdef"

func openLocal(t *testing.T) (*secrets.Local, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "keyring.json")
	l, err := secrets.OpenLocal(path)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return l, path
}

func TestOpenLocal_CreatesOwnerOnlyKeyFileAndDir(t *testing.T) {
	t.Parallel()
	_, path := openLocal(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	dst, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := dst.Mode().Perm(); got != 0o700 {
		t.Errorf("key dir mode = %04o, want 0700", got)
	}
}

func TestLocal_RoundTripAndReopenDecryptsOldCiphertext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openLocal(t)
	ct, err := l.Encrypt(ctx, "conn-a", []byte(localPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ct, "local:v1:") || secrets.Kind(ct) != "local" {
		t.Fatalf("ciphertext %q: want prefix local:v1:", ct)
	}
	if strings.Contains(ct, localPlaintext) {
		t.Fatal("ciphertext contains the plaintext")
	}

	reopened, err := secrets.OpenLocal(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	pt, err := reopened.Decrypt(ctx, "conn-a", ct)
	if err != nil {
		t.Fatalf("decrypt after reopen: %v", err)
	}
	if string(pt) != localPlaintext {
		t.Fatal("decrypted plaintext differs")
	}
}

func TestLocal_EncryptIsRandomized(t *testing.T) {
	t.Parallel()
	l, _ := openLocal(t)
	a, _ := l.Encrypt(context.Background(), "conn-a", []byte(localPlaintext))
	b, _ := l.Encrypt(context.Background(), "conn-a", []byte(localPlaintext))
	if a == b {
		t.Fatal("two encryptions of the same plaintext are identical (nonce reuse)")
	}
}

func TestOpenLocal_ConcurrentFirstRunAgreesOnOneKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyring.json")
	const n = 8
	rings := make([]*secrets.Local, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rings[i], errs[i] = secrets.OpenLocal(path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("OpenLocal #%d: %v", i, err)
		}
	}
	ct, err := rings[0].Encrypt(context.Background(), "c", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rings {
		if _, err := r.Decrypt(context.Background(), "c", ct); err != nil {
			t.Errorf("keyring #%d cannot decrypt #0's ciphertext: %v", i, err)
		}
	}
}

func TestLocal_CiphertextBoundToKeyContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openLocal(t)
	ct, err := l.Encrypt(ctx, "conn-a", []byte(localPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Decrypt(ctx, "conn-b", ct)
	if !errors.Is(err, secrets.ErrInvalidCiphertext) {
		t.Fatalf("decrypt as other connector: err = %v, want ErrInvalidCiphertext", err)
	}
	_, err = l.Rewrap(ctx, "conn-b", ct)
	if !errors.Is(err, secrets.ErrInvalidCiphertext) {
		t.Fatalf("rewrap as other connector: err = %v, want ErrInvalidCiphertext", err)
	}
}

func TestLocal_InvalidCiphertextRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openLocal(t)
	good, err := l.Encrypt(ctx, "conn-a", []byte(localPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(good, "local:v1:")
	raw, _ := base64.StdEncoding.DecodeString(body)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return "local:v1:" + base64.StdEncoding.EncodeToString(b)
	}
	other, _ := openLocal(t)
	foreign, _ := other.Encrypt(ctx, "conn-a", []byte(localPlaintext))

	tests := map[string]string{
		"flipped nonce byte":          flip(0),
		"flipped ciphertext byte":     flip(len(raw) / 2),
		"flipped tag byte":            flip(len(raw) - 1),
		"truncated":                   "local:v1:" + base64.StdEncoding.EncodeToString(raw[:10]),
		"unknown key version":         "local:v9:" + body,
		"malformed version":           "local:vx:" + body,
		"leading zero version":        "local:v01:" + body,
		"missing version separator":   "local:v1" + body[:4],
		"not base64":                  "local:v1:!!!not-base64!!!",
		"vault ciphertext":            "vault:v1:" + body,
		"no prefix":                   body,
		"empty":                       "",
		"another keyring's (foreign)": foreign,
	}
	for name, ct := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := l.Decrypt(ctx, "conn-a", ct)
			if !errors.Is(err, secrets.ErrInvalidCiphertext) {
				t.Fatalf("Decrypt err = %v, want ErrInvalidCiphertext", err)
			}
			_, err = l.Rewrap(ctx, "conn-a", ct)
			if !errors.Is(err, secrets.ErrInvalidCiphertext) {
				t.Fatalf("Rewrap err = %v, want ErrInvalidCiphertext", err)
			}
		})
	}
}

func TestLocal_RotateThenRewrapMovesToNewestVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openLocal(t)
	old, err := l.Encrypt(ctx, "conn-a", []byte(localPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Rotate()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if v != 2 || l.LatestVersion() != 2 {
		t.Fatalf("Rotate version = %d, LatestVersion = %d; want 2", v, l.LatestVersion())
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode after rotate = %04o, want 0600", st.Mode().Perm())
	}

	fresh, _ := l.Encrypt(ctx, "conn-a", []byte(localPlaintext))
	if !strings.HasPrefix(fresh, "local:v2:") {
		t.Errorf("new encryption %q not on v2", fresh)
	}
	re, err := l.Rewrap(ctx, "conn-a", old)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if !strings.HasPrefix(re, "local:v2:") {
		t.Fatalf("rewrapped %q not on v2", re)
	}
	same, err := l.Rewrap(ctx, "conn-a", re)
	if err != nil || same != re {
		t.Errorf("rewrap of newest version: got %q, %v; want unchanged", same, err)
	}

	// The rotated keyring was persisted: a reopened keyring reads both versions.
	reopened, err := secrets.OpenLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{old, re} {
		pt, err := reopened.Decrypt(ctx, "conn-a", ct)
		if err != nil || string(pt) != localPlaintext {
			t.Fatalf("decrypt %q after reopen: %v", ct[:9], err)
		}
	}
}

func TestLocal_RewrapBatchReportsFailedItemsAndKeepsTheRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openLocal(t)
	var items []secrets.RewrapItem
	for _, id := range []string{"a", "b", "c"} {
		ct, err := l.Encrypt(ctx, id, []byte(localPlaintext+id))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, secrets.RewrapItem{KeyContext: id, Ciphertext: ct})
	}
	items[1].KeyContext = "not-b" // wrong binding
	if _, err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	out, err := l.RewrapBatch(ctx, items)
	var be *secrets.BatchError
	if !errors.As(err, &be) || !errors.Is(err, secrets.ErrInvalidCiphertext) {
		t.Fatalf("err = %v, want *BatchError wrapping ErrInvalidCiphertext", err)
	}
	if len(be.Failed) != 1 || be.Failed[1] == nil {
		t.Fatalf("failed items = %v, want only index 1", be.Failed)
	}
	if len(out) != 3 || out[1] != "" {
		t.Fatalf("results = %q", out)
	}
	for _, i := range []int{0, 2} {
		if !strings.HasPrefix(out[i], "local:v2:") {
			t.Errorf("item %d = %q, want local:v2:", i, out[i])
		}
		pt, err := l.Decrypt(ctx, items[i].KeyContext, out[i])
		if err != nil || string(pt) != localPlaintext+items[i].KeyContext {
			t.Errorf("item %d does not decrypt after batch rewrap: %v", i, err)
		}
	}
}

func TestOpenLocal_RefusesKeyFileAccessibleByOthers(t *testing.T) {
	t.Parallel()
	for name, mode := range map[string]os.FileMode{
		"group readable": 0o640,
		"world readable": 0o604,
		"group writable": 0o620,
		"world writable": 0o602,
		"everyone all":   0o666,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, path := openLocal(t)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := secrets.OpenLocal(path)
			if err == nil {
				t.Fatalf("OpenLocal accepted a key file with mode %04o", mode)
			}
			if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q should name the file and the fix", err)
			}
		})
	}
}

func TestOpenLocal_RejectsCorruptKeyFile(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"not json":      "nope",
		"wrong format":  `{"format":"other","keys":[{"version":1,"key":"AAAA"}]}`,
		"no keys":       `{"format":"connectorhub-local-keyring/v1","keys":[]}`,
		"short key":     `{"format":"connectorhub-local-keyring/v1","keys":[{"version":1,"key":"AAAA"}]}`,
		"duplicate ver": `{"format":"connectorhub-local-keyring/v1","keys":[{"version":1,"key":"` + strings.Repeat("A", 43) + `="},{"version":1,"key":"` + strings.Repeat("A", 43) + `="}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keyring.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := secrets.OpenLocal(path); err == nil {
				t.Fatal("OpenLocal accepted a corrupt key file")
			}
		})
	}
}

func TestLocal_EmptyKeyContextRejected(t *testing.T) {
	t.Parallel()
	l, _ := openLocal(t)
	if _, err := l.Encrypt(context.Background(), "", []byte("x")); !errors.Is(err, secrets.ErrEmptyKeyContext) {
		t.Fatalf("err = %v, want ErrEmptyKeyContext", err)
	}
}

func TestLocal_ErrorsNeverContainPlaintext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openLocal(t)
	ct, err := l.Encrypt(ctx, "conn-a", []byte(localPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	_, err = l.Decrypt(ctx, "conn-b", ct)
	errs = append(errs, err)
	_, err = l.Rewrap(ctx, "conn-b", ct)
	errs = append(errs, err)
	_, err = l.RewrapBatch(ctx, []secrets.RewrapItem{{KeyContext: "conn-b", Ciphertext: ct}})
	errs = append(errs, err)
	_, err = l.Decrypt(ctx, "conn-a", localPlaintext)
	errs = append(errs, err)
	assertNoSecretIn(t, errs, localPlaintext)
}

// assertNoSecretIn fails if any error is nil or its message contains a
// secret, raw or base64-encoded.
func assertNoSecretIn(t *testing.T, errs []error, secretValues ...string) {
	t.Helper()
	for i, err := range errs {
		if err == nil {
			t.Errorf("error #%d is nil; expected a failure", i)
			continue
		}
		msg := err.Error()
		for _, s := range secretValues {
			if strings.Contains(msg, s) || strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte(s))) {
				t.Errorf("error #%d leaks a secret: %q", i, msg)
			}
		}
	}
}
