module github.com/connectorhub/connectorhub/services/knowledge

go 1.26.0
