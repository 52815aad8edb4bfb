// Command podpolicy writes the CEL of the chart's pod engine "policy" (patches.PodPolicyPath) from
// patches.GeneratePodPolicy: `make podpolicy` runs it, and a test fails when the committed file
// differs. It is not part of the release binary.
package main

import (
	"fmt"
	"os"

	"github.com/aigw-mtls/aigw-mtls-webhook/patches"
)

func main() {
	out := patches.PodPolicyPath
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	b, err := patches.RenderPodPolicy()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
