// Command pulumi-resource-cloudflare holds the place of the pulumi-cloudflare plugin in e2e, which
// cannot be built here: its provider module (github.com/pulumi/pulumi-cloudflare/provider/v6) is
// not served by the Go module proxy this project builds from.
//
// The program still registers its Cloudflare resources, and the engine loads a package's provider
// before it decides whether a resource is excluded, so something must answer for "cloudflare".
// This placeholder accepts the configuration and checks nothing; e2e excludes every Cloudflare
// resource from each `pulumi up` (`--exclude`), and any attempt to create, read, update or delete
// one fails here, so a run that reached Cloudflare could not pass by accident.
package main

import (
	"context"
	"fmt"
	"github.com/blang/semver"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

type placeholder struct {
	plugin.UnimplementedProvider
}

func main() {
	err := provider.Main("cloudflare", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(&placeholder{}), nil
	})
	if err != nil {
		fmt.Println(err)
	}
}

func refused(operation, what string) error {
	return fmt.Errorf("%s %s: pulumi-cloudflare cannot be built here, so e2e must exclude Cloudflare "+
		"resources (e2e/tools/pulumi/cmd/pulumi-resource-cloudflare)", operation, what)
}

func (p *placeholder) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	// Not a release of the real provider: a pre-release version of its own says so in the logs.
	version := semver.MustParse("0.0.0-mailstack.e2e.standin")
	return plugin.PluginInfo{Version: &version}, nil
}

func (p *placeholder) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	return plugin.GetSchemaResponse{Schema: []byte(`{"name":"cloudflare"}`)}, nil
}

func (p *placeholder) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *placeholder) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *placeholder) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

func (p *placeholder) SignalCancellation(context.Context) error { return nil }

func (p *placeholder) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	return plugin.CheckResponse{Properties: req.News}, nil
}

func (p *placeholder) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	return plugin.DiffResult{}, refused("diff", string(req.URN))
}

func (p *placeholder) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	return plugin.CreateResponse{}, refused("create", string(req.URN))
}

func (p *placeholder) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	return plugin.ReadResponse{}, refused("read", string(req.URN))
}

func (p *placeholder) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	return plugin.UpdateResponse{}, refused("update", string(req.URN))
}

func (p *placeholder) Delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	return plugin.DeleteResponse{}, refused("delete", string(req.URN))
}

func (p *placeholder) Invoke(_ context.Context, req plugin.InvokeRequest) (plugin.InvokeResponse, error) {
	return plugin.InvokeResponse{}, refused("invoke", string(req.Tok))
}
