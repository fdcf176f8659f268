// Package apiauth checks the bearer API tokens of connectorhub's gRPC
// services (registry, knowledge): tokens named with a role, read from a list
// and a file, compared by SHA-256 in constant time. Errors never echo a token.
package apiauth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Role is what a token may do.
type Role string

const (
	Admin  Role = "admin"  // may read and mutate
	Viewer Role = "viewer" // may read
)

// MinTokenLen keeps guessable tokens out.
const MinTokenLen = 16

// Token is one configured API token.
type Token struct {
	Name  string
	Role  Role
	Token string
}

// Load reads "name:role:token" entries from list (HUB_API_TOKENS) and from
// file (HUB_API_TOKENS_FILE: one per line, # comments).
func Load(list []string, file string) ([]Token, error) {
	var out []Token
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		t, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("HUB_API_TOKENS entry %d: %w", i+1, err)
		}
		out = append(out, t)
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("HUB_API_TOKENS_FILE: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			t, err := parse(s)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", file, line, err)
			}
			out = append(out, t)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("HUB_API_TOKENS_FILE: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, t := range out {
		if seen[t.Token] {
			return nil, fmt.Errorf("API token %q is configured twice", t.Name)
		}
		seen[t.Token] = true
	}
	return out, nil
}

func parse(s string) (Token, error) {
	name, rest, ok1 := strings.Cut(strings.TrimSpace(s), ":")
	role, token, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || name == "" {
		return Token{}, errors.New(`want "name:role:token"`)
	}
	switch Role(role) {
	case Admin, Viewer:
	default:
		return Token{}, fmt.Errorf("token %q: unknown role %q (admin or viewer)", name, role)
	}
	if len(token) < MinTokenLen {
		return Token{}, fmt.Errorf("token %q: shorter than %d characters", name, MinTokenLen)
	}
	return Token{Name: name, Role: Role(role), Token: token}, nil
}

// Caller is who made a call.
type Caller struct {
	Name string
	Role Role
}

type callerKey struct{}

// CallerFrom returns the authenticated caller of a call.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Authenticator checks bearer tokens.
type Authenticator struct {
	tokens []hashed
}

type hashed struct {
	sum    [32]byte
	caller Caller
}

// New returns an authenticator accepting tokens.
func New(tokens []Token) *Authenticator {
	a := &Authenticator{}
	for _, t := range tokens {
		a.tokens = append(a.tokens, hashed{sum: sha256.Sum256([]byte(t.Token)), caller: Caller{Name: t.Name, Role: t.Role}})
	}
	return a
}

func (a *Authenticator) lookup(token string) (Caller, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Caller
	ok := false
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = t.caller, true
		}
	}
	return found, ok
}

// Guard protects the methods of one gRPC service: every call needs a known
// token, and a method for which required returns Admin needs an admin token.
// Other services on the server (health, reflection) stay open.
type Guard struct {
	a        *Authenticator
	service  string
	required func(fullMethod string) Role
}

// Guard returns the guard of a service (e.g. "connectorhub.v1.RegistryService").
func (a *Authenticator) Guard(service string, required func(fullMethod string) Role) *Guard {
	return &Guard{a: a, service: service, required: required}
}

func (g *Guard) authorize(ctx context.Context, method string) (context.Context, error) {
	if !strings.HasPrefix(method, "/"+g.service+"/") {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, `missing "authorization: Bearer <token>" metadata`)
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return nil, status.Error(codes.Unauthenticated, `authorization metadata must be "Bearer <token>"`)
	}
	caller, ok := g.a.lookup(strings.TrimSpace(token))
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown API token")
	}
	if g.required != nil && g.required(method) == Admin && caller.Role != Admin {
		return nil, status.Errorf(codes.PermissionDenied, "token %q has role %s; %s needs role admin", caller.Name, caller.Role, method[strings.LastIndex(method, "/")+1:])
	}
	return context.WithValue(ctx, callerKey{}, caller), nil
}

// Unary is the guard's unary interceptor.
func (g *Guard) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := g.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is the guard's stream interceptor.
func (g *Guard) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := g.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &wrapped{ServerStream: ss, ctx: ctx})
}

type wrapped struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrapped) Context() context.Context { return w.ctx }
