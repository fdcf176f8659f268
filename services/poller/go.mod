module github.com/connectorhub/connectorhub/services/poller

go 1.26.0
