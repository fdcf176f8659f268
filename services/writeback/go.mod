module github.com/connectorhub/connectorhub/services/writeback

go 1.26.0
