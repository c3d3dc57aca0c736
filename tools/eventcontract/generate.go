package eventcontract

import (
	"github.com/orderflow/orderflow/pkg/event"
)

// Paths of the generated files, relative to the repository root.
const (
	RegistryTemplatePath = "infra/event-schemas.yaml"
)

// File is a generated file: its path relative to the repository root and its contents.
type File struct {
	Path string
	Data []byte
}

// Generate returns every file derived from the schemas, as cmd/eventcontract writes them.
func Generate() ([]File, error) {
	reg, err := RegistryTemplate(event.DetailTypes)
	if err != nil {
		return nil, err
	}
	doc, err := AsyncAPI(event.DetailTypes)
	if err != nil {
		return nil, err
	}
	return []File{{AsyncAPIPath, doc}, {RegistryTemplatePath, reg}}, nil
}
