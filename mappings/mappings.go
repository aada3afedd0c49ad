// Package mappings ships cep's field mapping files (NAME.yaml), embedded
// in the binary so that `cep import sigma --mapping NAME` works anywhere.
// rules/mapping reads them; the files document their own format.
package mappings

import "embed"

// FS holds the shipped mapping files.
//
//go:embed *.yaml
var FS embed.FS
