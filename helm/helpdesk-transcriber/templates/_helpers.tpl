{{/*
Names, labels and the pieces shared by the web, worker, migrations and reconcile pods.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "transcriber.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name: fullnameOverride, or "<release>-<chart>" (just the release
name when it already contains the chart name). Kept to 50 characters so that the longest
suffix ("-migrate", "-worker") still fits in a 63-character DNS label.
*/}}
{{- define "transcriber.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The reconcile CronJob's name. A CronJob name has at most 52 characters (its Jobs' names add a
timestamp), so the prefix is cut to 42 to leave room for "-reconcile".
*/}}
{{- define "transcriber.reconcileCronJobName" -}}
{{- printf "%s-reconcile" (include "transcriber.fullname" . | trunc 42 | trimSuffix "-") -}}
{{- end -}}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "transcriber.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: stable across upgrades (Deployment selectors are immutable).
Call with (dict "ctx" $ "component" "web").
*/}}
{{- define "transcriber.selectorLabels" -}}
app.kubernetes.io/name: {{ include "transcriber.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/*
The labels of every object, and the only place they are written.
Call with (dict "ctx" $ "component" "web"); component "" for shared objects.
*/}}
{{- define "transcriber.labels" -}}
{{ include "transcriber.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: helpdesk-transcriber
helm.sh/chart: {{ include "transcriber.chart" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The image reference: repository@digest when a digest is given, else repository:tag. */}}
{{- define "transcriber.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount of the web and worker pods. */}}
{{- define "transcriber.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "transcriber.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceAccount of the migrations Job. A pre-install hook runs before the release's own
ServiceAccount exists, so when the chart creates one, the Job gets a hook-scoped twin.
*/}}
{{- define "transcriber.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrate" (include "transcriber.fullname" .) -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Secret handling. The keys of the Secret are the environment variable names; this table maps
each to its value under .Values.secrets and says whether the app needs it.
*/}}
{{- define "transcriber.secretKeys" -}}
TRANSCRIBER_DATABASE_URL: {value: databaseUrl, required: true, env: true}
TRANSCRIBER_REDIS_URL: {value: redisUrl, required: true, env: true}
TRANSCRIBER_ENCRYPTION_KEYS: {value: encryptionKeys, required: true, env: true}
TRANSCRIBER_ADMIN_TOKEN: {value: adminToken, required: false, env: true}
OPENAI_API_KEY: {value: openaiApiKey, required: false, env: true}
SENTRY_DSN: {value: sentryDsn, required: false, env: true}
REDIS_PASSWORD: {value: redisPassword, required: false, env: false}
{{- end -}}

{{/* Name of the Secret the web and worker pods read. */}}
{{- define "transcriber.secretName" -}}
{{- default (include "transcriber.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
Name of the Secret the migrations Job reads: the existing Secret, or the hook-scoped copy
(the release's own Secret does not exist yet during pre-install).
*/}}
{{- define "transcriber.migrateSecretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-migrate" (include "transcriber.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The data block of a generated Secret (base64), shared by the Secret and its hook copy. */}}
{{- define "transcriber.secretData" -}}
{{- range $key, $spec := include "transcriber.secretKeys" . | fromYaml }}
{{- with index $.Values.secrets $spec.value }}
{{ $key }}: {{ . | toString | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Secret environment variables (secretKeyRef). With a generated Secret only the keys that have a
value are referenced; with an existing Secret the optional keys are optional references.
Call with (dict "ctx" $ "secretName" "…").
*/}}
{{- define "transcriber.secretEnv" -}}
{{- $ctx := .ctx -}}
{{- $secretName := .secretName -}}
{{- range $key, $spec := include "transcriber.secretKeys" $ctx | fromYaml }}
{{- if and $spec.env (or $ctx.Values.secrets.existingSecret (index $ctx.Values.secrets $spec.value)) }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $key }}
      {{- if not $spec.required }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Non-secret environment, as YAML key: "value" lines: the ConfigMap's data. */}}
{{- define "transcriber.configData" -}}
TRANSCRIBER_ENV: "production"
TRANSCRIBER_WORK_DIR: {{ .Values.config.workDir | quote }}
TRANSCRIBER_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
TRANSCRIBER_MAX_WEBHOOK_BYTES: {{ .Values.config.maxWebhookBytes | int64 | toString | quote }}
TRANSCRIBER_MAX_AUDIO_BYTES: {{ .Values.config.maxAudioBytes | int64 | toString | quote }}
TRANSCRIBER_ACCOUNT_CONCURRENCY: {{ .Values.config.accountConcurrency | int64 | toString | quote }}
TRANSCRIBER_MAX_ATTEMPTS: {{ .Values.config.maxAttempts | int64 | toString | quote }}
TRANSCRIBER_MAX_ATTACHMENTS: {{ .Values.config.maxAttachments | int64 | toString | quote }}
TRANSCRIBER_HTTP_REQUEST_TIMEOUT_SECONDS: {{ .Values.config.http.requestTimeoutSeconds | toString | quote }}
TRANSCRIBER_HTTP_KEEP_ALIVE_SECONDS: {{ .Values.config.http.keepAliveSeconds | toString | quote }}
TRANSCRIBER_HTTP_MAX_CONNECTIONS: {{ .Values.config.http.maxConnections | int64 | toString | quote }}
TRANSCRIBER_RECONCILE_INTERVAL_SECONDS: {{ .Values.reconcile.intervalSeconds | int64 | toString | quote }}
{{- with .Values.config.defaultEngine }}
TRANSCRIBER_DEFAULT_ENGINE: {{ . | quote }}
{{- end }}
{{- with .Values.config.openaiBaseUrl }}
OPENAI_BASE_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.statsd.host }}
STATSD_HOST: {{ . | quote }}
STATSD_PORT: {{ $.Values.config.statsd.port | int64 | toString | quote }}
STATSD_PREFIX: {{ $.Values.config.statsd.prefix | quote }}
{{- end }}
{{- end -}}

{{/*
Pod annotations that roll the pods when configuration changes. An existing Secret is not
visible to the chart: restart the Deployments (or use a reloader) after changing it.
*/}}
{{- define "transcriber.checksums" -}}
checksum/config: {{ include "transcriber.configData" . | sha256sum }}
{{- if .Values.secrets.existingSecret }}
checksum/secret: {{ printf "existing:%s" .Values.secrets.existingSecret | sha256sum }}
{{- else }}
checksum/secret: {{ include "transcriber.secretData" . | sha256sum }}
{{- end }}
{{- end -}}

{{/* The writable /tmp volume of every pod. */}}
{{- define "transcriber.tmpVolume" -}}
- name: tmp
  emptyDir:
    {{- with .Values.tmpVolume.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with .Values.tmpVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- end -}}

{{/* Probe timing fields from a values block. */}}
{{- define "transcriber.probeTimings" -}}
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end -}}

{{/*
Topology spread constraints of a component: entries without a labelSelector get the
component's selector labels. Call with (dict "ctx" $ "component" "web" "constraints" list).
*/}}
{{- define "transcriber.topologySpread" -}}
{{- $selector := include "transcriber.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml -}}
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
- {{ toYaml $c | nindent 2 | trim }}
{{- end }}
{{- end -}}

{{/* The worker's termination grace period: explicit, or the shutdown timeout plus 30 s. */}}
{{- define "transcriber.workerGracePeriod" -}}
{{- if kindIs "invalid" .Values.worker.terminationGracePeriodSeconds -}}
{{- add (int64 .Values.worker.shutdownTimeoutSeconds) 30 -}}
{{- else -}}
{{- int64 .Values.worker.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* Whether KEDA needs a TriggerAuthentication, and which Secret key holds the password. */}}
{{- define "transcriber.kedaPasswordKey" -}}
{{- if .Values.autoscaling.keda.redis.passwordSecretKey -}}
{{- .Values.autoscaling.keda.redis.passwordSecretKey -}}
{{- else if and (not .Values.secrets.existingSecret) .Values.secrets.redisPassword -}}
REDIS_PASSWORD
{{- end -}}
{{- end -}}

{{/* True when the worker is scaled by KEDA. */}}
{{- define "transcriber.kedaEnabled" -}}
{{- if and .Values.autoscaling.worker.enabled (eq .Values.autoscaling.autoscaler "keda") -}}
true
{{- end -}}
{{- end -}}

{{/*
Checks of combinations the schema cannot express. Each message names the value path to fix.
*/}}
{{- define "transcriber.validate" -}}
{{- $v := .Values -}}
{{- if $v.secrets.existingSecret -}}
  {{- range $key, $spec := include "transcriber.secretKeys" . | fromYaml -}}
    {{- if and (index $v.secrets $spec.value) (ne $spec.value "redisPassword") -}}
      {{- fail (printf "secrets.%s must be empty when secrets.existingSecret is set: put %s in the Secret %q instead" $spec.value $key $v.secrets.existingSecret) -}}
    {{- end -}}
  {{- end -}}
  {{- if $v.secrets.redisPassword -}}
    {{- fail "secrets.redisPassword must be empty when secrets.existingSecret is set: name the key in autoscaling.keda.redis.passwordSecretKey instead" -}}
  {{- end -}}
{{- else -}}
  {{- if not $v.secrets.databaseUrl -}}
    {{- fail "secrets.databaseUrl or secrets.existingSecret is required (TRANSCRIBER_DATABASE_URL, e.g. postgresql+psycopg://user:password@host:5432/transcriber)" -}}
  {{- end -}}
  {{- if not $v.secrets.redisUrl -}}
    {{- fail "secrets.redisUrl or secrets.existingSecret is required (TRANSCRIBER_REDIS_URL, the Dramatiq broker)" -}}
  {{- end -}}
  {{- if not $v.secrets.encryptionKeys -}}
    {{- fail "secrets.encryptionKeys or secrets.existingSecret is required (TRANSCRIBER_ENCRYPTION_KEYS: the app refuses to start in production without it)" -}}
  {{- end -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
  {{- fail "ingress.hosts must name at least one host when ingress.enabled is true" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.ingress.from) -}}
  {{- fail "networkPolicy.ingress.from must list at least one source when networkPolicy.enabled is true (use [{ipBlock: {cidr: 0.0.0.0/0}}] to allow every source)" -}}
{{- end -}}
{{- if le (int64 (include "transcriber.workerGracePeriod" .)) (int64 $v.worker.shutdownTimeoutSeconds) -}}
  {{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be greater than worker.shutdownTimeoutSeconds (%d), or Kubernetes kills in-flight transcriptions" (int64 (include "transcriber.workerGracePeriod" .)) (int64 $v.worker.shutdownTimeoutSeconds)) -}}
{{- end -}}
{{- if le (int64 $v.web.terminationGracePeriodSeconds) (int64 $v.web.preStopSleepSeconds) -}}
  {{- fail (printf "web.terminationGracePeriodSeconds (%d) must be greater than web.preStopSleepSeconds (%d)" (int64 $v.web.terminationGracePeriodSeconds) (int64 $v.web.preStopSleepSeconds)) -}}
{{- end -}}
{{- range $component := list "web" "worker" -}}
  {{- $pdb := (index $v $component).pdb -}}
  {{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) -}}
    {{- fail (printf "%s.pdb: set only one of minAvailable and maxUnavailable (make the other null)" $component) -}}
  {{- end -}}
  {{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) -}}
    {{- fail (printf "%s.pdb: set one of minAvailable and maxUnavailable, or %s.pdb.enabled=false" $component $component) -}}
  {{- end -}}
  {{- $as := index $v.autoscaling $component -}}
  {{- if and $as.enabled (lt (int64 $as.maxReplicas) (int64 $as.minReplicas)) -}}
    {{- fail (printf "autoscaling.%s.maxReplicas (%d) must be at least autoscaling.%s.minReplicas (%d)" $component (int64 $as.maxReplicas) $component (int64 $as.minReplicas)) -}}
  {{- end -}}
{{- end -}}
{{- if and $v.autoscaling.web.enabled (lt (int64 $v.autoscaling.web.minReplicas) 1) -}}
  {{- fail "autoscaling.web.minReplicas must be at least 1" -}}
{{- end -}}
{{- if $v.autoscaling.worker.enabled -}}
  {{- if eq $v.autoscaling.autoscaler "keda" -}}
    {{- if not $v.autoscaling.keda.redis.address -}}
      {{- fail "autoscaling.keda.redis.address is required when autoscaling.autoscaler is keda (host:port of the Redis holding the Dramatiq queues)" -}}
    {{- end -}}
  {{- else if lt (int64 $v.autoscaling.worker.minReplicas) 1 -}}
    {{- fail "autoscaling.worker.minReplicas may be 0 only with autoscaling.autoscaler=keda" -}}
  {{- end -}}
{{- end -}}
{{- if and $v.autoscaling.keda.redis.passwordSecretKey (not $v.secrets.existingSecret) -}}
  {{- fail "autoscaling.keda.redis.passwordSecretKey names a key of secrets.existingSecret: with a generated Secret, set secrets.redisPassword instead" -}}
{{- end -}}
{{- if or (not (hasPrefix "/tmp/" (printf "%s/" (trimSuffix "/" $v.config.workDir)))) (eq (trimSuffix "/" $v.config.workDir) "/tmp") -}}
  {{- fail (printf "config.workDir (%s) must be a directory under /tmp (the only writable directory of the read-only container), not /tmp itself: the service makes it private (0700)" $v.config.workDir) -}}
{{- end -}}
{{- end -}}

{{/*
The values block of a component, as YAML: "valuesKey" when it differs from the component label,
a dotted path for a nested block ("migrations", "reconcile.cronJob"), else the component's own
block. Call with the same dict as the helpers below.
*/}}
{{- define "transcriber.componentValues" -}}
{{- $values := .ctx.Values -}}
{{- range splitList "." (.valuesKey | default .component) }}
{{- $values = index $values . }}
{{- end }}
{{- toYaml $values -}}
{{- end -}}

{{/*
Container fields shared by web, worker, migrations and the reconcile CronJob: image, security
context, /tmp mount and environment. Call with (dict "ctx" $ "component" "web" "secretName" "…"
"inlineConfig" bool), plus "valuesKey" as for transcriber.componentValues. inlineConfig writes
the non-secret settings as plain env (the migrations hook runs before the ConfigMap exists)
instead of an envFrom reference to the ConfigMap.
*/}}
{{- define "transcriber.containerCommon" -}}
{{- $ctx := .ctx -}}
image: {{ include "transcriber.image" $ctx | quote }}
imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
securityContext:
  {{- toYaml $ctx.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
env:
  {{- if .inlineConfig }}
  {{- range $key, $value := include "transcriber.configData" $ctx | fromYaml }}
  - name: {{ $key }}
    value: {{ $value | toString | quote }}
  {{- end }}
  {{- end }}
  {{- include "transcriber.secretEnv" (dict "ctx" $ctx "secretName" .secretName) | trim | nindent 2 }}
  {{- with $ctx.Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- with (include "transcriber.componentValues" . | fromYaml).extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or (not .inlineConfig) $ctx.Values.extraEnvFrom }}
envFrom:
  {{- if not .inlineConfig }}
  - configMapRef:
      name: {{ include "transcriber.fullname" $ctx }}
  {{- end }}
  {{- with $ctx.Values.extraEnvFrom }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Pod spec fields shared by every pod: account, security, scheduling and volumes.
Call with (dict "ctx" $ "component" "web" "serviceAccountName" "…"); "valuesKey" names the
values block when it differs from the component label (see transcriber.componentValues).
*/}}
{{- define "transcriber.podCommon" -}}
{{- $ctx := .ctx -}}
{{- $values := include "transcriber.componentValues" . | fromYaml -}}
serviceAccountName: {{ .serviceAccountName }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- include "transcriber.topologySpread" (dict "ctx" $ctx "component" $.component "constraints" .) | trim | nindent 2 }}
{{- end }}
volumes:
  {{- include "transcriber.tmpVolume" $ctx | nindent 2 }}
{{- end -}}

{{/* Pod template metadata: labels, checksums and user annotations. */}}
{{- define "transcriber.podMetadata" -}}
{{- $ctx := .ctx -}}
{{- $values := include "transcriber.componentValues" . | fromYaml -}}
labels:
  {{- include "transcriber.labels" (dict "ctx" $ctx "component" .component) | nindent 2 }}
  {{- with $values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or .checksums $values.podAnnotations }}
annotations:
  {{- if .checksums }}
  {{- include "transcriber.checksums" $ctx | nindent 2 }}
  {{- end }}
  {{- with $values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Egress rules: DNS, then the database, Redis and HTTPS (Chatwoot, OpenAI, Sentry) as asked,
StatsD when metrics are on, then the user's extra rules. An empty `to` allows any destination
on that port. Call with (dict "ctx" $ "database" true "redis" true "https" true).
*/}}
{{- define "transcriber.egressRules" -}}
{{- $egress := .ctx.Values.networkPolicy.egress -}}
{{- if $egress.dns.enabled }}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with $egress.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- range $name := list "database" "redis" "https" }}
{{- if index $ $name }}
{{- $rule := index $egress $name }}
- ports:
    - port: {{ $rule.port | int64 }}
      protocol: TCP
  {{- with $rule.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
{{- if and .https .ctx.Values.config.statsd.host }}
- ports:
    - port: {{ .ctx.Values.config.statsd.port | int64 }}
      protocol: UDP
{{- end }}
{{- if .https }}
{{- with $egress.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}
