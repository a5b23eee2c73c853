{{- define "gatekeeper.fullname" -}}
{{- printf "%s" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatekeeper.labels" -}}
app.kubernetes.io/name: gitops-gatekeeper
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gatekeeper.selector" -}}
app.kubernetes.io/name: gitops-gatekeeper
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatekeeper.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "gatekeeper.identity" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ .Values.serviceAccount.name }}
{{- end -}}

{{/*
The Secret holding the PostgreSQL URL: database.urlSecret.name, or the chart's own
(<release>-database) made from database.url; "" with SQLite. One of the two at most.
*/}}
{{- define "gatekeeper.database.secret" -}}
{{- $database := .Values.database -}}
{{- if and $database.url $database.urlSecret.name -}}
{{- fail "database: url and urlSecret.name are both set, but the URL comes from one of them" -}}
{{- end -}}
{{- if $database.url -}}
{{- if not (regexMatch "^postgresql(\\+[a-z0-9]+)?://" $database.url) -}}
{{- fail "database.url is not a PostgreSQL URL (postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE): only PostgreSQL is shared between Pods" -}}
{{- end -}}
{{- include "gatekeeper.fullname" . }}-database
{{- else -}}
{{- $database.urlSecret.name -}}
{{- end -}}
{{- end -}}

{{/*
The Secret the migration Job reads: with database.url, the chart's hook copy of it (deleted once
the hooks have run); with database.urlSecret, that Secret.
*/}}
{{- define "gatekeeper.database.hookSecret" -}}
{{- if .Values.database.url -}}
{{- include "gatekeeper.fullname" . }}-database-migrate
{{- else -}}
{{- include "gatekeeper.database.secret" . -}}
{{- end -}}
{{- end -}}

{{- define "gatekeeper.database.key" -}}
{{- if .Values.database.url }}url{{ else }}{{ .Values.database.urlSecret.key }}{{ end -}}
{{- end -}}

{{/* Environment, volumes and mounts shared by every gatekeeper container. */}}
{{- define "gatekeeper.env" -}}
- name: GATEKEEPER_CONFIG
  value: /etc/gatekeeper/gatekeeper.yaml
{{- with include "gatekeeper.database.secret" . }}
- name: GATEKEEPER_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "gatekeeper.database.key" $ }}
{{- end }}
{{- end -}}

{{- define "gatekeeper.mounts" -}}
- name: config
  mountPath: /etc/gatekeeper
  readOnly: true
- name: audit-key
  mountPath: /etc/gatekeeper-keys
  readOnly: true
- name: data
  mountPath: /var/lib/gatekeeper
# The root filesystem is read-only: temporary files (a commit's export, report drafts) go here.
- name: tmp
  mountPath: /tmp
- name: policy-data
  mountPath: /etc/gatekeeper-policy-data
  readOnly: true
{{- end -}}

{{- define "gatekeeper.volumes" -}}
- name: config
  configMap:
    name: {{ include "gatekeeper.fullname" . }}-config
- name: audit-key
  secret:
    secretName: {{ .Values.audit.keySecret }}
    defaultMode: 0400
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: policy-data
  configMap:
    name: {{ include "gatekeeper.fullname" . }}-policy-data
{{- end -}}

{{- define "gatekeeper.podLabels" -}}
{{ include "gatekeeper.labels" . }}
{{- end -}}

{{/*
Without a database URL each Pod keeps its own SQLite file on its emptyDir, which no other
Pod (the migration Job's included) can reach: each Pod then migrates its own file first.
*/}}
{{- define "gatekeeper.initContainers" -}}
{{- with include "gatekeeper.dbUpgradeContainer" . -}}
initContainers:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "gatekeeper.dbUpgradeContainer" -}}
{{- if not (include "gatekeeper.database.secret" .) -}}
- name: db-upgrade
  image: {{ include "gatekeeper.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: [db, upgrade]
  env:
    {{- include "gatekeeper.env" . | nindent 4 }}
  resources:
    requests: {cpu: 50m, memory: 128Mi}
    limits: {cpu: 500m, memory: 256Mi}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "gatekeeper.mounts" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
Where the webhook's serving certificate comes from: "certManager" (webhook.tls.certManager),
"secret" (a Secret you made, whose CA is webhook.tls.caBundle) or "generate" (neither: the
webhook makes a CA and a certificate itself, keeps them in webhook.tls.secretName, renews
them and sets the caBundle; `gatekeeper webhook certs`).
*/}}
{{- define "gatekeeper.tls.mode" -}}
{{- $tls := .Values.webhook.tls -}}
{{- if and $tls.certManager.enabled $tls.caBundle -}}
{{- fail "webhook.tls: certManager.enabled and caBundle are both set, but cert-manager injects the CA itself: leave caBundle empty" -}}
{{- end -}}
{{- if $tls.certManager.enabled -}}
certManager
{{- else if $tls.caBundle -}}
secret
{{- else -}}
generate
{{- end -}}
{{- end -}}

{{/* The webhook's certificate keeper, as init container ("once") or beside the server. */}}
{{- define "gatekeeper.certsContainer" -}}
- name: {{ if .once }}webhook-certs{{ else }}cert-keeper{{ end }}
  image: {{ include "gatekeeper.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: [webhook, certs{{ if not .once }}, --watch{{ end }}]
  env:
    - name: GATEKEEPER_CONFIG
      value: /etc/gatekeeper/gatekeeper.yaml
  resources:
    requests: {cpu: 10m, memory: 96Mi}
    limits: {cpu: 200m, memory: 192Mi}
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/gatekeeper
      readOnly: true
    - name: tls
      mountPath: /etc/gatekeeper-tls
{{- end -}}

{{/*
The namespaces the webhook never guards, in the two groups of its namespaceSelector: the
cluster's own and the gatekeeper's (kube-system, the release's, the witness's), and
kube-node-lease, where every kubelet renews its Lease every ten seconds.
*/}}
{{- define "gatekeeper.excluded" -}}
{{- $names := list "kube-system" .Release.Namespace -}}
{{- $witness := include "gatekeeper.witness.namespace" . -}}
{{- if eq (include "gatekeeper.witness" .) "configMap" -}}
{{- $names = append $names $witness -}}
{{- end -}}
{{- toJson ($names | uniq) -}}
{{- end -}}

{{- define "gatekeeper.dashboard.scheme" -}}
{{- if .Values.dashboard.tls.secretName }}https{{ else }}http{{ end -}}
{{- end -}}

{{/*
The audit witness the values choose: "configMap", "folder" or "" (none). Every template that
depends on it asks here, so a refusal reads the same whichever template renders first.
*/}}
{{- define "gatekeeper.witness" -}}
{{- $witness := .Values.audit.witness -}}
{{- $folder := not (empty $witness.folder.volume) -}}
{{- if and $witness.configMap.enabled $folder -}}
{{- fail "audit.witness: configMap.enabled and folder.volume are both set, but checkpoints are witnessed in one place: set audit.witness.configMap.enabled=false to keep them in the folder" -}}
{{- end -}}
{{- if $folder -}}
{{- if not (include "gatekeeper.database.secret" .) -}}
{{- fail "audit.witness.folder needs a shared database (database.urlSecret): with SQLite each Pod keeps a log of its own, and their checkpoints cannot share one witness" -}}
{{- end -}}
{{- if not (isAbs $witness.folder.mountPath) -}}
{{- fail (printf "audit.witness.folder.mountPath %q is not an absolute path" $witness.folder.mountPath) -}}
{{- end -}}
folder
{{- else if and $witness.configMap.enabled (include "gatekeeper.database.secret" .) -}}
{{- $label := "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" -}}
{{- /* The name is also a label value, hence a DNS label rather than a subdomain. */ -}}
{{- range $what, $value := dict "name" $witness.configMap.name "namespace" (include "gatekeeper.witness.namespace" $) -}}
{{- if not (regexMatch $label $value) -}}
{{- fail (printf "audit.witness.configMap.%s %q is not a lower-case DNS label (at most 63 of a-z, 0-9 and -)" $what $value) -}}
{{- end -}}
{{- end -}}
configMap
{{- end -}}
{{- end -}}

{{- define "gatekeeper.witness.namespace" -}}
{{- .Values.audit.witness.configMap.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The folder witness's mount; call with (dict "root" $ "readOnly" true|false). */}}
{{- define "gatekeeper.witness.volumeMount" -}}
{{- if eq (include "gatekeeper.witness" .root) "folder" -}}
- name: witness
  mountPath: {{ .root.Values.audit.witness.folder.mountPath }}
  {{- if .readOnly }}
  readOnly: true
  {{- end }}
{{- end -}}
{{- end -}}

{{- define "gatekeeper.witness.volume" -}}
{{- if eq (include "gatekeeper.witness" .) "folder" -}}
- name: witness
  {{- toYaml (omit .Values.audit.witness.folder.volume "name") | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
Where the webhook's client CA comes from: "secret", "configMap", "inline" or "" (none, and
then any client that reaches the webhook's port can submit reviews). One at most.
*/}}
{{- define "gatekeeper.clientCa" -}}
{{- $auth := .Values.webhook.clientAuth -}}
{{- $given := list -}}
{{- if $auth.caSecret }}{{ $given = append $given "caSecret" }}{{ end -}}
{{- if $auth.caConfigMap }}{{ $given = append $given "caConfigMap" }}{{ end -}}
{{- if $auth.caPem }}{{ $given = append $given "caPem" }}{{ end -}}
{{- if gt (len $given) 1 -}}
{{- fail (printf "webhook.clientAuth: %s are all set, but the client CA comes from one of them" (join " and " $given)) -}}
{{- end -}}
{{- if and $auth.names (not $given) -}}
{{- fail "webhook.clientAuth.names needs a client CA: set caSecret, caConfigMap or caPem" -}}
{{- end -}}
{{- if $auth.caPem -}}
{{- if not (contains "-----BEGIN CERTIFICATE-----" $auth.caPem) -}}
{{- fail "webhook.clientAuth.caPem is not a PEM certificate (-----BEGIN CERTIFICATE-----)" -}}
{{- end -}}
inline
{{- else if $auth.caSecret -}}
secret
{{- else if $auth.caConfigMap -}}
configMap
{{- end -}}
{{- end -}}

{{- define "gatekeeper.clientCa.mountPath" -}}
/etc/gatekeeper-client-ca
{{- end -}}

{{- define "gatekeeper.clientCa.volume" -}}
{{- $source := include "gatekeeper.clientCa" . -}}
{{- $items := list (dict "key" .Values.webhook.clientAuth.caKey "path" "ca.crt") -}}
{{- if eq $source "secret" -}}
- name: client-ca
  secret:
    secretName: {{ .Values.webhook.clientAuth.caSecret }}
    items: {{ toYaml $items | nindent 6 }}
{{- else if eq $source "configMap" -}}
- name: client-ca
  configMap:
    name: {{ .Values.webhook.clientAuth.caConfigMap }}
    items: {{ toYaml $items | nindent 6 }}
{{- else if eq $source "inline" -}}
- name: client-ca
  configMap:
    name: {{ include "gatekeeper.fullname" . }}-webhook-client-ca
{{- end -}}
{{- end -}}

{{/* A preStop hook that waits `seconds` (docs/chart.md, "Stopping"). */}}
{{- define "gatekeeper.preStop" -}}
{{- $seconds := int .seconds -}}
lifecycle:
  preStop:
    {{- if eq .root.Values.preStopAction "sleep" }}
    sleep: {seconds: {{ $seconds }}}
    {{- else if eq .root.Values.preStopAction "exec" }}
    exec: {command: [sleep, {{ $seconds | quote }}]}
    {{- else }}
    {{- fail "preStopAction must be exec or sleep" }}
    {{- end }}
{{- end -}}
