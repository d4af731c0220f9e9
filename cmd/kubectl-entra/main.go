// Command kubectl-entra is the directory-operator's kubectl plugin
// (`kubectl entra plan|rows|export|undo|status`). Install it on the PATH
// with `go install ./cmd/kubectl-entra` or from `make plugin`'s archives.
package main

import (
	"os"

	"github.com/directory-operator/directory-operator/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
