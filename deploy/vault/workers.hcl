# connectorhub workers (pollers, writeback, knowledge): may decrypt the
# credentials they use. They cannot encrypt or rewrap, so they cannot plant
# or replace a stored credential.
path "transit/decrypt/connectorhub" {
  capabilities = ["update"]
}
