package api_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/ton-custody/processor/api"
)

// TestOpenAPIDocumentIsValid loads the served document with a real OpenAPI
// validator: a YAML slip (an unquoted comma in a flow map makes a bogus
// key) parses fine as YAML but is not OpenAPI.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml does not load: %v", err)
	}
	ctx := openapi3.WithValidationOptions(context.Background(),
		openapi3.EnableMultiError(), openapi3.EnableExamplesValidation(), openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation(), openapi3.EnableSchemaFormatValidation())
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI document:\n%v", err)
	}
}

// TestOpenAPIHasNoNullValues catches the same slip inside schemas, where
// OpenAPI 3.1 allows unknown keywords and the validator cannot: in a flow
// map, `{description: a, b}` makes a key "b" with a null value. The
// document has no legitimate nulls.
func TestOpenAPIHasNoNullValues(t *testing.T) {
	t.Parallel()
	var root yaml.Node
	if err := yaml.Unmarshal(api.OpenAPI, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					t.Errorf("line %d: %s/%s is null: an unquoted comma or colon in a flow map? Quote the text", k.Line, path, k.Value)
				}
				walk(v, path+"/"+k.Value)
			}
			return
		}
		for _, c := range n.Content {
			walk(c, path)
		}
	}
	walk(&root, "")
}
