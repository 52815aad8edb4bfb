// Command aigw-mtls-webhook wires mutual TLS between NGINX Ingress Controller and the AI gateway:
// as an admission webhook (serve) and offline over manifest files (inject, validate).
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: aigw-mtls-webhook <command> [flags]

commands:
  serve    run the admission webhook
  inject   mutate manifest files as the webhook would (-f FILE|DIR|-)
  validate report what the webhook would refuse in manifest files (-f FILE|DIR|-)
  check    report whether the mTLS wiring of a live cluster is complete, object by object

Run 'aigw-mtls-webhook <command> -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "inject":
		return inject(args[1:], stdin, stdout, stderr)
	case "validate":
		return validate(args[1:], stdin, stdout, stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return 2
}
