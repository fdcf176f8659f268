package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// TestShowSaysHowLateASaturatedReplicaPolled: the status's late_by is shown,
// and nothing is said when the poll was on time.
func TestShowSaysHowLateASaturatedReplicaPolled(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var late, onTime bytes.Buffer
	if err := printConnector(&late, &pb.Connector{Id: "gh-1", Status: &pb.ConnectorStatus{LateBy: durationpb.New(42 * time.Second)}}, now); err != nil {
		t.Fatal(err)
	}
	if err := printConnector(&onTime, &pb.Connector{Id: "gh-1", Status: &pb.ConnectorStatus{}}, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(late.String(), "Late by") || !strings.Contains(late.String(), "42s") {
		t.Errorf("late status shown as:\n%s", late.String())
	}
	if strings.Contains(onTime.String(), "Late by") {
		t.Errorf("on-time status shown as:\n%s", onTime.String())
	}
}
