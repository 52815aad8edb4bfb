package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The dashboard the chart ships is the one this generator writes: editing either alone fails here
// until `make dashboard` is run.
func TestCommittedDashboardIsGenerated(t *testing.T) {
	want, err := render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", Path))
	if err != nil {
		t.Fatalf("%v: run make dashboard", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generator (hack/dashboard): run make dashboard and commit it", Path)
	}
}

// The unescaped comparisons leave the same JSON value the SDK marshals; every panel has an id and
// a query per target with a refId, on the dashboard's data source variable.
func TestDashboardJSON(t *testing.T) {
	b, err := render()
	if err != nil {
		t.Fatal(err)
	}
	d, err := build().Build()
	if err != nil {
		t.Fatal(err)
	}
	number(&d)
	sdk, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sdk, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the written JSON is not the value the SDK marshals")
	}
	ids := map[float64]bool{}
	queries := 0
	for _, p := range got["panels"].([]any) {
		p := p.(map[string]any)
		id, _ := p["id"].(float64)
		if id == 0 || ids[id] {
			t.Errorf("panel %q: id %v missing or repeated", p["title"], p["id"])
		}
		ids[id] = true
		if p["type"] == "row" {
			continue
		}
		if ds, _ := p["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
			t.Errorf("panel %q: data source %v, want the ${datasource} variable", p["title"], p["datasource"])
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", p["title"])
		}
		for _, q := range targets {
			q := q.(map[string]any)
			if q["refId"] == nil || q["expr"] == "" {
				t.Errorf("panel %q: query %v without refId or expr", p["title"], q)
			}
			queries++
		}
	}
	if queries < 10 {
		t.Errorf("%d queries", queries)
	}
}
