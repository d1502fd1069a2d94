#!/bin/sh
# Creates the platform's broker identity (EdgeGateway's shared subscription) once.
set -eu
ctrl() { mosquitto_ctrl -h mosquitto -p 1883 -u sensormine-admin -P sensormine-dev-admin dynsec "$@"; }
if ctrl getClient sensormine-service >/dev/null 2>&1; then exit 0; fi
ctrl createRole service
for acl in publishClientSend publishClientReceive subscribePattern unsubscribePattern; do ctrl addRoleACL service "$acl" "#" allow 5; done
ctrl createClient sensormine-service -p sensormine-dev-service
ctrl addClientRole sensormine-service service 5
