# connectorhub registry: may encrypt new credentials and rewrap stored ones
# after a key rotation. It can never decrypt, so a compromised admin API
# cannot read any tracker token.
path "transit/encrypt/connectorhub" {
  capabilities = ["update"]
}

path "transit/rewrap/connectorhub" {
  capabilities = ["update"]
}
