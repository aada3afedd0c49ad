// Package yamlx is cep's strict-YAML toolkit: positions and errors with a
// caret under the offending character, so that every YAML file cep reads
// (rules, rule tests, online models, configuration) reports its problems
// as file:line:col.
package yamlx
