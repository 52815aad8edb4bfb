package patches

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/aigw-mtls/aigw-mtls-webhook/internal/aigw"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/objects"
	"github.com/aigw-mtls/aigw-mtls-webhook/internal/rules"
)

// podView is the part of a Pod the mutation reads, decoded with objects.Decode: keys match as the
// API server spells them, so a "Metadata" or "VolumeMounts" key is not read as the field. Since the
// patch is built from paths into the request's own JSON, fields this view (or k8s.io/api) does not
// know are never touched.
type podView struct {
	Metadata objectMeta `json:"metadata"`
	Spec     struct {
		Volumes    []map[string]json.RawMessage `json:"volumes"`
		Containers []containerView              `json:"containers"`
	} `json:"spec"`
}

type containerView struct {
	Name         string      `json:"name"`
	VolumeMounts []mountView `json:"volumeMounts"`
}

type mountView struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath,omitempty"`
}

type secretSource struct {
	SecretName string      `json:"secretName"`
	Items      []keyToPath `json:"items,omitempty"`
}

type keyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
}

// The texts of the pod findings and record: the webhook and the generated admission policies
// (podpolicy.go) both write them from these.
const (
	recordFormat            = "container=%s,ca-secret=%s,server-tls-secret=%s"
	fieldContainers         = "spec.containers"
	expectedContainer       = "at least one container"
	expectedContainerFormat = "the name of one of spec.containers (%s)"
	foundContainerFormat    = "%q"
	containerSeparator      = ", "
	foundNone               = "none"
	fieldMountFormat        = "spec.containers[%v].volumeMounts[%v] (container %s, mountPath %s)"
	fieldVolumeFormat       = "spec.volumes[name=%s]"
	expectedVolumeFormat    = "a volume named %q in spec.volumes"
	expectedMountFormat     = "the %s Secret %q mounted as a directory with %s"
	expectedSecretFormat    = "the %s Secret %q with %s"
	foundMountFormat        = "volume %q with %s"
	foundSubPathFormat      = "a subPath mount of %s"
	fixSubPath              = "mount the whole volume (no subPath)"
	fixMountFormat          = "move that mount off %s, or remove it and let the webhook mount %q there"
	fixVolume               = "rename that volume, or remove it so the webhook can add its own"
	foundTypeFormat         = "a volume of type %s"
	foundSecretFormat       = "Secret %q"
	foundWithoutFormat      = "Secret %q without %s"
	fixItemsFormat          = "give that volume secret.items %s"
	itemFormat              = "{key: %s, path: %s}"
	itemSeparator           = ", "
	fileFormat              = "key %s"
	fileAsFormat            = "key %s as %s"
	fileSeparator           = " and "
	sourceless              = "sourceless"
	kindSeparator           = "+"
)

// UpdateWarning is the warning about an UPDATE of a labelled object whose volumes cannot change (a
// Pod) and that lacks the wiring: kind, namespace/name, selector key and value.
const UpdateWarning = "%s %s carries %s=%s but has no mTLS mounts; they are added when the pod is next created (roll out its workload)"

// mountSpec is one Secret the aigw container needs at a path, with the files it must find there.
type mountSpec struct {
	what      string
	volume    string
	secret    string
	mountPath string
	items     []keyToPath // the items the webhook writes; nil mounts every key
	files     []keyToPath // key → file name that must be present under mountPath
}

// PodSecrets are the CA and server TLS Secrets a pod with annotations ann mounts.
func PodSecrets(s aigw.Settings, ann map[string]string) (ca, serverTLS string) {
	ca, serverTLS = s.CASecret, s.ServerTLSSecret
	if v := ann[aigw.AnnotationCASecret]; v != "" {
		ca = v
	}
	if v := ann[aigw.AnnotationServerTLSSecret]; v != "" {
		serverTLS = v
	}
	return ca, serverTLS
}

// podMounts returns the CA and server-TLS mounts for a pod, with its annotations applied.
func podMounts(s aigw.Settings, ann map[string]string) []mountSpec {
	caSecret, tlsSecret := PodSecrets(s, ann)
	tlsItems := []keyToPath{{Key: "tls.crt", Path: s.ServerCertFile}, {Key: "tls.key", Path: s.ServerKeyFile}}
	return []mountSpec{
		{what: "CA", volume: s.CAVolume, secret: caSecret, mountPath: s.CAMountPath,
			files: []keyToPath{{Key: s.CAKey, Path: s.CAKey}}},
		{what: "server TLS", volume: s.ServerTLSVolume, secret: tlsSecret, mountPath: s.ServerTLSMountPath,
			items: tlsItems, files: tlsItems},
	}
}

// PatchPod returns the operations that mount the CA and the server certificate into the aigw
// container of a Pod labelled with the selector. namespace is the request's namespace, used in
// messages when the object carries none.
func PatchPod(raw []byte, namespace string, s aigw.Settings, _ objects.Objects) (Result, error) {
	var pod podView
	if err := objects.Decode(raw, &pod); err != nil {
		return Result{}, fmt.Errorf("decoding Pod: %w", err)
	}
	if !s.Selected(pod.Metadata.Labels) {
		return Result{}, nil
	}
	obj := pod.Metadata.Ref("Pod", namespace)
	ci, problem := targetContainer(pod, s)
	if problem != nil {
		problem.Object = obj
		return Result{Findings: rules.Findings{*problem}}, nil
	}
	c := pod.Spec.Containers[ci]
	volumes := map[string]map[string]json.RawMessage{}
	for _, v := range pod.Spec.Volumes {
		var name string
		_ = objects.Decode(v["name"], &name)
		volumes[name] = v
	}

	var res Result
	var newVolumes []any
	var newMounts []any
	mounts := podMounts(s, pod.Metadata.Annotations)
	for _, m := range mounts {
		addVolume, addMount, problem := wire(c, ci, volumes, m)
		if problem != nil {
			problem.Object = obj
			res.Findings = append(res.Findings, *problem)
			continue
		}
		if addVolume || addMount {
			res.Unwired = append(res.Unwired, rules.PodNotMounted.New(rules.Finding{Object: obj, Field: fmt.Sprintf("spec.containers[%d].volumeMounts", ci),
				Expected: fmt.Sprintf("the %s Secret %s at %s", m.what, m.secret, m.mountPath), Found: "no such mount"}))
		}
		if addVolume {
			src := secretSource{SecretName: m.secret, Items: m.items}
			newVolumes = append(newVolumes, map[string]any{"name": m.volume, "secret": src})
		}
		if addMount {
			newMounts = append(newMounts, map[string]any{"name": m.volume, "mountPath": m.mountPath, "readOnly": true})
		}
	}
	if len(res.Findings) > 0 {
		return Result{Findings: res.Findings}, nil
	}
	res.Wiring = append(res.Wiring, appendOps("/spec/volumes", pod.Spec.Volumes == nil, newVolumes)...)
	res.Wiring = append(res.Wiring, appendOps(fmt.Sprintf("/spec/containers/%d/volumeMounts", ci), c.VolumeMounts == nil, newMounts)...)
	record := fmt.Sprintf(recordFormat, c.Name, mounts[0].secret, mounts[1].secret)
	res.Record = annotationOp(pod.Metadata, aigw.AnnotationInjected, record)
	return res, nil
}

// podConflict is a conflict about a pod; the caller fills in the object.
func podConflict(rule rules.Def, field, expected, found, fix string) *rules.Finding {
	f := rule.New(rules.Finding{Field: field, Expected: expected, Found: found, Fix: fix})
	return &f
}

func targetContainer(pod podView, s aigw.Settings) (int, *rules.Finding) {
	if len(pod.Spec.Containers) == 0 {
		return 0, podConflict(rules.PodNoContainer, fieldContainers, expectedContainer, foundNone, "")
	}
	if want, ok := pod.Metadata.Annotations[aigw.AnnotationContainer]; ok {
		for i, c := range pod.Spec.Containers {
			if c.Name == want {
				return i, nil
			}
		}
		return 0, podConflict(rules.PodContainerNotFound, "metadata.annotations["+aigw.AnnotationContainer+"]",
			fmt.Sprintf(expectedContainerFormat, containerNames(pod)), fmt.Sprintf(foundContainerFormat, want),
			"name an existing container (init and ephemeral containers are not injected) or remove the annotation")
	}
	for i, c := range pod.Spec.Containers {
		if c.Name == s.Container {
			return i, nil
		}
	}
	return 0, nil
}

func containerNames(pod podView) string {
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	return strings.Join(names, containerSeparator)
}

// wire decides how mount m reaches container c: already there, volume present but not mounted, or
// both to add. A volume name or mount path already used for something else is a conflict.
func wire(c containerView, ci int, volumes map[string]map[string]json.RawMessage, m mountSpec) (addVolume, addMount bool, problem *rules.Finding) {
	for i, vm := range c.VolumeMounts {
		if path.Clean(vm.MountPath) != path.Clean(m.mountPath) {
			continue
		}
		field := fmt.Sprintf(fieldMountFormat, ci, i, c.Name, vm.MountPath)
		v, ok := volumes[vm.Name]
		if !ok {
			return false, false, podConflict(rules.PodMountVolumeMissing, field, fmt.Sprintf(expectedVolumeFormat, vm.Name), foundNone, "")
		}
		found, fix := mismatch(v, m)
		if found == "" && vm.SubPath != "" {
			found, fix = fmt.Sprintf(foundSubPathFormat, vm.SubPath), fixSubPath
		}
		if found != "" {
			if fix == "" {
				fix = fmt.Sprintf(fixMountFormat, m.mountPath, m.secret)
			}
			return false, false, podConflict(rules.PodMountConflict, field,
				fmt.Sprintf(expectedMountFormat, m.what, m.secret, fileList(m.files)),
				fmt.Sprintf(foundMountFormat, vm.Name, found), fix)
		}
		return false, false, nil
	}
	if v, ok := volumes[m.volume]; ok {
		if found, fix := mismatch(v, m); found != "" {
			if fix == "" {
				fix = fixVolume
			}
			return false, false, podConflict(rules.PodVolumeConflict, fmt.Sprintf(fieldVolumeFormat, m.volume),
				fmt.Sprintf(expectedSecretFormat, m.what, m.secret, fileList(m.files)), found, fix)
		}
		return false, true, nil
	}
	return true, true, nil
}

// mismatch describes how volume v differs from what m needs (and, when the volume is only missing
// items, the fix), or returns "" when v serves m.
func mismatch(v map[string]json.RawMessage, m mountSpec) (found, fix string) {
	raw, ok := v["secret"]
	if !ok {
		return fmt.Sprintf(foundTypeFormat, sourceKind(v)), ""
	}
	var src secretSource
	if err := objects.Decode(raw, &src); err != nil {
		return "an unreadable secret source", ""
	}
	if src.SecretName != m.secret {
		return fmt.Sprintf(foundSecretFormat, src.SecretName), ""
	}
	for _, f := range m.files {
		if !provides(src, f) {
			return fmt.Sprintf(foundWithoutFormat, src.SecretName, fileList([]keyToPath{f})),
				fmt.Sprintf(fixItemsFormat, itemList(m.files))
		}
	}
	return "", ""
}

func itemList(files []keyToPath) string {
	parts := make([]string, len(files))
	for i, f := range files {
		parts[i] = fmt.Sprintf(itemFormat, f.Key, f.Path)
	}
	return "[" + strings.Join(parts, itemSeparator) + "]"
}

func provides(src secretSource, f keyToPath) bool {
	if src.Items == nil {
		return f.Key == f.Path
	}
	for _, it := range src.Items {
		if it.Key == f.Key && it.Path == f.Path {
			return true
		}
	}
	return false
}

func fileList(files []keyToPath) string {
	parts := make([]string, len(files))
	for i, f := range files {
		if f.Key == f.Path {
			parts[i] = fmt.Sprintf(fileFormat, f.Key)
		} else {
			parts[i] = fmt.Sprintf(fileAsFormat, f.Key, f.Path)
		}
	}
	return strings.Join(parts, fileSeparator)
}

func sourceKind(v map[string]json.RawMessage) string {
	var kinds []string
	for k := range v {
		if k != "name" {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return sourceless
	}
	sort.Strings(kinds)
	return strings.Join(kinds, kindSeparator)
}

// appendOps appends values to the array at p, creating it when the object has none.
func appendOps(p string, missing bool, values []any) []jsonpatch.Operation {
	if len(values) == 0 {
		return nil
	}
	if missing {
		return []jsonpatch.Operation{add(p, values)}
	}
	ops := make([]jsonpatch.Operation, len(values))
	for i, v := range values {
		ops[i] = add(p+"/-", v)
	}
	return ops
}
