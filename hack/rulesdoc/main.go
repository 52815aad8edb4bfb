// Command rulesdoc writes the rule reference, docs/rules.md, from the rule catalogue.
package main

import (
	"fmt"
	"os"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

func main() {
	path := "docs/rules.md"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := os.WriteFile(path, rules.Reference(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
