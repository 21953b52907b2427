{{/* Labels every object of the chart carries; kept identical to deploy/ so both installs look the same. */}}
{{- define "pggat.labels" -}}
app.kubernetes.io/name: pggat-operator
app.kubernetes.io/part-of: pggat
{{- end -}}

{{- define "pggat.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "pggat.certManager" -}}
{{- if eq .Values.webhook.certificate.mode "cert-manager" -}}true{{- else if eq .Values.webhook.certificate.mode "self-signed" -}}{{- else -}}
{{- fail (printf "webhook.certificate.mode %q is not known; accepted: self-signed, cert-manager" .Values.webhook.certificate.mode) -}}
{{- end -}}
{{- end -}}
