# connectorhub workers (pollers, writeback, knowledge): may decrypt the
# credentials they use, and encrypt the rotated refresh token of an OAuth 2.0
# (Atlassian 3LO) connector, which the authorization server replaces on every
# refresh. They cannot rewrap.
#
# Why encrypt, and what it does not allow: a worker stores the new refresh
# token itself (the old one is already void), in the oauth_grants NATS bucket;
# the connectors bucket stays the registry's alone (pkg/bus/roles.go). The
# key is derived, and every value is bound to its key context: a refresh
# token is encrypted under the connector's refresh-token context (connector
# id, system, deployment, base URL, auth mode, username, proxy, CA, client id,
# and an "oauth-refresh" suffix). A value a worker encrypts can therefore be
# opened only as the refresh token of that one connector, as configured by
# the registry, and is only ever sent to the configured Atlassian token
# endpoint. It cannot be opened as any connector's credential, client secret
# or webhook secret (other contexts), nor replayed onto another connector, and
# a worker cannot write a connector record to point one at its own server.
path "transit/decrypt/connectorhub" {
  capabilities = ["update"]
}

path "transit/encrypt/connectorhub" {
  capabilities = ["update"]
}
