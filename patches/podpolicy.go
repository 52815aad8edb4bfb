package patches

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// PodPolicyPath is where the chart reads the generated CEL of the pod engine "policy" from
// (.Files.Get), relative to the repository root: `make podpolicy` writes it, a test checks it.
const PodPolicyPath = "charts/aigw-mtls-webhook/policies/pod-wiring.yaml"

// PodPolicy is PatchPod in CEL, for a MutatingAdmissionPolicy (the wiring) and a
// ValidatingAdmissionPolicy (the refusals or warnings). The chart defines one CEL variable per
// name of Settings (its value from the chart's values.wiring), then Variables.
type PodPolicy struct {
	// Settings are the names of the settings variables, the keys of values.wiring.
	Settings  []string  `json:"settings"`
	Variables []NamedEx `json:"variables"`
	// Mutations are the MutatingAdmissionPolicy's (JSONPatch).
	Mutations []PolicyMutation `json:"mutations"`
	// Enforce and Warn are the ValidatingAdmissionPolicy's validations, bound with [Deny] in mode
	// enforce and [Warn] in mode warn.
	Enforce []Validation `json:"enforce"`
	Warn    []Validation `json:"warn"`
	// Update is the validation of a pod UPDATE, bound with [Warn]: the pod lacks the wiring (a
	// pod's volumes cannot change; it is wired when next created).
	Update []Validation `json:"update"`
}

// NamedEx is one CEL variable.
type NamedEx struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// PolicyMutation is one mutation of a MutatingAdmissionPolicy.
type PolicyMutation struct {
	PatchType string `json:"patchType"`
	JSONPatch struct {
		Expression string `json:"expression"`
	} `json:"jsonPatch"`
}

// Validation is one validation of a ValidatingAdmissionPolicy.
type Validation struct {
	Expression        string `json:"expression"`
	MessageExpression string `json:"messageExpression"`
}

// placeholder marks where a CEL value goes in a Go text.
func placeholder(name string) string { return "«" + name + "»" }

var placeholderRE = regexp.MustCompile(`«([A-Za-z0-9_]+)»`)

// celText turns text, a Go rendering holding placeholders, into a CEL string expression: its
// literal parts quoted, each placeholder replaced by the CEL expression vars gives it.
func celText(text string, vars map[string]string) string {
	var parts []string
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(text, -1) {
		if m[0] > last {
			parts = append(parts, strconv.Quote(text[last:m[0]]))
		}
		name := text[m[2]:m[3]]
		expr, ok := vars[name]
		if !ok {
			panic("celText: no CEL expression for placeholder " + name)
		}
		parts = append(parts, "("+expr+")")
		last = m[1]
	}
	if last < len(text) || len(parts) == 0 {
		parts = append(parts, strconv.Quote(text[last:]))
	}
	return strings.Join(parts, " + ")
}

// celFormat is fmt.Sprintf(format, args...) in CEL, each arg a CEL string expression. A %q verb
// becomes a double-quoted value (the same as Go's for names without quotes, backslashes or control
// characters).
func celFormat(format string, args ...string) string {
	vars := map[string]string{}
	ph := make([]any, len(args))
	for i, a := range args {
		name := fmt.Sprintf("a%d", i)
		vars[name] = a
		ph[i] = placeholder(name)
	}
	// %q would escape the placeholder's guillemets: render it as "…" around the placeholder.
	format = strings.ReplaceAll(format, "%q", `"%s"`)
	return celText(fmt.Sprintf(format, ph...), vars)
}

// celFinding is rule d's finding in CEL, rendered as rules.Finding.String renders it.
func celFinding(d rules.Def, object, field, expected, found, fix string) string {
	f := rules.Finding{Object: placeholder("object"), Field: placeholder("field"), Expected: placeholder("expected"), Found: placeholder("found")}
	vars := map[string]string{"object": object, "field": field, "expected": expected, "found": found}
	if fix != "" {
		f.Fix = placeholder("fix")
		vars["fix"] = fix
	}
	return celText(d.New(f).String(), vars)
}

func celString(s string) string { return strconv.Quote(s) }

// celClean is path.Clean of the CEL string p, for the absolute paths mounts use: empty and "."
// segments dropped, no trailing slash. ".." segments are kept (the API server refuses them in a
// mountPath on no platform, but neither aigw nor the webhook's settings use them).
func celClean(p string) string {
	return fmt.Sprintf("((%[1]s).startsWith('/') ? '/' : '') + (%[1]s).split('/').filter(s, s != '' && s != '.').join('/')", p)
}

// volumeSources are the JSON names of a volume's source fields, sorted as sourceKind sorts them.
func volumeSources() []string {
	var out []string
	t := reflect.TypeFor[corev1.VolumeSource]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// celSourceKind is sourceKind of the CEL volume v.
func celSourceKind(v string) string {
	var parts []string
	for _, k := range volumeSources() {
		parts = append(parts, fmt.Sprintf("has(%s.%s) ? %s : ''", v, k, celString(k)))
	}
	kinds := "[" + strings.Join(parts, ", ") + "].filter(k, k != '')"
	return fmt.Sprintf("size(%[1]s) == 0 ? %[2]s : %[1]s.join(%[3]s)", kinds, celString(sourceless), celString(kindSeparator))
}

// settingsPlaceholders are Settings whose names and paths are placeholders named like their JSON
// fields, and the CEL variables standing for them.
func settingsPlaceholders() (aigw.Settings, []string, map[string]string) {
	var s aigw.Settings
	var names []string
	vars := map[string]string{}
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "mode", "clientTLSSecret", "policy", "configKey":
			continue // not read by PatchPod; mode is the validating policy's binding
		}
		v.Field(i).SetString(placeholder(name))
		names = append(names, name)
		vars[name] = "variables." + name
	}
	return s, names, vars
}

// GeneratePodPolicy writes PatchPod's wiring and conflicts in CEL, from the mounts podMounts
// builds, the texts pod.go writes and the rules of its findings.
func GeneratePodPolicy() PodPolicy {
	s, names, vars := settingsPlaceholders()
	text := func(t string) string { return celText(t, vars) }
	mounts := podMounts(s, nil)
	secretAnnotations := []string{aigw.AnnotationCASecret, aigw.AnnotationServerTLSSecret}
	if len(mounts) != len(secretAnnotations) {
		panic("podMounts and the Secret annotations disagree")
	}
	p := PodPolicy{Settings: names}
	add := func(name, expr string) { p.Variables = append(p.Variables, NamedEx{Name: name, Expression: expr}) }

	ann := "variables.ann"
	add("ann", "object.metadata.?annotations.orValue({})")
	// spec.containers is the one list a Pod serializes as null when empty.
	add("containers", "has(object.spec.containers) && type(dyn(object.spec.containers)) == list ? object.spec.containers : []")
	add("names", "variables.containers.map(c, c.name)")
	containerAnn := celString(aigw.AnnotationContainer)
	add("ci", fmt.Sprintf("%[1]s in %[2]s ? variables.names.indexOf(%[2]s[%[1]s]) : (variables.%[3]s in variables.names ? variables.names.indexOf(variables.%[3]s) : 0)",
		containerAnn, ann, "container"))
	add("mounts", "variables.ci >= 0 && variables.ci < size(variables.containers) ? variables.containers[variables.ci].?volumeMounts.orValue([]) : []")
	// Each mount path once, cleaned only when it needs it (split and join cost more than contains).
	unclean := "vm.mountPath.contains('//') || vm.mountPath.contains('/./') || vm.mountPath.endsWith('/') || vm.mountPath.endsWith('/.')"
	add("mountPaths", fmt.Sprintf("variables.mounts.map(vm, %s ? %s : vm.mountPath)", unclean, celClean("vm.mountPath")))
	add("vols", "object.spec.?volumes.orValue([])")
	add("volNames", "variables.vols.map(v, v.name)")
	// The Pod as findings name it: a name the API server generated (only the validating policy
	// sees one) is shown as the webhook shows it, generateName and "*".
	add("podRef", "'Pod/' + request.namespace + '/' + (object.metadata.?generateName.orValue('') != '' && "+
		"(object.metadata.?name.orValue('') == '' || (object.metadata.name.startsWith(object.metadata.generateName.substring(0, [size(object.metadata.generateName), 58].min())) && "+
		"size(object.metadata.name) == [size(object.metadata.generateName), 58].min() + 5)) ? object.metadata.generateName + '*' : object.metadata.?name.orValue(''))")
	cname := "variables.containers[variables.ci].name"

	var findings []string
	var addVolumes, addMounts []string
	for i, m := range mounts {
		v := func(suffix string) string { return fmt.Sprintf("m%d%s", i, suffix) }
		ref := func(suffix string) string { return "variables." + v(suffix) }
		secretAnn := celString(secretAnnotations[i])
		add(v("Secret"), fmt.Sprintf("%[2]s[?%[1]s].orValue('') != '' ? %[2]s[%[1]s] : %[3]s", secretAnn, ann, text(m.secret)))
		add(v("Path"), celClean(text(m.mountPath)))
		add(v("MountIdx"), fmt.Sprintf("variables.mountPaths.indexOf(%s)", ref("Path")))
		add(v("VolIdx"), fmt.Sprintf("%[1]s >= 0 ? variables.volNames.lastIndexOf(variables.mounts[%[1]s].name) : variables.volNames.lastIndexOf(%[2]s)", ref("MountIdx"), text(m.volume)))
		vol := fmt.Sprintf("variables.vols[%s]", ref("VolIdx"))
		secretName := vol + ".secret.?secretName.orValue('')"

		// mismatch: what the volume is when it does not serve the mount, and the fix when only
		// items are missing.
		var fileParts []string
		for _, f := range m.files {
			k, pth := text(f.Key), text(f.Path)
			fileParts = append(fileParts, fmt.Sprintf("(%s == %s ? %s : %s)", k, pth, celFormat(fileFormat, k), celFormat(fileAsFormat, k, pth)))
		}
		var itemParts []string
		for _, f := range m.files {
			itemParts = append(itemParts, celFormat(itemFormat, text(f.Key), text(f.Path)))
		}
		allFiles := strings.Join(fileParts, " + "+celString(fileSeparator)+" + ")
		itemsFix := celFormat(fixItemsFormat, "'[' + "+strings.Join(itemParts, " + "+celString(itemSeparator)+" + ")+" + ']'")
		found := fmt.Sprintf("%s < 0 ? '' : !has(%s.secret) ? %s : %s != %s ? %s", ref("VolIdx"), vol,
			celFormat(foundTypeFormat, celSourceKind(vol)), secretName, ref("Secret"), celFormat(foundSecretFormat, secretName))
		foundFix := fmt.Sprintf("%s < 0 || !has(%s.secret) || %s != %s ? ''", ref("VolIdx"), vol, secretName, ref("Secret"))
		for j, f := range m.files {
			k, pth := text(f.Key), text(f.Path)
			provides := fmt.Sprintf("(size(%[1]s.secret.?items.orValue([])) == 0 ? %[2]s == %[3]s : %[1]s.secret.items.exists(it, it.key == %[2]s && it.path == %[3]s))", vol, k, pth)
			found += fmt.Sprintf(" : !%s ? %s", provides, celFormat(foundWithoutFormat, secretName, fileParts[j]))
			foundFix += fmt.Sprintf(" : !%s ? %s", provides, itemsFix)
		}
		add(v("Found"), found+" : ''")
		add(v("FoundFix"), foundFix+" : ''")

		subPath := "variables.mounts[" + ref("MountIdx") + "].?subPath.orValue('')"
		add(v("MountFound"), fmt.Sprintf("%[1]s != '' ? %[1]s : %[2]s != '' ? %[3]s : ''", ref("Found"), subPath, celFormat(foundSubPathFormat, subPath)))
		add(v("MountFix"), fmt.Sprintf("%s != '' ? (%s != '' ? %s : %s) : %s", ref("Found"), ref("FoundFix"), ref("FoundFix"),
			celFormat(fixMountFormat, text(m.mountPath), ref("Secret")), celString(fixSubPath)))

		mount := "variables.mounts[" + ref("MountIdx") + "]"
		field := celFormat(fieldMountFormat, "string(variables.ci)", "string("+ref("MountIdx")+")", cname, mount+".mountPath")
		what := celString(m.what)
		missing := celFinding(rules.PodMountVolumeMissing, "variables.podRef", field, celFormat(expectedVolumeFormat, mount+".name"), celString(foundNone), "")
		conflict := celFinding(rules.PodMountConflict, "variables.podRef", field, celFormat(expectedMountFormat, what, ref("Secret"), allFiles),
			celFormat(foundMountFormat, mount+".name", ref("MountFound")), ref("MountFix"))
		volConflict := celFinding(rules.PodVolumeConflict, "variables.podRef", celFormat(fieldVolumeFormat, text(m.volume)),
			celFormat(expectedSecretFormat, what, ref("Secret"), allFiles), ref("Found"), fmt.Sprintf("%s != '' ? %s : %s", ref("FoundFix"), ref("FoundFix"), celString(fixVolume)))
		add(v("Finding"), fmt.Sprintf("%s >= 0 ? (%s < 0 ? %s : %s != '' ? %s : '') : (%s >= 0 && %s != '' ? %s : '')",
			ref("MountIdx"), ref("VolIdx"), missing, ref("MountFound"), conflict, ref("VolIdx"), ref("Found"), volConflict))
		findings = append(findings, ref("Finding"))

		// The wiring: the volume unless one of its name serves, the mount unless one at the path does.
		var items []string
		for _, it := range m.items {
			items = append(items, fmt.Sprintf("Object.spec.volumes.secret.items{key: %s, path: %s}", text(it.Key), text(it.Path)))
		}
		source := fmt.Sprintf("Object.spec.volumes.secret{secretName: %s}", ref("Secret"))
		if len(items) > 0 {
			source = fmt.Sprintf("Object.spec.volumes.secret{secretName: %s, items: [%s]}", ref("Secret"), strings.Join(items, ", "))
		}
		addVolumes = append(addVolumes, fmt.Sprintf("(%s < 0 && %s < 0 ? [Object.spec.volumes{name: %s, secret: %s}] : [])", ref("MountIdx"), ref("VolIdx"), text(m.volume), source))
		addMounts = append(addMounts, fmt.Sprintf("(%s < 0 ? [Object.spec.containers.volumeMounts{name: %s, mountPath: %s, readOnly: true}] : [])", ref("MountIdx"), text(m.volume), text(m.mountPath)))
	}
	noContainer := celFinding(rules.PodNoContainer, "variables.podRef", celString(fieldContainers), celString(expectedContainer), celString(foundNone), "")
	notFound := celFinding(rules.PodContainerNotFound, "variables.podRef", celString("metadata.annotations["+aigw.AnnotationContainer+"]"),
		celFormat(expectedContainerFormat, "variables.names.join("+celString(containerSeparator)+")"), celFormat(foundContainerFormat, ann+"["+containerAnn+"]"), "")
	add("findings", fmt.Sprintf("size(variables.containers) == 0 ? [%s] : variables.ci < 0 ? [%s] : [%s].filter(f, f != '')",
		noContainer, notFound, strings.Join(findings, ", ")))
	// Object types (Object.spec...) are known in mutations only, not in variables.
	newVolumes, newMounts := "("+strings.Join(addVolumes, " + ")+")", "("+strings.Join(addMounts, " + ")+")"
	record := celFormat(recordFormat, cname, "variables.m0Secret", "variables.m1Secret")
	add("record", record)

	// appendOps and annotationOp in CEL.
	appendOps := func(list, values, path string) string {
		return fmt.Sprintf("size(%[2]s) == 0 ? [] : size(%[1]s) == 0 ? [JSONPatch{op: 'add', path: %[3]s, value: %[2]s}] : %[2]s.map(x, JSONPatch{op: 'add', path: %[3]s + '/-', value: x})",
			list, values, path)
	}
	volumeOps := appendOps("variables.vols", newVolumes, "'/spec/volumes'")
	mountOps := appendOps("variables.mounts", newMounts, "'/spec/containers/' + string(variables.ci) + '/volumeMounts'")
	key := celString(aigw.AnnotationInjected)
	keyPath := celString("/metadata/annotations/" + pointerEscape(aigw.AnnotationInjected))
	recordOps := fmt.Sprintf("size(%[1]s) == 0 ? [JSONPatch{op: 'add', path: '/metadata/annotations', value: {%[2]s: variables.record}}] : "+
		"!(%[2]s in %[1]s) ? [JSONPatch{op: 'add', path: %[3]s, value: variables.record}] : "+
		"%[1]s[%[2]s] == variables.record ? [] : [JSONPatch{op: 'replace', path: %[3]s, value: variables.record}]", ann, key, keyPath)
	m := PolicyMutation{PatchType: "JSONPatch"}
	m.JSONPatch.Expression = fmt.Sprintf("size(variables.findings) > 0 ? [] : (%s) + (%s) + (%s)", volumeOps, mountOps, recordOps)
	p.Mutations = []PolicyMutation{m}

	// The decisions as aigw.Decide words them.
	denial := aigw.Decide([]string{placeholder("a"), placeholder("b")}, nil, aigw.ModeEnforce).Denial
	sep := strings.TrimSuffix(strings.TrimPrefix(denial, placeholder("a")), placeholder("b"))
	p.Enforce = []Validation{{Expression: "size(variables.findings) == 0", MessageExpression: "variables.findings.join(" + celString(sep) + ")"}}
	warning := aigw.Decide([]string{placeholder("f")}, nil, aigw.ModeWarn).Warnings[0]
	for i := range mounts {
		f := fmt.Sprintf("variables.findings[%d]", i)
		p.Warn = append(p.Warn, Validation{Expression: fmt.Sprintf("size(variables.findings) <= %d", i),
			MessageExpression: celText(warning, map[string]string{"f": f})})
	}
	// An UPDATE is only warned about, when PatchPod would wire the pod: selected, no conflict,
	// a mount missing. Names are clipped as the webhook's log and warnings clip them (64 bytes).
	selected := "object.metadata.?labels.orValue({})[?variables.selectorKey] == optional.of(variables.selectorValue)"
	var missing []string
	for i := range mounts {
		missing = append(missing, fmt.Sprintf("variables.m%dMountIdx < 0", i))
	}
	name := "object.metadata.name"
	clipped := fmt.Sprintf("size(%[1]s) > 64 ? %[1]s.substring(0, 64) + '…' : %[1]s", name)
	p.Update = []Validation{{
		Expression:        fmt.Sprintf("!(%s && size(variables.findings) == 0 && (%s))", selected, strings.Join(missing, " || ")),
		MessageExpression: celFormat(UpdateWarning, celString("Pod"), "request.namespace + '/' + ("+clipped+")", "variables.selectorKey", "variables.selectorValue"),
	}}
	return p
}

// RenderPodPolicy is the file the chart reads: GeneratePodPolicy as YAML, with a header.
func RenderPodPolicy() ([]byte, error) {
	b, err := yaml.Marshal(GeneratePodPolicy())
	if err != nil {
		return nil, err
	}
	header := "# Generated by `make podpolicy` (patches/podpolicy.go) from PatchPod's mounts, texts and rules: do not edit.\n"
	return append([]byte(header), b...), nil
}
