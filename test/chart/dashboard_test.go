package chart_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// With grafanaDashboard.enabled the chart renders one ConfigMap holding the committed dashboard
// (dashboards/aigw-mtls.json, byte for byte), labelled for Grafana's dashboard sidecar, with the
// folder annotation when a folder is set, in grafanaDashboard.namespace or the release's; without
// it, none.
func TestGrafanaDashboard(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join(chartDir(), "dashboards", "aigw-mtls.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(committed, &d); err != nil || d["uid"] != "aigw-mtls-webhook" {
		t.Fatalf("dashboards/aigw-mtls.json: uid %v, %v", d["uid"], err)
	}
	enabled := valueSet{name: "grafana-dashboard-defaults", release: "mtls", namespace: "mtls-system", set: []string{"grafanaDashboard.enabled=true"}}
	for _, v := range append(slices.Clone(valueSets), enabled) {
		t.Run(v.name, func(t *testing.T) {
			_, objs := render(t, v)
			r := rendering{v: v, objs: objs}
			var dashboards []map[string]any
			for _, o := range r.all("ConfigMap") {
				if o.GetName() == r.fullname()+"-dashboard" {
					dashboards = append(dashboards, o.Object)
				}
			}
			if r.value("grafanaDashboard.enabled", "false") != "true" {
				if len(dashboards) != 0 {
					t.Errorf("dashboard ConfigMap rendered without grafanaDashboard.enabled")
				}
				return
			}
			if len(dashboards) != 1 {
				t.Fatalf("%d dashboard ConfigMaps, want 1", len(dashboards))
			}
			cm := dashboards[0]
			meta := cm["metadata"].(map[string]any)
			if want := r.value("grafanaDashboard.namespace", v.namespace); meta["namespace"] != want {
				t.Errorf("namespace %v, want %s", meta["namespace"], want)
			}
			labels, _ := meta["labels"].(map[string]any)
			if key, want := r.value("grafanaDashboard.label", "grafana_dashboard"), r.value("grafanaDashboard.labelValue", "1"); labels[key] != want {
				t.Errorf("labels %v, want %s=%s for the sidecar", labels, key, want)
			}
			annotations, _ := meta["annotations"].(map[string]any)
			if folder := r.value("grafanaDashboard.folder", ""); folder == "" && len(annotations) != 0 {
				t.Errorf("no folder set: want no annotation, got %v", annotations)
			} else if folder != "" && annotations["grafana_folder"] != folder {
				t.Errorf("annotations %v, want grafana_folder=%s", annotations, folder)
			}
			data, _ := cm["data"].(map[string]any)
			if len(data) != 1 || data["aigw-mtls.json"] != string(committed) {
				t.Errorf("data: want key aigw-mtls.json holding dashboards/aigw-mtls.json as committed, got keys %v", slices.Sorted(maps.Keys(data)))
			}
		})
	}
}
