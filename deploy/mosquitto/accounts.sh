#!/bin/sh
# Creates the platform's broker identity (EdgeGateway's shared subscription) once. mosquitto_ctrl
# exits 0 even when the broker answers with an error ("Client not found"), so the outcome is read
# from what it prints, and checked at the end.
set -eu
ctrl() { mosquitto_ctrl -h mosquitto -p 1883 -u sensormine-admin -P sensormine-dev-admin dynsec "$@" 2>&1; }
has_service_role() { ctrl getClient sensormine-service | grep -q '^Roles:.*service'; }
if has_service_role; then exit 0; fi
ctrl createRole service >/dev/null
for acl in publishClientSend publishClientReceive subscribePattern unsubscribePattern; do ctrl addRoleACL service "$acl" "#" allow 5 >/dev/null; done
ctrl createClient sensormine-service -p sensormine-dev-service >/dev/null
ctrl addClientRole sensormine-service service 5 >/dev/null
has_service_role || { echo "accounts.sh: sensormine-service was not created:"; ctrl getClient sensormine-service; exit 1; }
echo "accounts.sh: sensormine-service created"
