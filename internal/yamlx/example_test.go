package yamlx_test

import (
	"fmt"
	"time"

	"github.com/cep-project/cep/internal/yamlx"
)

// A configuration struct decodes strictly: every problem of the file is
// reported with its place and, for unknown keys, the keys allowed.
func ExampleDecoder() {
	type source struct {
		Path string `yaml:"path" yamlx:"required"`
		Type string `yaml:"type" yamlx:"oneof=file|stdin"`
	}
	type config struct {
		Rules   []string      `yaml:"rules"`
		Idle    time.Duration `yaml:"idle_timeout" yamlx:"positive"`
		Sources []source      `yaml:"sources"`
	}
	src := []byte("rules: rules/\nidle_timeout: 2d\nsources:\n  - {type: kafka}\nsinkz: []\n")
	doc, err := yamlx.Parse("cep.yaml", src, "a config file holds one document")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := yamlx.NewDecoder("cep.yaml", src)
	d.Root = "config"
	var c config
	d.Decode(doc, &c)
	fmt.Println(c.Rules, c.Idle)
	for _, err := range d.List {
		fmt.Println(err)
	}
	// Output:
	// [rules/] 48h0m0s
	// cep.yaml:4:12: sources[0].type must be one of file, stdin, got "kafka"
	//  |   - {type: kafka}
	//  |            ^
	// cep.yaml:4:5: missing required key "path"
	//  |   - {type: kafka}
	//  |     ^
	// cep.yaml:5:1: unknown key "sinkz" in config (allowed: rules, idle_timeout, sources)
	//  | sinkz: []
	//  | ^
}
