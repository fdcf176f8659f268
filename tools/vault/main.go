// Command vault is HashiCorp Vault built from its Go module, used only by the
// project's tests as a real `vault server -dev`. It lives outside go.work so
// Vault's dependency graph never reaches the services.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() { os.Exit(command.Run(os.Args[1:])) }
