// Package all registers every sink transport that ships with cep. A
// program imports it for its side effect, as Benthos programs import
// their components:
//
//	import _ "github.com/cep-project/cep/sinks/siem/transport/all"
package all

import (
	_ "github.com/cep-project/cep/sinks/siem/transport/elastic"
	_ "github.com/cep-project/cep/sinks/siem/transport/file"
	_ "github.com/cep-project/cep/sinks/siem/transport/hec"
	_ "github.com/cep-project/cep/sinks/siem/transport/kafka"
	_ "github.com/cep-project/cep/sinks/siem/transport/syslog"
	_ "github.com/cep-project/cep/sinks/siem/transport/webhook"
)
