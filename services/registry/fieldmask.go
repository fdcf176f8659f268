package registry

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/connectorhub/connectorhub/pkg/connector"
	chv1 "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// mutablePaths are the Connector fields an update mask may name. Nested paths
// under scope and status_labels may be named one by one or as a whole.
var mutablePaths = map[string]bool{
	"display_name": true, "deployment": true, "base_url": true, "auth_mode": true, "username": true,
	"assignee": true, "project": true, "space_keys": true, "enabled": true, "poll_interval": true,
	"scope": true, "scope.statuses": true, "scope.labels": true, "scope.min_priority": true,
	"index_comments": true, "index_attachments": true,
	"status_labels": true, "status_labels.in_progress": true, "status_labels.in_review": true, "status_labels.done": true,
	"conflict_policy": true, "http_proxy_url": true, "ca_bundle_pem": true, "close_on_done": true, "zone": true, "full_text": true, "review_pull_requests": true, "app_id": true, "installation_id": true,
	"webhook": true,
	"watch":   true, "context_connectors": true,
	"oauth_client_id": true, "oauth_scopes": true, "oauth_grant_from": true,
}

// applyMask copies the fields named by paths from src onto dst (both proto
// connectors); only those fields change. Unknown or immutable paths are field
// errors naming the path.
func applyMask(dst, src *chv1.Connector, paths []string) error {
	var errs connector.ValidationError
	if len(paths) == 0 {
		return connector.ValidationError{{Field: "update_mask", Description: "names no field; list the fields to change"}}
	}
	for _, path := range paths {
		if !mutablePaths[path] {
			errs = append(errs, connector.FieldError{Field: "update_mask", Description: fmt.Sprintf("%q is not a field that can be updated", path)})
			continue
		}
		copyPath(dst.ProtoReflect(), src.ProtoReflect(), strings.Split(path, "."))
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func copyPath(dst, src protoreflect.Message, parts []string) {
	fd := dst.Descriptor().Fields().ByName(protoreflect.Name(parts[0]))
	if len(parts) == 1 {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
		return
	}
	copyPath(dst.Mutable(fd).Message(), src.Get(fd).Message(), parts[1:])
}

// topLevel reduces paths to their top-level field names ("scope.labels" → "scope").
func topLevel(paths []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		top, _, _ := strings.Cut(p, ".")
		if !seen[top] {
			seen[top] = true
			out = append(out, top)
		}
	}
	return out
}
