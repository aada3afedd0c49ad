package secret

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
)

// A secret is written in one of three ways:
//
//	token: "${env:HEC_TOKEN}"           # read from the environment at start
//	token_file: /run/secrets/hec-token  # read from a file at start (trailing newline dropped)
//	token: "00000000-…"                 # plaintext in the config: works, and warned about
//
// A config struct declares the secret as a Secret field and its file form
// as a string field whose YAML key is the secret's key plus "_file"; Fields
// finds both by their tags, so that validation, warnings, path resolution
// and resolution need no list of secrets kept by hand.

// envRef is the ${env:NAME} form; NAME follows POSIX.
var envRef = regexp.MustCompile(`^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$`)

// EnvName returns NAME for a secret written as ${env:NAME}.
func (s Secret) EnvName() (string, bool) {
	m := envRef.FindStringSubmatch(string(s))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Field is one secret of a config.
type Field struct {
	// Path is the secret's key path in the config ("splunk_hec.token"),
	// below the prefix Fields was given.
	Path string
	// Value is the secret as written; File the value of its _file key.
	Value Secret
	File  string

	value reflect.Value // the Secret field, settable when v was a pointer
	file  reflect.Value // the _file field, or invalid when there is none
}

// FileKey is the path of the field's file form.
func (f Field) FileKey() string { return f.Path + "_file" }

// Plaintext reports whether the secret is written in the config itself.
func (f Field) Plaintext() bool {
	if f.Value == "" {
		return false
	}
	_, env := f.Value.EnvName()
	return !env
}

// Validate reports a secret written two ways, a malformed ${env:…}, and a
// Secret field without a file form (a mistake in the config struct).
func (f Field) Validate() error {
	if !f.file.IsValid() {
		return fmt.Errorf("%s: secret has no %s form (the config type must declare it)", f.Path, f.FileKey())
	}
	if f.Value != "" && f.File != "" {
		return fmt.Errorf("%s: set either %s or %s, not both", f.Path, lastKey(f.Path), lastKey(f.FileKey()))
	}
	if strings.HasPrefix(string(f.Value), "${") {
		if _, ok := f.Value.EnvName(); !ok {
			return fmt.Errorf("%s: %q is not ${env:NAME}", f.Path, string(f.Value))
		}
	}
	return nil
}

func lastKey(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

// Fields returns every secret of v, a struct or a pointer to one, walking
// nested structs and non-nil pointers to structs, with key paths built from
// the YAML tags under prefix. Fields of a pointer can be set by Resolve.
func Fields(v any, prefix string) []Field {
	var out []Field
	walk(reflect.ValueOf(v), prefix, &out)
	return out
}

var secretType = reflect.TypeFor[Secret]()

func walk(v reflect.Value, prefix string, out *[]Field) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice {
		for i := range v.Len() {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", prefix, i), out)
		}
		return
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	keys := map[string]int{}
	for i := range t.NumField() {
		if k, ok := yamlKey(t.Field(i)); ok {
			keys[k] = i
		}
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key, ok := yamlKey(sf)
		if !ok {
			continue
		}
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		if key == "" { // inline
			path = prefix
		}
		fv := v.Field(i)
		if sf.Type == secretType {
			f := Field{Path: path, Value: Secret(fv.String()), value: fv}
			if j, ok := keys[key+"_file"]; ok && t.Field(j).Type.Kind() == reflect.String {
				f.file = v.Field(j)
				f.File = f.file.String()
			}
			*out = append(*out, f)
			continue
		}
		walk(fv, path, out)
	}
}

// MissingFileForms lists, by Go field path, the Secret fields of v's type
// (walked through structs, pointers and slices, whether set or not) that
// have no string field for their file form beside them: a config type
// whose secrets cannot all be kept out of the config file.
func MissingFileForms(v any) []string {
	var out []string
	var walkType func(t reflect.Type, path string, seen map[reflect.Type]bool)
	walkType = func(t reflect.Type, path string, seen map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		keys := map[string]reflect.Type{}
		for i := range t.NumField() {
			if k, ok := yamlKey(t.Field(i)); ok {
				keys[k] = t.Field(i).Type
			}
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			key, ok := yamlKey(sf)
			if !ok || !sf.IsExported() {
				continue
			}
			if sf.Type == secretType {
				if ft, ok := keys[key+"_file"]; !ok || ft.Kind() != reflect.String {
					out = append(out, path+sf.Name)
				}
				continue
			}
			walkType(sf.Type, path+sf.Name+".", seen)
		}
	}
	walkType(reflect.TypeOf(v), reflect.TypeOf(v).String()+".", map[reflect.Type]bool{})
	return out
}

// yamlKey returns the YAML key of a field ("" for an inline one), or false
// for a field YAML skips.
func yamlKey(sf reflect.StructField) (string, bool) {
	tag := sf.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	switch {
	case name == "-":
		return "", false
	case strings.Contains(opts, "inline"):
		return "", true
	case name == "":
		return strings.ToLower(sf.Name), true
	}
	return name, true
}

// Resolver reads secrets from the environment and from files; tests give
// their own.
type Resolver struct {
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
}

// Default reads the process environment and the file system.
var Default = Resolver{LookupEnv: os.LookupEnv, ReadFile: os.ReadFile}

// Value returns a secret's value: the file's content (without a trailing
// newline) when file is set, the variable's for ${env:NAME}, else s as
// written. A variable that is not set, or set empty, and a file that
// cannot be read or is empty are errors: a sink must not start with a
// secret it does not have.
func (r Resolver) Value(s Secret, file string) (string, error) {
	if file != "" {
		b, err := r.ReadFile(file)
		if err != nil {
			return "", err
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return v, nil
	}
	if name, ok := s.EnvName(); ok {
		v, set := r.LookupEnv(name)
		if !set || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	}
	return string(s), nil
}

// Resolve replaces, in v (a pointer to a struct), every secret by its value
// and clears its file form, so that the code that uses v reads secrets with
// Reveal only. It reports every secret it could not read, with its path.
// v must be a copy the caller owns: nested pointers are copied before they
// are written through (see Copy).
func (r Resolver) Resolve(v any, prefix string) error {
	var errs []error
	for _, f := range Fields(v, prefix) {
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if f.Value == "" && f.File == "" {
			continue
		}
		val, err := r.Value(f.Value, f.File)
		if err != nil {
			key := f.Path
			if f.File != "" {
				key = f.FileKey()
			}
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		if !f.value.CanSet() {
			errs = append(errs, fmt.Errorf("%s: cannot be resolved in a value passed by copy", f.Path))
			continue
		}
		f.value.SetString(val)
		f.file.SetString("")
	}
	return errors.Join(errs...)
}

// ResolveFiles rewrites the file form of every secret of v (a pointer to a
// struct) with resolve, which a program uses to make it relative to its
// config file.
func ResolveFiles(v any, resolve func(string) string) {
	for _, f := range Fields(v, "") {
		if f.file.IsValid() && f.file.CanSet() && f.File != "" {
			f.file.SetString(resolve(f.File))
		}
	}
}

// Copy returns a copy of *p for a pointer to a struct in which every
// struct that holds a secret, reached through pointers and slices, is new,
// so that Resolve on the copy never writes into the original. Everything
// else is shared, as a plain assignment shares it.
func Copy[T any](p *T) *T {
	if p == nil {
		return nil
	}
	out := reflect.New(reflect.TypeFor[T]())
	out.Elem().Set(deepCopy(reflect.ValueOf(p).Elem()))
	return out.Interface().(*T)
}

// CopyAny is Copy for a pointer held in an interface; other values are
// returned as they are.
func CopyAny(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return v
	}
	out := reflect.New(rv.Elem().Type())
	out.Elem().Set(deepCopy(rv.Elem()))
	return out.Interface()
}

func deepCopy(v reflect.Value) reflect.Value {
	if !holdsSecret(v.Type(), map[reflect.Type]bool{}) {
		return v
	}
	switch v.Kind() {
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	case reflect.Pointer:
		if v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return v
		}
		out := reflect.New(v.Elem().Type())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	}
	return v
}

// holdsSecret tells whether a value of type t can hold a Secret that
// Fields would find.
func holdsSecret(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t == secretType {
		return true
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return false
	}
	seen[t] = true
	for i := range t.NumField() {
		sf := t.Field(i)
		if _, ok := yamlKey(sf); ok && sf.IsExported() && holdsSecret(sf.Type, seen) {
			return true
		}
	}
	return false
}
