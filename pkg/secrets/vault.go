package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// Defaults applied by NewVault and Validate to zero-valued fields.
const (
	DefaultTransitMount = "transit"
	DefaultKeyName      = "connectorhub"
	DefaultAppRoleMount = "approle"
	DefaultVaultTimeout = 10 * time.Second
	partialFailureCode  = 207 // batch: some items failed, the rest succeeded
	redacted            = "[redacted]"
)

// ErrInvalidConfig reports a VaultConfig that cannot work.
var ErrInvalidConfig = errors.New("invalid vault configuration")

// AppRoleAuth logs in with Vault's AppRole method.
type AppRoleAuth struct {
	RoleID   string
	SecretID string
	// MountPath of the AppRole auth method; default "approle".
	MountPath string
}

// VaultConfig configures the Vault transit Cipher. Exactly one of Token and
// AppRole must be set.
type VaultConfig struct {
	// Address of Vault, e.g. "https://vault.internal:8200".
	Address string
	// Token authenticates directly. Renewed while renewable; when it reaches
	// its max TTL it cannot be replaced and operations fail with
	// ErrPermissionDenied.
	Token string
	// AppRole authenticates by role and secret id; the token obtained is
	// renewed and, at its max TTL, replaced by logging in again.
	AppRole *AppRoleAuth
	// Namespace (Vault Enterprise / HCP); empty for the root namespace.
	Namespace string
	// CACert is a path to a PEM CA bundle that verifies Vault's certificate.
	CACert string
	// TransitMount is where the transit engine is mounted; default "transit".
	TransitMount string
	// KeyName is the derived transit key; default "connectorhub".
	KeyName string
	// Timeout bounds each operation; default 10s.
	Timeout time.Duration
	// Logger receives token renewal events; nil discards them.
	Logger *slog.Logger
}

func (c VaultConfig) withDefaults() VaultConfig {
	c.Address = strings.TrimRight(c.Address, "/")
	c.TransitMount = strings.Trim(c.TransitMount, "/")
	if c.TransitMount == "" {
		c.TransitMount = DefaultTransitMount
	}
	if c.KeyName == "" {
		c.KeyName = DefaultKeyName
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultVaultTimeout
	}
	if c.AppRole != nil {
		ar := *c.AppRole
		ar.MountPath = strings.Trim(ar.MountPath, "/")
		if ar.MountPath == "" {
			ar.MountPath = DefaultAppRoleMount
		}
		c.AppRole = &ar
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with the configuration (after defaults).
// Error messages name fields, never their secret values.
func (c VaultConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Address == "" {
		errs = append(errs, errors.New("address is required"))
	} else if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("address %q must be an http:// or https:// URL", c.Address))
	}
	switch {
	case c.Token == "" && c.AppRole == nil:
		errs = append(errs, errors.New("one of token or approle is required"))
	case c.Token != "" && c.AppRole != nil:
		errs = append(errs, errors.New("token and approle are mutually exclusive"))
	case c.AppRole != nil:
		if c.AppRole.RoleID == "" {
			errs = append(errs, errors.New("approle role id is required"))
		}
		if c.AppRole.SecretID == "" {
			errs = append(errs, errors.New("approle secret id is required"))
		}
	}
	if strings.Contains(c.KeyName, "/") {
		errs = append(errs, fmt.Errorf("key name %q must not contain '/'", c.KeyName))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s must not be negative", c.Timeout))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// String redacts secrets so a config can be printed or logged safely.
func (c VaultConfig) String() string {
	tok := ""
	if c.Token != "" {
		tok = redacted
	}
	return fmt.Sprintf("VaultConfig{Address:%q Token:%q AppRole:%v Namespace:%q CACert:%q TransitMount:%q KeyName:%q Timeout:%s}",
		c.Address, tok, c.AppRole, c.Namespace, c.CACert, c.TransitMount, c.KeyName, c.Timeout)
}

// GoString redacts secrets for %#v.
func (c VaultConfig) GoString() string { return c.String() }

// LogValue redacts secrets for log/slog.
func (c VaultConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.Bool("token_set", c.Token != ""),
		slog.Bool("approle", c.AppRole != nil),
		slog.String("namespace", c.Namespace),
		slog.String("transit_mount", c.TransitMount),
		slog.String("key_name", c.KeyName),
		slog.Duration("timeout", c.Timeout),
	)
}

// String redacts the secret id.
func (a *AppRoleAuth) String() string {
	if a == nil {
		return "<nil>"
	}
	sid := ""
	if a.SecretID != "" {
		sid = redacted
	}
	return fmt.Sprintf("AppRoleAuth{RoleID:%q SecretID:%q MountPath:%q}", a.RoleID, sid, a.MountPath)
}

// GoString redacts the secret id for %#v.
func (a *AppRoleAuth) GoString() string { return a.String() }

// Vault encrypts with a derived Vault transit key; the key context is passed
// as transit's "context", so each connector gets its own derived key.
type Vault struct {
	client  *api.Client
	addr    string
	mount   string
	key     string
	timeout time.Duration
	log     *slog.Logger
	login   *approle.AppRoleAuth // nil in token mode

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewVault builds a transit client. In AppRole mode it logs in now (so an
// unreachable Vault or wrong credentials fail here) and keeps the token alive
// in the background until Close. In token mode it does not require Vault to
// be reachable yet.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()

	// DefaultConfig also reads the standard VAULT_* environment (e.g.
	// VAULT_CLIENT_CERT); explicit fields below take precedence.
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, fmt.Errorf("vault client: %w", conf.Error)
	}
	conf.Address = cfg.Address
	conf.Timeout = cfg.Timeout
	// No retries inside one call: an outage then surfaces at once as
	// ErrUnavailable with its real cause (e.g. connection refused), and the
	// callers, which already loop with backoff, decide when to try again.
	conf.MaxRetries = 0
	if cfg.CACert != "" {
		if err := conf.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert}); err != nil {
			return nil, fmt.Errorf("vault client: CA certificate %s: %w", cfg.CACert, err)
		}
	}
	client, err := api.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	client.ClearToken() // ignore VAULT_TOKEN from the environment
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	} else {
		client.ClearNamespace()
	}

	v := &Vault{
		client:  client,
		addr:    cfg.Address,
		mount:   cfg.TransitMount,
		key:     cfg.KeyName,
		timeout: cfg.Timeout,
		log:     cfg.Logger.With(slog.String("component", "secrets.vault"), slog.String("vault_addr", cfg.Address)),
		done:    make(chan struct{}),
	}

	var first *api.Secret
	if cfg.AppRole != nil {
		v.login, err = approle.NewAppRoleAuth(cfg.AppRole.RoleID,
			&approle.SecretID{FromString: cfg.AppRole.SecretID},
			approle.WithMountPath(cfg.AppRole.MountPath))
		if err != nil {
			return nil, fmt.Errorf("vault approle: %w", err)
		}
		if first, err = v.doLogin(ctx); err != nil {
			return nil, err
		}
	} else {
		client.SetToken(cfg.Token)
		first = v.lookupSelf(ctx, cfg.Token)
	}

	bg, stop := context.WithCancel(context.Background())
	v.stop = stop
	go v.keepToken(bg, first)
	return v, nil
}

// Address is the Vault address this client talks to.
func (v *Vault) Address() string { return v.addr }

// Close stops token renewal and, in AppRole mode, revokes the token this
// client obtained. It is safe to call more than once.
func (v *Vault) Close() error {
	v.closeOnce.Do(func() {
		v.stop()
		<-v.done
		if v.login != nil {
			ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
			defer cancel()
			if err := v.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
				v.log.Debug("revoking approle token on close failed", slog.String("error", v.fail(ctx, "revoke token", err, false).Error()))
			}
		}
	})
	return nil
}

// doLogin logs in with AppRole on a token-less clone (the current token may
// have expired) and installs the new token.
func (v *Vault) doLogin(ctx context.Context) (*api.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	c, err := v.client.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.ClearToken()
	secret, err := v.login.Login(ctx, c)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && (re.StatusCode == 400 || re.StatusCode == 403) {
			return nil, newError(ErrPermissionDenied, nil,
				"vault at %s: approle login rejected (HTTP %d): %s", v.addr, re.StatusCode, vaultDetail(re))
		}
		return nil, v.fail(ctx, "approle login", err, false)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault at %s: approle login returned no token", v.addr)
	}
	v.client.SetToken(secret.Auth.ClientToken)
	return secret, nil
}

// lookupSelf learns whether a static token expires and can be renewed. Any
// failure only disables renewal: the token may lack lookup-self rights, and
// Vault need not be up yet.
func (v *Vault) lookupSelf(ctx context.Context, token string) *api.Secret {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	s, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		v.log.Warn("cannot look up vault token; it will not be renewed", slog.String("error", v.fail(ctx, "token lookup", err, false).Error()))
		return nil
	}
	ttl, err1 := s.TokenTTL()
	renewable, err2 := s.TokenIsRenewable()
	if err1 != nil || err2 != nil {
		return nil
	}
	return &api.Secret{Auth: &api.SecretAuth{ClientToken: token, Renewable: renewable, LeaseDuration: int(ttl / time.Second)}}
}

// keepToken renews the current token with api.LifetimeWatcher and, when it
// can be renewed no more, logs in again (AppRole only) with backoff.
func (v *Vault) keepToken(ctx context.Context, secret *api.Secret) {
	defer close(v.done)
	for {
		if secret == nil || secret.Auth == nil || secret.Auth.LeaseDuration <= 0 {
			<-ctx.Done() // non-expiring token (or unknown): nothing to do
			return
		}
		if err := v.watch(ctx, secret); err != nil {
			v.log.Warn("vault token renewal failed", slog.String("error", v.fail(ctx, "token renew", err, false).Error()))
		}
		if ctx.Err() != nil {
			return
		}
		if v.login == nil {
			v.log.Error("vault token is about to expire and cannot be renewed; configure a new token or use approle")
			<-ctx.Done()
			return
		}
		next, err := backoff.Retry(ctx, func() (*api.Secret, error) {
			s, err := v.doLogin(ctx)
			if err != nil {
				v.log.Warn("vault approle re-login failed; retrying", slog.String("error", err.Error()))
			}
			return s, err
		}, backoff.WithMaxElapsedTime(0))
		if err != nil { // only when ctx is done
			return
		}
		v.log.Debug("vault approle re-login succeeded")
		secret = next
	}
}

func (v *Vault) watch(ctx context.Context, secret *api.Secret) error {
	w, err := v.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
	if err != nil {
		return err
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.DoneCh():
			return err
		case <-w.RenewCh():
			v.log.Debug("vault token renewed")
		}
	}
}

func (v *Vault) path(op string) string { return v.mount + "/" + op + "/" + v.key }

func encodeContext(keyContext string) string {
	return base64.StdEncoding.EncodeToString([]byte(keyContext))
}

// Encrypt encrypts plaintext with the transit key derived for keyContext.
func (v *Vault) Encrypt(ctx context.Context, keyContext string, plaintext []byte) (string, error) {
	if err := checkKeyContext(keyContext); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	s, err := v.client.Logical().WriteWithContext(ctx, v.path("encrypt"), map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(plaintext),
		"context":   encodeContext(keyContext),
	})
	if err != nil {
		return "", v.fail(ctx, "transit encrypt", err, false)
	}
	return v.ciphertextFrom(s, "transit encrypt")
}

// Decrypt decrypts a transit ciphertext made for the same keyContext.
func (v *Vault) Decrypt(ctx context.Context, keyContext, ciphertext string) ([]byte, error) {
	if err := checkKeyContext(keyContext); err != nil {
		return nil, err
	}
	if err := checkVaultCiphertext(ciphertext); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	s, err := v.client.Logical().WriteWithContext(ctx, v.path("decrypt"), map[string]any{
		"ciphertext": ciphertext,
		"context":    encodeContext(keyContext),
	})
	if err != nil {
		return nil, v.fail(ctx, "transit decrypt", err, true)
	}
	var (
		b64 string
		ok  bool
	)
	if s != nil {
		b64, ok = s.Data["plaintext"].(string)
	}
	if !ok {
		return nil, fmt.Errorf("vault at %s: transit decrypt returned no plaintext", v.addr)
	}
	pt, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("vault at %s: transit decrypt returned malformed plaintext encoding", v.addr)
	}
	return pt, nil
}

// Rewrap moves a ciphertext to the newest version of the transit key
// without the plaintext leaving Vault.
func (v *Vault) Rewrap(ctx context.Context, keyContext, ciphertext string) (string, error) {
	if err := checkKeyContext(keyContext); err != nil {
		return "", err
	}
	if err := checkVaultCiphertext(ciphertext); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	s, err := v.client.Logical().WriteWithContext(ctx, v.path("rewrap"), map[string]any{
		"ciphertext": ciphertext,
		"context":    encodeContext(keyContext),
	})
	if err != nil {
		return "", v.fail(ctx, "transit rewrap", err, true)
	}
	return v.ciphertextFrom(s, "transit rewrap")
}

// RewrapBatch rewraps all items in one transit request (batch_input). Items
// that fail (bad ciphertext, wrong key context) leave "" at their position
// in the results and are listed in a *BatchError; the others succeed.
// Failures of the whole request (unreachable, permission) return nil results.
func (v *Vault) RewrapBatch(ctx context.Context, items []RewrapItem) ([]string, error) {
	out := make([]string, len(items))
	failed := map[int]error{}
	var (
		input []map[string]string
		index []int // input position -> items position
	)
	for i, it := range items {
		if err := checkKeyContext(it.KeyContext); err != nil {
			failed[i] = err
			continue
		}
		if err := checkVaultCiphertext(it.Ciphertext); err != nil {
			failed[i] = err
			continue
		}
		input = append(input, map[string]string{"ciphertext": it.Ciphertext, "context": encodeContext(it.KeyContext)})
		index = append(index, i)
	}
	if len(input) > 0 {
		if err := v.rewrapBatch(ctx, input, index, out, failed); err != nil {
			return nil, err
		}
	}
	if len(failed) > 0 {
		return out, &BatchError{Failed: failed}
	}
	return out, nil
}

func (v *Vault) rewrapBatch(ctx context.Context, input []map[string]string, index []int, out []string, failed map[int]error) error {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	body, err := json.Marshal(map[string]any{
		"batch_input":                   input,
		"partial_failure_response_code": partialFailureCode,
	})
	if err != nil {
		return fmt.Errorf("transit rewrap batch: encode request: %w", err)
	}
	// WriteRaw (not Write) so that when every item fails, which transit
	// answers with 400, the per-item results in the body can still be read.
	resp, err := v.client.Logical().WriteRawWithContext(ctx, v.path("rewrap"), body)
	if resp != nil {
		defer resp.Body.Close()
	}
	var re *api.ResponseError
	if err != nil && !(errors.As(err, &re) && re.StatusCode == 400 && resp != nil) {
		return v.fail(ctx, "transit rewrap batch", err, true)
	}
	var parsed struct {
		Data struct {
			BatchResults []struct {
				Ciphertext string `json:"ciphertext"`
				Error      string `json:"error"`
			} `json:"batch_results"`
		} `json:"data"`
	}
	if derr := json.NewDecoder(resp.Body).Decode(&parsed); derr != nil || len(parsed.Data.BatchResults) != len(input) {
		if err != nil {
			return v.fail(ctx, "transit rewrap batch", err, true)
		}
		return fmt.Errorf("vault at %s: transit rewrap batch: got %d results for %d items",
			v.addr, len(parsed.Data.BatchResults), len(input))
	}
	for j, r := range parsed.Data.BatchResults {
		i := index[j]
		switch {
		case r.Error != "":
			failed[i] = v.itemError(r.Error)
		case !strings.HasPrefix(r.Ciphertext, prefixVault):
			failed[i] = fmt.Errorf("vault at %s: transit rewrap batch returned no ciphertext", v.addr)
		default:
			out[i] = r.Ciphertext
		}
	}
	return nil
}

func (v *Vault) itemError(msg string) error {
	msg = oneLine(msg)
	if strings.Contains(msg, "encryption key not found") {
		return newError(ErrKeyNotFound, nil, "vault at %s: transit key %q not found", v.addr, v.key)
	}
	return newError(ErrInvalidCiphertext, nil, "vault at %s: invalid ciphertext: %s", v.addr, msg)
}

// EnsureKey creates the derived transit key if it does not exist. It is an
// admin step (tests, the all-in-one against a dev Vault); production
// services run with policies that cannot do it. An existing key that is not
// derived is an error: it would not bind ciphertexts to connectors.
func (v *Vault) EnsureKey(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	keyPath := v.mount + "/keys/" + v.key
	s, err := v.client.Logical().ReadWithContext(ctx, keyPath)
	if err != nil {
		return v.fail(ctx, "read transit key", err, false)
	}
	if s != nil && s.Data != nil {
		if derived, _ := s.Data["derived"].(bool); !derived {
			return fmt.Errorf("vault at %s: transit key %q exists but is not derived; create it with derived=true", v.addr, keyPath)
		}
		return nil
	}
	_, err = v.client.Logical().WriteWithContext(ctx, keyPath, map[string]any{
		"type":    "aes256-gcm96",
		"derived": true,
	})
	if err != nil {
		return v.fail(ctx, "create transit key", err, false)
	}
	return nil
}

func (v *Vault) ciphertextFrom(s *api.Secret, op string) (string, error) {
	var ct string
	if s != nil {
		ct, _ = s.Data["ciphertext"].(string)
	}
	if !strings.HasPrefix(ct, prefixVault) {
		return "", fmt.Errorf("vault at %s: %s returned no ciphertext", v.addr, op)
	}
	return ct, nil
}

func checkVaultCiphertext(ciphertext string) error {
	if Kind(ciphertext) == kindVault {
		return nil
	}
	kind := Kind(ciphertext)
	if kind == "" {
		kind = "unrecognised"
	}
	return newError(ErrInvalidCiphertext, nil, "vault transit: invalid ciphertext: %s ciphertext, want prefix %q", kind, prefixVault)
}

// fail maps a Vault client error onto the package's sentinels. ciphertextOp
// says a 400 means the ciphertext (or its key context) was rejected. The
// message is built from Vault's error strings and the status code only: the
// request body (which holds the plaintext) and the token are never in it.
func (v *Vault) fail(ctx context.Context, op string, err error, ciphertextOp bool) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		detail := vaultDetail(re)
		switch {
		case re.StatusCode == 403:
			return newError(ErrPermissionDenied, nil, "vault at %s: %s denied by policy (HTTP 403): %s", v.addr, op, detail)
		case re.StatusCode == 429 || re.StatusCode == 502 || re.StatusCode == 503 || re.StatusCode == 504:
			return newError(ErrUnavailable, nil, "vault at %s is unavailable (HTTP %d; sealed, standby or overloaded): %s: %s",
				v.addr, re.StatusCode, op, detail)
		case re.StatusCode == 400 && strings.Contains(detail, "encryption key not found"):
			return newError(ErrKeyNotFound, nil, "vault at %s: %s: transit key %q not found (run EnsureKey or the deploy/vault setup)",
				v.addr, op, v.mount+"/keys/"+v.key)
		case re.StatusCode == 400 && ciphertextOp:
			return newError(ErrInvalidCiphertext, nil, "vault at %s: %s: invalid ciphertext (HTTP 400): %s", v.addr, op, detail)
		case re.StatusCode == 404:
			return newError(ErrNotSetUp, nil, "vault at %s: %s failed (HTTP 404): no transit engine at mount %q (enable it: vault secrets enable -path=%s transit; see deploy/vault): %s",
				v.addr, op, v.mount, v.mount, detail)
		default:
			return fmt.Errorf("vault at %s: %s failed (HTTP %d): %s", v.addr, op, re.StatusCode, detail)
		}
	}
	if errors.Is(err, context.Canceled) && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return newError(nil, context.Canceled, "vault at %s: %s canceled", v.addr, op)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return newError(ErrUnavailable, context.DeadlineExceeded, "vault at %s is unreachable: %s timed out", v.addr, op)
	}
	return newError(ErrUnavailable, err, "vault at %s is unreachable: %s: %v", v.addr, op, err)
}

// vaultDetail joins the error strings Vault sent back. An unparseable body is
// withheld rather than echoed.
func vaultDetail(re *api.ResponseError) string {
	if re.RawError || len(re.Errors) == 0 {
		return "no error detail"
	}
	parts := make([]string, 0, len(re.Errors))
	for _, e := range re.Errors {
		// Vault often wraps one message as "1 error occurred:\n\t* msg\n\n".
		e = multiErrorHeader.ReplaceAllString(oneLine(e), "")
		parts = append(parts, strings.ReplaceAll(e, " * ", "; "))
	}
	return oneLine(strings.Join(parts, "; "))
}

var multiErrorHeader = regexp.MustCompile(`^\d+ errors? occurred: \* `)

func oneLine(s string) string {
	var b bytes.Buffer
	for f := range strings.FieldsSeq(s) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	const maxLen = 300
	if b.Len() > maxLen {
		return string(b.Bytes()[:maxLen]) + "…"
	}
	return b.String()
}
