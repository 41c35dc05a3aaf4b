{{- define "voltaic.fullname" -}}{{ .Release.Name }}-voltaic{{- end -}}
{{- define "voltaic.secretName" -}}{{ if .Values.existingSecret }}{{ .Values.existingSecret }}{{ else }}{{ .Release.Name }}-voltaic{{ end }}{{- end -}}
