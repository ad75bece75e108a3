// Command pulumi-resource-kubernetes is pulumi-kubernetes' provider, served as upstream's own
// cmd/pulumi-resource-kubernetes serves it. Upstream generates the two embedded files with `go
// generate` before building; the module zip does not carry them, so e2e's build writes them here
// from the module's schema.json and terraform-mapping.json (they are not committed).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
