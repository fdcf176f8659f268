package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/joho/godotenv"
	"github.com/spf13/pflag"

	pb "github.com/connectorhub/connectorhub/proto/gen/connectorhub/v1"
)

// DefaultEnvFile is read for a tracker token when --env-file is not given.
const DefaultEnvFile = ".hub.env"

// tokenEnvVars are the variables that may hold a system's tracker token, in
// the order they are tried; the same keys are looked up in the env file.
var tokenEnvVars = map[pb.System][]string{
	pb.System_SYSTEM_JIRA:       {"JIRA_API_TOKEN"},
	pb.System_SYSTEM_GITHUB:     {"GITHUB_TOKEN", "GH_TOKEN"},
	pb.System_SYSTEM_GITLAB:     {"GITLAB_TOKEN"},
	pb.System_SYSTEM_CONFLUENCE: {"CONFLUENCE_API_TOKEN"},
	// DevLake's order for azuredevops_go: AZURE_DEVOPS_PAT, then AZDO_PAT.
	pb.System_SYSTEM_AZURE_DEVOPS: {"AZURE_DEVOPS_PAT", "AZDO_PAT"},
	pb.System_SYSTEM_PAGERDUTY:    {"PAGERDUTY_TOKEN", "PAGERDUTY_API_KEY"},
	pb.System_SYSTEM_BITBUCKET:    {"BITBUCKET_TOKEN", "BITBUCKET_API_TOKEN"},
	pb.System_SYSTEM_JENKINS:      {"JENKINS_TOKEN", "JENKINS_API_TOKEN"},
	pb.System_SYSTEM_CIRCLECI:     {"CIRCLECI_TOKEN", "CIRCLE_TOKEN"},
	pb.System_SYSTEM_SONARQUBE:    {"SONARQUBE_TOKEN", "SONAR_TOKEN"},
	pb.System_SYSTEM_ARGOCD:       {"ARGOCD_TOKEN", "ARGOCD_AUTH_TOKEN"},
}

// usernameEnvVars are the variables that may hold a system's basic-auth
// username, in the order they are tried, in the env file and then the
// environment: DevLake's BasicAuth resolution order (--username flag → env
// file → environment → prompt), for the systems whose username is an
// account email beside an API token.
var usernameEnvVars = map[pb.System][]string{
	pb.System_SYSTEM_BITBUCKET: {"BITBUCKET_USERNAME", "BITBUCKET_EMAIL", "BITBUCKET_USER"},
	pb.System_SYSTEM_JENKINS:   {"JENKINS_USERNAME", "JENKINS_USER"},
}

// usernameFromEnv fills a basic-auth username that --username did not give
// from the env file (--env-file), then the environment; what is still
// missing is prompted for (missingFields). It returns where it came from,
// "" when nowhere.
func usernameFromEnv(env Env, flags *pflag.FlagSet, c *pb.Connector) (string, error) {
	vars := usernameEnvVars[c.GetSystem()]
	if c.GetUsername() != "" || len(vars) == 0 || c.GetAuthMode() != pb.AuthMode_AUTH_MODE_BASIC {
		return "", nil
	}
	path := DefaultEnvFile
	if f := flags.Lookup("env-file"); f != nil {
		path = f.Value.String()
	}
	if path != "" {
		values, err := readEnvFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && (flags.Lookup("env-file") == nil || !flags.Changed("env-file")):
		case err != nil:
			return "", err
		default:
			for _, k := range vars {
				if v := strings.TrimSpace(values[k]); v != "" {
					c.Username = v
					return fmt.Sprintf("env file %s (%s)", path, k), nil
				}
			}
		}
	}
	for _, k := range vars {
		if v := strings.TrimSpace(env.Getenv(k)); v != "" {
			c.Username = v
			return "environment variable " + k, nil
		}
	}
	return "", nil
}

// tokenFlags are the flags that choose where a tracker token comes from.
type tokenFlags struct {
	token          string
	envFile        string
	keepEnvFile    bool
	tokenFile      string
	privateKeyFile string
}

func (f *tokenFlags) register(fs *pflag.FlagSet, withKeep bool) {
	fs.StringVar(&f.token, "token", "", "tracker token (prefer the env file, an environment variable or the prompt: flags end up in shell history)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file of tracker tokens, one per line: a token pool (GitHub, GitLab; discovery spreads over them, writes use the first)")
	fs.StringVar(&f.privateKeyFile, "private-key-file", "", "github: the GitHub App's private key (PEM) for --app-id; read from the file, never echoed")
	fs.StringVar(&f.envFile, "env-file", DefaultEnvFile, "dotenv file holding the tracker token under the system's variable name")
	if withKeep {
		fs.BoolVar(&f.keepEnvFile, "keep-env-file", false, "keep the env file the token was read from (by default it is deleted after success)")
	}
}

// tokenSource says where a tracker token came from; it never holds the token.
type tokenSource struct {
	// EnvFile is the file the token was read from, when it came from one.
	EnvFile string
	desc    string
}

func (s tokenSource) String() string { return s.desc }

// tokenResolver finds a tracker token: --token → env file → environment
// variables of the system → a masked prompt when stdin is a terminal.
type tokenResolver struct {
	env   Env
	flags *tokenFlags
	fs    *pflag.FlagSet
	// beforePrompt runs right before the masked prompt (to show the scopes the
	// token needs); it may be nil.
	beforePrompt func(ctx context.Context)
}

func (r *tokenResolver) resolve(ctx context.Context, system pb.System) (string, tokenSource, error) {
	vars := tokenEnvVars[system]
	name := systemName(system)

	if r.fs.Changed("private-key-file") {
		pem, err := os.ReadFile(r.flags.privateKeyFile)
		if err != nil {
			return "", tokenSource{}, fmt.Errorf("private key: %w", err)
		}
		return strings.TrimSpace(string(pem)) + "\n", tokenSource{desc: "private key file " + r.flags.privateKeyFile}, nil
	}
	if r.fs.Changed("token-file") {
		data, err := os.ReadFile(r.flags.tokenFile)
		if err != nil {
			return "", tokenSource{}, fmt.Errorf("token file: %w", err)
		}
		var toks []string
		for line := range strings.SplitSeq(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				toks = append(toks, line)
			}
		}
		if len(toks) == 0 {
			return "", tokenSource{}, fmt.Errorf("token file %s holds no token", r.flags.tokenFile)
		}
		return strings.Join(toks, ","), tokenSource{desc: fmt.Sprintf("token file %s (%d tokens)", r.flags.tokenFile, len(toks))}, nil
	}
	if r.fs.Changed("token") {
		if t := strings.TrimSpace(r.flags.token); t != "" {
			fmt.Fprintf(r.env.Stderr, "warning: a --token value is visible to other users of this machine (process list) and stays in shell history; "+
				"prefer %s in the environment, the env file (%s) or the prompt\n", strings.Join(vars, " or "), DefaultEnvFile)
			return t, tokenSource{desc: "the --token flag"}, nil
		}
		return "", tokenSource{}, errors.New("--token is empty")
	}

	path := r.flags.envFile
	if path != "" {
		values, err := readEnvFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !r.fs.Changed("env-file"):
			// The default file is optional.
		case err != nil:
			return "", tokenSource{}, err
		default:
			for _, k := range vars {
				if t := strings.TrimSpace(values[k]); t != "" {
					return t, tokenSource{EnvFile: path, desc: fmt.Sprintf("env file %s (%s)", path, k)}, nil
				}
			}
		}
	}

	for _, k := range vars {
		if t := strings.TrimSpace(r.env.Getenv(k)); t != "" {
			return t, tokenSource{desc: "environment variable " + k}, nil
		}
	}

	if !r.env.Terminal.IsTerminal() {
		return "", tokenSource{}, fmt.Errorf("no %s token: pass --token, put %s in %s, or set %s (stdin is not a terminal, so hubctl does not prompt)",
			name, vars[0], orDefault(path, DefaultEnvFile), strings.Join(vars, " or "))
	}
	if r.beforePrompt != nil {
		r.beforePrompt(ctx)
	}
	fmt.Fprintf(r.env.Stderr, "%s token (input hidden): ", name)
	t, err := r.env.Terminal.ReadPassword()
	fmt.Fprintln(r.env.Stderr)
	if err != nil {
		return "", tokenSource{}, fmt.Errorf("reading the %s token: %w", name, err)
	}
	if t = strings.TrimSpace(t); t == "" {
		return "", tokenSource{}, fmt.Errorf("no %s token entered", name)
	}
	return t, tokenSource{desc: "the terminal prompt"}, nil
}

// readEnvFile parses a dotenv file. Parse errors are reported without the
// parser's message, which quotes the file's text and so may quote a token.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	values, err := godotenv.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("env file %s is not valid dotenv syntax (KEY=value per line)", path)
	}
	return values, nil
}

// removeEnvFile deletes the env file a token was read from, after it has been
// stored encrypted, unless asked to keep it. It never touches any other file.
func removeEnvFile(env Env, src tokenSource, keep bool) {
	if src.EnvFile == "" {
		return
	}
	if keep {
		fmt.Fprintf(env.Stderr, "kept %s (--keep-env-file)\n", src.EnvFile)
		return
	}
	if err := os.Remove(src.EnvFile); err != nil {
		fmt.Fprintf(env.Stderr, "warning: could not delete %s: %v; delete it yourself, it holds a token\n", src.EnvFile, err)
		return
	}
	fmt.Fprintf(env.Stderr, "deleted %s: the token is now stored encrypted in the registry (use --keep-env-file to keep it)\n", src.EnvFile)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
