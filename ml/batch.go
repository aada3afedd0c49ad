package ml

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// ScoreRows scores every row of in and writes one JSON object per row, in
// input order, to out: every OutputField by name, or the predicted target
// under the target's name when the model has no Output. format is "csv"
// (a header row of field names; an empty cell or NA is missing) or "jsonl"
// (one JSON object per line; null is missing). A row that cannot be scored
// stops the run with an error naming the row; rows before it are written.
func ScoreRows(m *Model, in io.Reader, format string, out io.Writer) error {
	w := bufio.NewWriter(out)
	s := m.NewScorer()
	var err error
	switch format {
	case "csv":
		err = scoreCSV(m, s, in, w)
	case "jsonl", "json":
		err = scoreJSONL(m, s, in, w)
	default:
		err = fmt.Errorf("unknown input format %q (want csv or jsonl)", format)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// FormatOf names the ScoreRows format for an input file by its extension:
// "csv" for .csv, "jsonl" for .jsonl, .ndjson and .json, "" otherwise.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv"
	case ".jsonl", ".ndjson", ".json":
		return "jsonl"
	}
	return ""
}

func scoreCSV(m *Model, s *Scorer, in io.Reader, w *bufio.Writer) error {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("csv header: %w", err)
	}
	cols := make([]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		idx, ok := m.InputIndex(h)
		if !ok {
			idx = -1
		}
		cols[i] = idx
	}
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("csv row %d: %w", row, err)
		}
		s.Reset()
		for i, cell := range rec {
			if i >= len(cols) || cols[i] < 0 {
				continue
			}
			if cell == "" || cell == "NA" {
				continue
			}
			s.Set(cols[i], Str(cell))
		}
		if err := writeResult(s, w); err != nil {
			return fmt.Errorf("row %d: %w", row, err)
		}
	}
}

func scoreJSONL(m *Model, s *Scorer, in io.Reader, w *bufio.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		s.Reset()
		for k, v := range obj {
			s.SetByName(k, ValueOf(v))
		}
		if err := writeResult(s, w); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	return sc.Err()
}

func writeResult(s *Scorer, w *bufio.Writer) error {
	r, err := s.Score()
	if err != nil {
		return err
	}
	b, err := marshalResult(r)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

// marshalResult keeps the OutputField order of the document, which a map
// would lose.
func marshalResult(r *Result) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	put := func(i int, name string, v Value) error {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		buf.Write(k)
		buf.WriteByte(':')
		b, err := json.Marshal(v.Any())
		if err != nil {
			return errors.Join(fmt.Errorf("field %q", name), err)
		}
		buf.Write(b)
		return nil
	}
	if len(r.m.outputs) == 0 {
		name := r.m.root.targetName
		if name == "" {
			name = "predicted"
		}
		if err := put(0, name, r.Predicted()); err != nil {
			return nil, err
		}
	}
	for i, o := range r.m.outputs {
		if err := put(i, o.Name, r.outs[i]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
