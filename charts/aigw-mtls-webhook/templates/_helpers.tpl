{{/* Names */}}

{{- define "aigw-mtls-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's object names: fullnameOverride, else the release name when it already holds the chart name. */}}
{{- define "aigw-mtls-webhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "aigw-mtls-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels */}}

{{- define "aigw-mtls-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aigw-mtls-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels of every object; callers add app.kubernetes.io/component. */}}
{{- define "aigw-mtls-webhook.labels" -}}
helm.sh/chart: {{ include "aigw-mtls-webhook.chart" . }}
{{ include "aigw-mtls-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: aigw-mtls
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the aigw PKI: the standard ones plus the selector label, so the webhook caches them. */}}
{{- define "aigw-mtls-webhook.pkiLabels" -}}
{{ include "aigw-mtls-webhook.labels" . }}
app.kubernetes.io/component: pki
{{ include "aigw-mtls-webhook.selectorLabel" . }}
{{- end }}

{{- define "aigw-mtls-webhook.selectorLabel" -}}
{{ .Values.selector.key }}: {{ .Values.selector.value | quote }}
{{- end }}

{{/* Objects of the release */}}

{{- define "aigw-mtls-webhook.serviceAccountName" -}}
{{ include "aigw-mtls-webhook.fullname" . }}
{{- end }}

{{- define "aigw-mtls-webhook.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* The webhook's serving Certificate, its Secret (mounted at /certs) and its issuing chain. */}}
{{- define "aigw-mtls-webhook.servingCertificate" -}}
{{ include "aigw-mtls-webhook.fullname" . }}-serving
{{- end }}

{{- define "aigw-mtls-webhook.servingSecret" -}}
{{ include "aigw-mtls-webhook.fullname" . }}-serving-tls
{{- end }}

{{- define "aigw-mtls-webhook.webhookCA" -}}
{{ include "aigw-mtls-webhook.fullname" . }}-ca
{{- end }}

{{- define "aigw-mtls-webhook.selfSignedIssuer" -}}
{{ include "aigw-mtls-webhook.fullname" . }}-selfsigned
{{- end }}

{{/* Namespaces never mutated or validated: the system ones, the release's, and the extra ones (comma list). */}}
{{- define "aigw-mtls-webhook.excludedNamespaces" -}}
{{- concat (list "kube-system" "kube-node-lease" .Release.Namespace) .Values.excludeNamespaces | uniq | join "," }}
{{- end }}

{{/* The flags of every SPEC default, shared by serve (the Deployment) and check (NOTES), space
separated (the schema keeps spaces out of every value). */}}
{{- define "aigw-mtls-webhook.settingsArgs" -}}
{{- $w := .Values.wiring -}}
{{- $args := list (printf "--selector=%s=%s" .Values.selector.key .Values.selector.value) (printf "--mode=%s" .Values.mode) -}}
{{- range list "container=container" "caSecret=ca-secret" "caKey=ca-key" "caVolume=ca-volume" "caMountPath=ca-mount-path" "serverTLSSecret=server-tls-secret" "serverTLSVolume=server-tls-volume" "serverTLSMountPath=server-tls-mount-path" "serverCertFile=server-cert-file" "serverKeyFile=server-key-file" "clientTLSSecret=client-tls-secret" "policy=policy" "configKey=config-key" }}
{{- $pair := splitList "=" . }}
{{- $args = append $args (printf "--%s=%s" (last $pair) (get $w (first $pair))) }}
{{- end }}
{{- join " " $args }}
{{- end }}

{{/* The cert-manager CA Secret the CA sync copies (empty: CA sync off). */}}
{{- define "aigw-mtls-webhook.caSyncSource" -}}
{{- if .Values.caSync.sourceSecret }}
{{- .Values.caSync.sourceSecret }}
{{- else if .Values.pki.enabled }}
{{- .Values.pki.ca.secretName }}
{{- end }}
{{- end }}

{{/* Namespaces where the CA sync writes Secrets (comma list; empty when the CA sync is off). */}}
{{- define "aigw-mtls-webhook.caSyncNamespaces" -}}
{{- if include "aigw-mtls-webhook.caSyncSource" . }}
{{- if .Values.caSync.namespaces }}
{{- .Values.caSync.namespaces | uniq | join "," }}
{{- else }}
{{- .Values.pki.namespace }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the webhook reads Secrets in every namespace: access.clusterWideSecrets, or a CA sync
in every namespace (caSync.namespaces ["*"]), whose sources it reads from its cache. */}}
{{- define "aigw-mtls-webhook.clusterWideSecrets" -}}
{{- if or .Values.access.clusterWideSecrets (has "*" (splitList "," (include "aigw-mtls-webhook.caSyncNamespaces" .))) }}true{{ end }}
{{- end }}

{{/* Namespaces whose labelled Secrets the webhook reads (comma list; empty when it reads every
namespace): access.secretNamespaces, else pki.namespace and the CA sync's namespaces. */}}
{{- define "aigw-mtls-webhook.secretNamespaces" -}}
{{- if not (include "aigw-mtls-webhook.clusterWideSecrets" .) }}
{{- if .Values.access.secretNamespaces }}
{{- .Values.access.secretNamespaces | uniq | join "," }}
{{- else }}
{{- $caSync := include "aigw-mtls-webhook.caSyncNamespaces" . }}
{{- concat (list .Values.pki.namespace) (ternary (splitList "," $caSync) (list) (ne $caSync "")) .Values.restartOnRenewal.namespaces | uniq | join "," }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ServiceAccount's user name, as the API server authenticates it. */}}
{{- define "aigw-mtls-webhook.serviceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "aigw-mtls-webhook.serviceAccountName" . }}
{{- end }}

{{/* aigw's server certificate DNS names (YAML list). */}}
{{- define "aigw-mtls-webhook.serverDNSNames" -}}
{{- $ns := .Values.pki.namespace -}}
{{- .Values.pki.server.dnsNames | default (list (printf "aigw.%s.svc.cluster.local" $ns) (printf "aigw.%s.svc" $ns)) | toYaml }}
{{- end }}

{{/* Webhook configurations */}}

{{/* What every webhook shares; the caller passes (dict "ctx" $ "path" "/..." ). */}}
{{- define "aigw-mtls-webhook.webhookCommon" -}}
{{- $ := .ctx -}}
admissionReviewVersions: [v1]
sideEffects: None
matchPolicy: Equivalent
timeoutSeconds: {{ $.Values.timeoutSeconds }}
clientConfig:
  service:
    name: {{ include "aigw-mtls-webhook.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
    path: {{ .path }}
    port: 443
objectSelector:
  matchLabels:
    {{- include "aigw-mtls-webhook.selectorLabel" $ | nindent 4 }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- range splitList "," (include "aigw-mtls-webhook.excludedNamespaces" $) }}
        - {{ . }}
        {{- end }}
{{- end }}

{{/* podInjection.engine, refused as policy where the API server does not serve MutatingAdmissionPolicy v1. */}}
{{- define "aigw-mtls-webhook.podEngine" -}}
{{- $engine := .Values.podInjection.engine | default "webhook" -}}
{{- if and (eq $engine "policy") (not (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")) -}}
{{- fail "podInjection.engine=policy: this cluster does not serve admissionregistration.k8s.io/v1 MutatingAdmissionPolicy; use podInjection.engine=webhook" -}}
{{- end -}}
{{- $engine -}}
{{- end }}

{{/* The pods the pod policies match: those the webhook's pod hooks match (same selector, same
excluded namespaces), on one operation: (dict "ctx" . "operation" "CREATE"). */}}
{{- define "aigw-mtls-webhook.podPolicyMatch" -}}
{{- $ := .ctx -}}
matchConstraints:
  matchPolicy: Equivalent
  resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      resources: [pods]
      operations: [{{ .operation }}]
  objectSelector:
    matchLabels:
      {{- include "aigw-mtls-webhook.selectorLabel" $ | nindent 6 }}
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values:
          {{- range splitList "," (include "aigw-mtls-webhook.excludedNamespaces" $) }}
          - {{ . }}
          {{- end }}
{{- end }}

{{/* One rule: (dict "group" "" "resource" "pods" "operations" (list "CREATE")) */}}
{{- define "aigw-mtls-webhook.rule" -}}
rules:
  - apiGroups: [{{ .group | quote }}]
    apiVersions: [v1]
    resources: [{{ .resource }}]
    operations: [{{ join ", " .operations }}]
    scope: Namespaced
{{- end }}

{{/* cert-manager */}}

{{/* A Certificate's privateKey from a values block {algorithm, size}. */}}
{{- define "aigw-mtls-webhook.privateKey" -}}
privateKey:
  algorithm: {{ .algorithm }}
  {{- if ne .algorithm "Ed25519" }}
  size: {{ .size }}
  {{- end }}
  rotationPolicy: Always
{{- end }}

{{/* RBAC */}}

{{/* The CA sync's Secret writes. RBAC cannot restrict create by name (the object does not exist
yet), so create is granted for any Secret; update, patch and delete only for the target by name.
The CA sync writes only the Secret it owns (annotated mtls.aigw.io/ca-sync-source), never a
hand-made one, and deletes its own only to change its type to nginx.org/ca. */}}
{{- define "aigw-mtls-webhook.caSyncRules" -}}
{{- if .Values.caSync.precreateSecret -}}
# caSync.precreateSecret: the chart creates {{ .Values.wiring.caSecret }}; the CA sync only rewrites it (a
# Secret's type cannot change), so no Secret create or delete.
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [{{ .Values.wiring.caSecret }}]
  verbs: [get, update, patch]
{{- else -}}
# create: only the nginx.org/ca Secret {{ .Values.wiring.caSecret }}, enforced by the
# ValidatingAdmissionPolicy {{ include "aigw-mtls-webhook.fullname" . }}-secret-writes (RBAC cannot scope create by name).
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [{{ .Values.wiring.caSecret }}]
  verbs: [get, update, patch, delete]
{{- end }}
{{- if .Values.gatewayAPI.enabled }}
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [{{ .Values.wiring.caSecret }}]
  verbs: [update]
{{- end }}
{{- end }}

{{/* Reading the labelled Secrets the rules and the CA sync consult (the cache keeps only their
certificates). */}}
{{- define "aigw-mtls-webhook.secretReadRules" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
{{- end }}

{{/* Admission policies */}}

{{/* CEL: a list of the field paths (relative to object and oldObject) whose values differ, a field
absent on both sides counting as unchanged. The caller passes the list of paths. */}}
{{- define "aigw-mtls-webhook.celChangedFields" -}}
{{- $terms := list -}}
{{- range . }}
{{- $terms = append $terms (printf "((has(object.%s) == has(oldObject.%s) && (!has(object.%s) || object.%s == oldObject.%s)) ? [] : ['%s'])" . . . . . .) }}
{{- end }}
{{- join " + " $terms }}
{{- end }}

{{/* CEL: the keys of the annotation maps variables.<new> and variables.<old> that differ, besides
the one key the ServiceAccount writes. (dict "new" "newAnnotations" "old" "oldAnnotations" "key" "mtls.aigw.io/…") */}}
{{- define "aigw-mtls-webhook.celChangedKeys" -}}
variables.{{ .new }}.filter(k, k != '{{ .key }}' && !(k in variables.{{ .old }} && variables.{{ .old }}[k] == variables.{{ .new }}[k])) + variables.{{ .old }}.filter(k, k != '{{ .key }}' && !(k in variables.{{ .new }}))
{{- end }}

{{/*
GOMEMLIMIT in bytes: goMemLimitPercent of resources.limits.memory when it is a whole number of
bytes, with an optional Kubernetes unit (256Mi, 1G, 268435456, also as a YAML number); empty
otherwise (1.5Gi, 1e9, no limit: the Deployment then sets it to the whole limit). The rest of the
limit holds what the Go runtime does not count: the binary's mapped pages (about 42 MiB).
*/}}
{{- define "aigw-mtls-webhook.goMemLimit" -}}
{{- $m := dig "limits" "memory" "" (.Values.resources | default dict) -}}
{{- if kindIs "float64" $m -}}{{- $m = printf "%.0f" $m -}}{{- end -}}
{{- $m = toString $m -}}
{{- if or (regexMatch "^[0-9]{1,6}(k|M|G|T|Ki|Mi|Gi|Ti)$" $m) (regexMatch "^[0-9]{1,18}$" $m) -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- $n := regexFind "^[0-9]+" $m | atoi -}}
{{- $unit := regexReplaceAll "^[0-9]+" $m "" -}}
{{- $percent := int (.Values.goMemLimitPercent | default 80) -}}
{{- $bytes := mul $n (get $units $unit) -}}
{{- if gt (int64 $bytes) 0 -}}
{{- if lt (int64 $bytes) 90000000000000000 -}}{{ div (mul $bytes $percent) 100 }}{{- else -}}{{ mul (div $bytes 100) $percent }}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
