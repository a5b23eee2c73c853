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

{{/* Environment, volumes and mounts shared by every gatekeeper container. */}}
{{- define "gatekeeper.env" -}}
- name: GATEKEEPER_CONFIG
  value: /etc/gatekeeper/gatekeeper.yaml
{{- if .Values.database.urlSecret.name }}
- name: GATEKEEPER_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.urlSecret.name }}
      key: {{ .Values.database.urlSecret.key }}
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
{{- end -}}

{{- define "gatekeeper.podLabels" -}}
{{ include "gatekeeper.labels" . }}
{{- end -}}

{{/*
Without a database URL each Pod keeps its own SQLite file on its emptyDir, which no other
Pod (the migration Job's included) can reach: each Pod then migrates its own file first.
*/}}
{{- define "gatekeeper.initContainers" -}}
{{- if not .Values.database.urlSecret.name -}}
initContainers:
  - name: db-upgrade
    image: {{ include "gatekeeper.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: [db, upgrade]
    env:
      {{- include "gatekeeper.env" . | nindent 6 }}
    resources:
      requests: {cpu: 50m, memory: 128Mi}
      limits: {cpu: 500m, memory: 256Mi}
    securityContext:
      {{- toYaml .Values.containerSecurityContext | nindent 6 }}
    volumeMounts:
      {{- include "gatekeeper.mounts" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "gatekeeper.dashboard.scheme" -}}
{{- if .Values.dashboard.tls.secretName }}https{{ else }}http{{ end -}}
{{- end -}}
