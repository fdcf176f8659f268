package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/connectorhub/connectorhub/pkg/telemetry"
)

// targetFakes serves the sandbox's fake trackers on their own (no NATS, no
// services), so a container of the one image can stand in for the trackers:
// compose's sandbox profile and the end-to-end test run it.
const targetFakes = "fakes"

// registerRetry bounds the wait between attempts to register the sandbox
// connectors while the registry is still starting.
const registerRetry = 2 * time.Second

// runFakes serves the fakes (the same code as hub --sandbox) on
// HUB_SANDBOX_LISTEN and, with HUB_SANDBOX_REGISTRY, registers a connector
// per fake with that registry, retrying until it answers. It is ready once
// the fakes listen and, if asked, the connectors are registered.
func runFakes(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.SandboxRegistry != "" && cfg.SandboxTokenFile == "" {
		return errors.New("--target fakes with HUB_SANDBOX_REGISTRY needs HUB_SANDBOX_TOKEN_FILE (an admin API token)")
	}
	ready := telemetry.NewReadiness()
	ready.Set(targetFakes, telemetry.ErrStarting)
	if cfg.AdminAddr != "" {
		admin, err := telemetry.ServeAdmin(cfg.AdminAddr, telemetry.AdminHandler(ready, nil), log)
		if err != nil {
			return err
		}
		defer admin.Close()
	}
	sb := newSandbox(log.With("service", "sandbox"))
	sb.advertise = cfg.SandboxAdvertise
	if err := sb.start(cfg.SandboxListen, cfg.Knowledge.ListenAddr, cfg.Registry.ListenAddr, cfg.AdminAddr); err != nil {
		return err
	}
	defer sb.stop()
	if cfg.SandboxRegistry != "" {
		if err := registerWhenUp(ctx, sb, cfg, log); err != nil {
			return err
		}
	}
	ready.Set(targetFakes, nil)
	log.Info("fake trackers serving", "listen", cfg.SandboxListen)
	<-ctx.Done()
	return nil
}

// registerWhenUp registers the sandbox connectors, retrying while the
// registry or its token file is not there yet (containers start in any
// order); it gives up only when ctx ends.
func registerWhenUp(ctx context.Context, sb *sandbox, cfg Config, log *slog.Logger) error {
	for {
		err := func() error {
			data, err := os.ReadFile(cfg.SandboxTokenFile)
			if err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return sb.register(rctx, cfg.SandboxRegistry, strings.TrimSpace(string(data)))
		}()
		if err == nil {
			return nil
		}
		log.Info("sandbox connectors not registered yet; retrying", "registry", cfg.SandboxRegistry, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox connectors not registered: %w", err)
		case <-time.After(registerRetry):
		}
	}
}
