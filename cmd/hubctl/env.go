package main

import (
	"bufio"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Terminal is the interactive side of stdin. Prompts are written to Stderr by
// the caller; a Terminal only reads.
type Terminal interface {
	// IsTerminal reports whether stdin is an interactive terminal (never in CI).
	IsTerminal() bool
	// ReadLine reads one line, without its line ending.
	ReadLine() (string, error)
	// ReadPassword reads one line without echoing it.
	ReadPassword() (string, error)
}

// Env is everything hubctl takes from its process, so tests can run the whole
// command tree in-process with a simulated terminal and environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Terminal defaults to one over Stdin when Stdin is an *os.File.
	Terminal Terminal
	Now      func() time.Time
	// OpenURL, when set, is given the OAuth consent URL of `connectors
	// authorize` (tests follow it against the fake; a person opens the
	// printed URL in a browser).
	OpenURL func(url string)
}

// OSEnv is the Env of the running process.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now}
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Terminal == nil {
		if f, ok := e.Stdin.(*os.File); ok {
			e.Terminal = &fileTerminal{f: f}
		} else {
			e.Terminal = noTerminal{}
		}
	}
	return e
}

// fileTerminal is a Terminal over the process's stdin.
type fileTerminal struct {
	f *os.File
	r *bufio.Reader
}

var _ Terminal = (*fileTerminal)(nil)

func (t *fileTerminal) IsTerminal() bool { return term.IsTerminal(int(t.f.Fd())) }

func (t *fileTerminal) ReadLine() (string, error) {
	if t.r == nil {
		t.r = bufio.NewReader(t.f)
	}
	line, err := t.r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (t *fileTerminal) ReadPassword() (string, error) {
	b, err := term.ReadPassword(int(t.f.Fd()))
	return string(b), err
}

// noTerminal is stdin that is not interactive: every read fails.
type noTerminal struct{}

var _ Terminal = noTerminal{}

func (noTerminal) IsTerminal() bool              { return false }
func (noTerminal) ReadLine() (string, error)     { return "", io.EOF }
func (noTerminal) ReadPassword() (string, error) { return "", io.EOF }
