package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
)

// document is one YAML document of the input, with what the commands need to know about it.
type document struct {
	source     string // file name, or "-"
	text       []byte // as read, so unchanged documents are written back byte for byte
	json       []byte // nil for an empty (comment-only) document
	apiVersion string
	kind       string
	namespace  string
	name       string
}

func (d document) ref() string {
	if d.namespace == "" {
		return d.kind + "/" + d.name
	}
	return d.kind + "/" + d.namespace + "/" + d.name
}

// readDocuments reads every YAML document of a file, of the *.yaml, *.yml and *.json files under
// a directory (in lexical order), or of stdin for "-".
func readDocuments(path string, stdin io.Reader) ([]document, error) {
	if path == "" {
		return nil, errors.New("-f is required (a file, a directory, or - for stdin)")
	}
	if path == "-" {
		return splitDocuments("-", stdin)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if info.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch filepath.Ext(p) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
	}
	var docs []document
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		ds, err := splitDocuments(f, fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	return docs, nil
}

func splitDocuments(source string, r io.Reader) ([]document, error) {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []document
	for i := 1; ; i++ {
		text, err := yr.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		d := document{source: source, text: text}
		j, err := yaml.YAMLToJSON(text)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if t := bytes.TrimSpace(j); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name, GenerateName, Namespace string
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(j, &meta); err != nil {
				return nil, fmt.Errorf("%s: document %d: expected a Kubernetes object: %w", source, i, err)
			}
			d.json, d.apiVersion, d.kind = j, meta.APIVersion, meta.Kind
			d.namespace, d.name = meta.Metadata.Namespace, meta.Metadata.Name
			if d.name == "" && meta.Metadata.GenerateName != "" {
				d.name = meta.Metadata.GenerateName + "*"
			}
		}
		docs = append(docs, d)
	}
}

// writeDocuments writes documents separated by "---".
func writeDocuments(w io.Writer, texts [][]byte) error {
	for i, t := range texts {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		s := strings.TrimPrefix(string(t), "---\n")
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
	}
	return nil
}

// manifestInput is what inject and validate share: the documents read from -f, the settings
// flags, and an ObjectSet of every document for the lookups.
type manifestInput struct {
	file, namespace string
	settings        *settingsFlags
}

func bindManifestInput(fs *flag.FlagSet) *manifestInput {
	in := &manifestInput{}
	fs.StringVar(&in.file, "f", "", "manifest file, directory, or - for stdin")
	fs.StringVar(&in.namespace, "namespace", "default", "namespace assumed for objects that name none")
	in.settings = bindSettings(fs)
	return in
}

// load returns the settings, the documents and their ObjectSet, or an exit code (2) after
// printing why.
func (in *manifestInput) load(stdin io.Reader, stderr io.Writer) (aigw.Settings, []document, *objects.ObjectSet, int) {
	s, err := in.settings.settings()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return s, nil, nil, 2
	}
	docs, err := readDocuments(in.file, stdin)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return s, nil, nil, 2
	}
	objs := objects.NewObjectSet(in.namespace)
	for _, d := range docs {
		if d.json != nil {
			objs.Add(in.namespace, d.json)
		}
	}
	return s, docs, objs, 0
}
