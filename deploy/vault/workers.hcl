# connectorhub workers (pollers, writeback, knowledge): may decrypt the
# credentials they use, and encrypt the rotated refresh token of an OAuth 2.0
# (Atlassian 3LO) connector, which the authorization server replaces on every
# refresh. They cannot rewrap.
path "transit/decrypt/connectorhub" {
  capabilities = ["update"]
}

path "transit/encrypt/connectorhub" {
  capabilities = ["update"]
}
