package sopsio

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	"github.com/getsops/sops/v3/stores/json"
	"github.com/getsops/sops/v3/stores/yaml"
)

// Format is the syntax of a SOPS document.
type Format int

// The supported formats.
const (
	FormatYAML Format = iota
	FormatJSON
	FormatDotenv
)

// FormatForPath returns the format sops would use for path, by its extension:
// ".json" is JSON, ".env" is dotenv, anything else is YAML (sops itself treats
// unknown extensions as binary, which rekey does not use).
func FormatForPath(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON
	case ".env":
		return FormatDotenv
	default:
		return FormatYAML
	}
}

// String returns the sops name of the format.
func (f Format) String() string {
	switch f {
	case FormatYAML:
		return "yaml"
	case FormatJSON:
		return "json"
	case FormatDotenv:
		return "dotenv"
	default:
		return fmt.Sprintf("Format(%d)", int(f))
	}
}

// store returns the sops store for f, configured like the sops CLI without a
// stores section in .sops.yaml.
func (f Format) store() (sops.Store, error) {
	c := config.NewStoresConfig()
	switch f {
	case FormatYAML:
		return yaml.NewStore(&c.YAML), nil
	case FormatJSON:
		return json.NewStore(&c.JSON), nil
	case FormatDotenv:
		return dotenv.NewStore(&c.Dotenv), nil
	default:
		return nil, fmt.Errorf("unsupported format %s", f)
	}
}
