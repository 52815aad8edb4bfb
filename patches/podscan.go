package patches

import (
	"encoding/json"
	"errors"
	"fmt"
)

// PatchPod spends most of its time decoding: encoding/json validates the whole pod in one pass,
// then decodes it in a second that walks every field podView does not declare (env, probes,
// resources, ...). scanPodView reads the same podView in one pass, skipping what it does not need.
// TestScanPodViewMatchesUnmarshal and FuzzScanPodView hold it to json.Unmarshal's answers.

// scanPodView reads the podView of raw in one pass: a cursor walks the object, descends into
// metadata, spec.volumes and spec.containers[*].{name,volumeMounts}, and skips every other value
// by matching brackets and strings. Keys match exactly; a repeated key counts once, the last one.
// Strings are taken as they are when they hold no escape, control byte or invalid UTF-8, and go
// through encoding/json otherwise. Values that are skipped are not validated beyond their
// brackets and strings: the API server only ever sends its own encoding of a valid object.
func scanPodView(raw []byte) (podView, error) {
	var p podView
	sc := &scanner{b: raw}
	sc.space()
	if sc.null() {
		return p, sc.end()
	}
	err := sc.object(func(key []byte) error {
		switch string(key) {
		case "metadata":
			p.Metadata = objectMeta{}
			return sc.meta(&p.Metadata)
		case "spec":
			p.Spec.Volumes, p.Spec.Containers = nil, nil
			if sc.null() {
				return nil
			}
			return sc.object(func(key []byte) error {
				switch string(key) {
				case "volumes":
					return sc.volumes(&p.Spec.Volumes)
				case "containers":
					return sc.containers(&p.Spec.Containers)
				}
				return sc.skip()
			})
		}
		return sc.skip()
	})
	if err != nil {
		return podView{}, err
	}
	return p, sc.end()
}

type scanner struct {
	b []byte
	i int
}

var errScan = errors.New("invalid JSON")

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return errScan
	}
	return nil
}

// null consumes a null literal.
func (s *scanner) null() bool {
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// object reads an object; fn is called with each key and must consume its value.
func (s *scanner) object(fn func(key []byte) error) error {
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return fmt.Errorf("%w: expected an object at offset %d", errScan, s.i)
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errScan
		}
		s.i++
		s.space()
		if err := fn(key); err != nil {
			return err
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		return errScan
	}
}

// array reads an array (null reads as none); fn must consume each element.
func (s *scanner) array(fn func(i int) error) error {
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return fmt.Errorf("%w: expected a list at offset %d", errScan, s.i)
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := fn(n); err != nil {
			return err
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		return errScan
	}
}

// str reads a string's contents, unescaped.
func (s *scanner) str() ([]byte, error) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, fmt.Errorf("%w: expected a string at offset %d", errScan, s.i)
	}
	start := s.i
	plain := true
	i := s.i + 1
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			i++
		} else if c < 0x20 || c >= 0x80 {
			plain = false
		}
	}
	if i >= len(b) {
		return nil, errScan
	}
	s.i = i + 1
	if plain {
		return b[start+1 : i], nil
	}
	var out string
	if err := json.Unmarshal(b[start:s.i], &out); err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// stringInto reads a string (null leaves dst as it is, like encoding/json).
func (s *scanner) stringInto(dst *string) error {
	if s.null() {
		return nil
	}
	v, err := s.str()
	*dst = string(v)
	return err
}

// take skips a value and returns its bytes.
func (s *scanner) take() ([]byte, error) {
	start := s.i
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// skip passes over one value: strings and brackets are matched, scalars run to the next
// delimiter and are checked by encoding/json only at the top of the skipped value.
func (s *scanner) skip() error {
	b := s.b
	i := s.i
	if i >= len(b) {
		return errScan
	}
	switch b[i] {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i || !validScalar(b[i:j]) {
			return errScan
		}
		s.i = j
		return nil
	}
	var stack [64]byte
	open := stack[:0]
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return errScan
			}
		case '{', '[':
			open = append(open, c)
		case '}', ']':
			if len(open) == 0 || (c == '}') != (open[len(open)-1] == '{') {
				return errScan
			}
			open = open[:len(open)-1]
			if len(open) == 0 {
				s.i = i + 1
				return nil
			}
		}
		i++
	}
	return errScan
}

func validScalar(v []byte) bool {
	switch string(v) {
	case "true", "false", "null":
		return true
	}
	return json.Valid(v)
}

func (s *scanner) meta(m *objectMeta) error {
	if s.null() {
		return nil
	}
	return s.object(func(key []byte) error {
		switch string(key) {
		case "name":
			m.Name = ""
			return s.stringInto(&m.Name)
		case "generateName":
			m.GenerateName = ""
			return s.stringInto(&m.GenerateName)
		case "namespace":
			m.Namespace = ""
			return s.stringInto(&m.Namespace)
		case "labels":
			m.Labels = nil
			return s.stringMap(&m.Labels)
		case "annotations":
			m.Annotations = nil
			return s.stringMap(&m.Annotations)
		}
		return s.skip()
	})
}

// stringMap reads an object of strings (a null value reads as "", like encoding/json).
func (s *scanner) stringMap(dst *map[string]string) error {
	if s.null() {
		return nil
	}
	m := map[string]string{}
	err := s.object(func(key []byte) error {
		var v string
		err := s.stringInto(&v)
		m[string(key)] = v
		return err
	})
	*dst = m
	return err
}

func (s *scanner) volumes(dst *[]map[string]json.RawMessage) error {
	if s.null() {
		return nil
	}
	out := []map[string]json.RawMessage{}
	err := s.array(func(int) error {
		if s.null() {
			out = append(out, nil)
			return nil
		}
		v := map[string]json.RawMessage{}
		err := s.object(func(key []byte) error {
			raw, err := s.take()
			v[string(key)] = raw
			return err
		})
		out = append(out, v)
		return err
	})
	*dst = out
	return err
}

func (s *scanner) containers(dst *[]containerView) error {
	if s.null() {
		return nil
	}
	out := []containerView{}
	err := s.array(func(int) error {
		var c containerView
		if s.null() {
			out = append(out, c)
			return nil
		}
		err := s.object(func(key []byte) error {
			switch string(key) {
			case "name":
				c.Name = ""
				return s.stringInto(&c.Name)
			case "volumeMounts":
				c.VolumeMounts = nil
				return s.mounts(&c.VolumeMounts)
			}
			return s.skip()
		})
		out = append(out, c)
		return err
	})
	*dst = out
	return err
}

func (s *scanner) mounts(dst *[]mountView) error {
	if s.null() {
		return nil
	}
	out := []mountView{}
	err := s.array(func(int) error {
		var m mountView
		if s.null() {
			out = append(out, m)
			return nil
		}
		err := s.object(func(key []byte) error {
			switch string(key) {
			case "name":
				m.Name = ""
				return s.stringInto(&m.Name)
			case "mountPath":
				m.MountPath = ""
				return s.stringInto(&m.MountPath)
			case "subPath":
				m.SubPath = ""
				return s.stringInto(&m.SubPath)
			}
			return s.skip()
		})
		out = append(out, m)
		return err
	})
	*dst = out
	return err
}
