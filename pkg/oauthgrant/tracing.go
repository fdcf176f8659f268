package oauthgrant

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/connectorhub/connectorhub/pkg/connector"
)

// Token-endpoint calls get client spans of their own (one per refresh and
// one per accessible-resources call) on the global tracer provider, a no-op
// unless tracing is on. They carry only what is safe to show: the grant's
// connector, the server's host, the path, the HTTP status and the OAuth
// error code, never a token, code, secret or response body.
const tracerName = "github.com/connectorhub/connectorhub/pkg/oauthgrant"

type connectorKey struct{}

func startSpan(ctx context.Context, name, method, rawURL string) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{attribute.String("http.request.method", method)}
	if u, err := url.Parse(rawURL); err == nil {
		attrs = append(attrs, attribute.String("server.address", u.Hostname()), attribute.String("url.path", u.Path))
	}
	if id, ok := ctx.Value(connectorKey{}).(string); ok {
		attrs = append(attrs, attribute.String("connectorhub.connector.id", id))
	}
	return otel.Tracer(tracerName).Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// exchange trades the refresh token used for a new token pair at the token
// endpoint (x/oauth2), in a span.
func (m *Manager) exchange(ctx context.Context, c connector.Connector, secret, used connector.Secret) (*oauth2.Token, error) {
	ctx, span := startSpan(context.WithValue(ctx, connectorKey{}, c.ID), "oauth2 token refresh", "POST", m.cfg.Endpoints.TokenURL)
	defer span.End()
	span.SetAttributes(attribute.String("oauth2.grant_type", "refresh_token"))
	tok, err := m.oauthConfig(c, secret).TokenSource(ctx, &oauth2.Token{RefreshToken: used.Reveal()}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		desc := "token endpoint did not answer"
		if errors.As(err, &re) {
			desc = safeCode(re.ErrorCode)
			if re.Response != nil {
				span.SetAttributes(attribute.Int("http.response.status_code", re.Response.StatusCode))
				desc = "HTTP " + strconv.Itoa(re.Response.StatusCode) + ": " + desc
			}
		}
		span.SetStatus(codes.Error, desc)
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", 200), attribute.Bool("oauth2.refresh_token_rotated", tok.RefreshToken != "" && tok.RefreshToken != used.Reveal()))
	return tok, nil
}
