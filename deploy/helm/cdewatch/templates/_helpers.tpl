{{/* The chart's name. */}}
{{- define "cdewatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The objects' name: the release name if it contains the chart's name. */}}
{{- define "cdewatch.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the pod; never change them on upgrade. */}}
{{- define "cdewatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cdewatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "cdewatch.labels" -}}
{{ include "cdewatch.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The API port: the port of config.listen. */}}
{{- define "cdewatch.port" -}}
{{- $p := regexFind "[0-9]+$" (toString .Values.config.listen) -}}
{{- required "config.listen must end in a port number, e.g. \":8470\"" $p -}}
{{- end -}}

{{/* HTTPS when config.tls names a certificate. */}}
{{- define "cdewatch.scheme" -}}
{{- if dig "tls" "cert" "" .Values.config -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/* The image reference: by digest when one is given. */}}
{{- define "cdewatch.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}
