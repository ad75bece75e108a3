// Command pulumi-resource-random is a stand-in for the pulumi-random provider plugin in e2e.
//
// pulumi-random's provider module (github.com/pulumi/pulumi-random/provider/v4) is not served by
// the Go module proxy this project builds from, so the real plugin cannot be built here, and the
// stack cannot deploy without RandomPassword and RandomString (every password and salt). This
// stand-in serves those two types with the real provider's contract, read from
// terraform-provider-random (internal/provider/resource_password.go, resource_string.go,
// internal/random/string.go) and pulumi-random's Python SDK:
//   - inputs length, keepers, lower/upper/numeric/number/special, min_*, overrideSpecial; booleans
//     default to true, minimums to 0 (the provider's plan defaults, returned as outputs);
//   - any change of any input replaces the resource (every attribute is RequiresReplace);
//   - result is crypto-random over the enabled sets, each minimum met; RandomPassword also returns
//     bcryptHash and has the id "none", RandomString's id is its result;
//   - the SDK marks result and bcryptHash secret (additionalSecretOutputs); so does this provider.
//
// Every other random type is refused with an error naming this file.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/blang/semver"
	"math/big"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
)

const (
	passwordType = "random:index/randomPassword:RandomPassword"
	stringType   = "random:index/randomString:RandomString"
)

type random struct {
	plugin.UnimplementedProvider
}

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(&random{}), nil
	})
	if err != nil {
		fmt.Println(err)
	}
}

func (p *random) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	// Not a release of the real provider: a pre-release version of its own says so in the logs.
	version := semver.MustParse("0.0.0-mailstack.e2e.standin")
	return plugin.PluginInfo{Version: &version}, nil
}

func (p *random) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	return plugin.GetSchemaResponse{Schema: []byte(`{"name":"random"}`)}, nil
}

func (p *random) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *random) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *random) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

func (p *random) SignalCancellation(context.Context) error { return nil }

func supported(t string) error {
	if t == passwordType || t == stringType {
		return nil
	}
	return fmt.Errorf("%s: the e2e stand-in for pulumi-random serves only RandomPassword and RandomString "+
		"(e2e/tools/pulumi/cmd/pulumi-resource-random)", t)
}

var booleans = []resource.PropertyKey{"lower", "upper", "numeric", "number", "special"}
var minimums = []resource.PropertyKey{"minLower", "minUpper", "minNumeric", "minSpecial"}

func (p *random) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	if err := supported(string(req.Type)); err != nil {
		return plugin.CheckResponse{}, err
	}
	length, ok := req.News["length"]
	if !ok {
		return plugin.CheckResponse{Failures: []plugin.CheckFailure{{Property: "length", Reason: "length is required"}}}, nil
	}
	if length.IsNumber() && length.NumberValue() < 1 {
		return plugin.CheckResponse{Failures: []plugin.CheckFailure{{Property: "length", Reason: "length must be at least 1"}}}, nil
	}
	return plugin.CheckResponse{Properties: req.News}, nil
}

// Diff replaces on any change of any input, as every attribute of both TF resources requires
// replacement.
func (p *random) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	diff := req.OldInputs.Diff(req.NewInputs)
	if diff == nil || !diff.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffNone}, nil
	}
	keys := diff.ChangedKeys()
	return plugin.DiffResult{Changes: plugin.DiffSome, ReplaceKeys: keys, ChangedKeys: keys}, nil
}

func flag(inputs resource.PropertyMap, key resource.PropertyKey) bool {
	if v, ok := inputs[key]; ok && v.IsBool() {
		return v.BoolValue()
	}
	return true
}

func count(inputs resource.PropertyMap, key resource.PropertyKey) int64 {
	if v, ok := inputs[key]; ok && v.IsNumber() {
		return int64(v.NumberValue())
	}
	return 0
}

func (p *random) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if err := supported(string(req.Type)); err != nil {
		return plugin.CreateResponse{}, err
	}
	inputs := req.Properties
	outputs := inputs.Copy()
	for _, key := range booleans {
		outputs[key] = resource.NewProperty(flag(inputs, key))
	}
	for _, key := range minimums {
		outputs[key] = resource.NewProperty(float64(count(inputs, key)))
	}
	if req.Preview {
		outputs["result"] = resource.MakeSecret(resource.MakeComputed(resource.NewProperty("")))
		if string(req.Type) == passwordType {
			outputs["bcryptHash"] = resource.MakeSecret(resource.MakeComputed(resource.NewProperty("")))
		}
		return plugin.CreateResponse{Properties: outputs, Status: resource.StatusOK}, nil
	}
	special := "!@#$%&*()-_=+[]{}<>:?"
	if v, ok := inputs["overrideSpecial"]; ok && v.IsString() && v.StringValue() != "" {
		special = v.StringValue()
	}
	result, err := generate(count(inputs, "length"), []charset{
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", flag(inputs, "upper"), count(inputs, "minUpper")},
		{"abcdefghijklmnopqrstuvwxyz", flag(inputs, "lower"), count(inputs, "minLower")},
		{"0123456789", flag(inputs, "numeric") && flag(inputs, "number"), count(inputs, "minNumeric")},
		{special, flag(inputs, "special"), count(inputs, "minSpecial")},
	})
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	outputs["result"] = resource.MakeSecret(resource.NewProperty(result))
	id := resource.ID(result)
	if string(req.Type) == passwordType {
		hash, err := bcrypt.GenerateFromPassword([]byte(result), bcrypt.DefaultCost)
		if err != nil {
			return plugin.CreateResponse{}, err
		}
		outputs["bcryptHash"] = resource.MakeSecret(resource.NewProperty(string(hash)))
		id = "none"
	}
	return plugin.CreateResponse{ID: id, Properties: outputs, Status: resource.StatusOK}, nil
}

// Read returns the state as recorded: the values exist nowhere else.
func (p *random) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	if err := supported(string(req.Type)); err != nil {
		return plugin.ReadResponse{}, err
	}
	if req.State == nil {
		return plugin.ReadResponse{}, errors.New("the random stand-in cannot import: a random value exists only in state")
	}
	return plugin.ReadResponse{
		ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: req.State},
		Status:     resource.StatusOK,
	}, nil
}

func (p *random) Delete(context.Context, plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}

type charset struct {
	chars   string
	enabled bool
	minimum int64
}

// generate draws each set's minimum from that set, the rest from the union of the enabled sets,
// and shuffles (Fisher-Yates), as internal/random/string.go does.
func generate(length int64, sets []charset) (string, error) {
	var union []rune
	var out []rune
	for _, set := range sets {
		if set.enabled {
			union = append(union, []rune(set.chars)...)
		}
		picked, err := draw([]rune(set.chars), set.minimum)
		if err != nil {
			return "", err
		}
		out = append(out, picked...)
	}
	if len(union) == 0 {
		return "", errors.New("the character set specified is empty")
	}
	rest, err := draw(union, length-int64(len(out)))
	if err != nil {
		return "", err
	}
	out = append(out, rest...)
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func draw(from []rune, n int64) ([]rune, error) {
	if n <= 0 {
		return nil, nil
	}
	picked := make([]rune, n)
	size := big.NewInt(int64(len(from)))
	for i := range picked {
		index, err := rand.Int(rand.Reader, size)
		if err != nil {
			return nil, err
		}
		picked[i] = from[index.Int64()]
	}
	return picked, nil
}
