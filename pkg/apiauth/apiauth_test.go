package apiauth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# ops\n\nci:viewer:ci-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load([]string{"ops:admin:ops-token-0123456789abcdef", " "}, file)
	if err != nil || len(got) != 2 || got[0].Role != Admin || got[1].Name != "ci" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	for name, list := range map[string][]string{
		"unknown role":  {"ops:root:ops-token-0123456789abcdef"},
		"short token":   {"ops:admin:zq9x"},
		"no separators": {"ops-token-0123456789abcdef"},
		"duplicate":     {"a:admin:same-token-0123456789abc", "b:viewer:same-token-0123456789abc"},
	} {
		_, err := Load(list, "")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, s := range list {
			_, tok, _ := strings.Cut(s[strings.Index(s, ":")+1:], ":")
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("%s: the error echoes the token: %v", name, err)
			}
		}
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	a := New([]Token{{Name: "ops", Role: Admin, Token: "ops-token-0123456789abcdef"}, {Name: "ci", Role: Viewer, Token: "ci-token-0123456789abcdef"}})
	g := a.Guard("svc.v1.Thing", func(m string) Role {
		if strings.HasSuffix(m, "/Mutate") {
			return Admin
		}
		return Viewer
	})
	call := func(method, auth string) (Caller, error) {
		ctx := context.Background()
		if auth != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", auth))
		}
		var seen Caller
		_, err := g.Unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, _ any) (any, error) {
			seen, _ = CallerFrom(ctx)
			return nil, nil
		})
		return seen, err
	}
	tests := []struct {
		name, method, auth string
		want               codes.Code
		caller             string
	}{
		{"no token", "/svc.v1.Thing/Read", "", codes.Unauthenticated, ""},
		{"not bearer", "/svc.v1.Thing/Read", "Basic ops-token-0123456789abcdef", codes.Unauthenticated, ""},
		{"unknown token", "/svc.v1.Thing/Read", "Bearer nope-0123456789abcdef", codes.Unauthenticated, ""},
		{"viewer reads", "/svc.v1.Thing/Read", "Bearer ci-token-0123456789abcdef", codes.OK, "ci"},
		{"viewer may not mutate", "/svc.v1.Thing/Mutate", "Bearer ci-token-0123456789abcdef", codes.PermissionDenied, ""},
		{"admin mutates", "/svc.v1.Thing/Mutate", "bearer ops-token-0123456789abcdef", codes.OK, "ops"},
		{"other services are open", "/grpc.health.v1.Health/Check", "", codes.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			caller, err := call(tc.method, tc.auth)
			if status.Code(err) != tc.want || caller.Name != tc.caller {
				t.Fatalf("got %v (caller %q), want %v (caller %q)", err, caller.Name, tc.want, tc.caller)
			}
		})
	}
}
