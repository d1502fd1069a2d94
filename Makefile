# Sensormine: the two commands are `make run` and `make test`; everything else is a step of them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := $(CURDIR)/.stack

# Debian 12's librdkafka (2.0.2) cannot talk to current brokers; we build against its headers and
# load the current librdkafka that `make deps` links into .stack/lib, for every target alike.
export LD_LIBRARY_PATH := $(STACK)/lib$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH),)
# Settings of the local stack, for services, tests and benchmarks.
include scripts/stack/stack.env
export $(shell sed -n 's/^\(SENSORMINE_[A-Z0-9_]*\)=.*/\1/p' scripts/stack/stack.env)

.PHONY: help deps up down build run test bench drill backup restore fuzz lint-deploy images containers-up containers-down clean
help:
	@echo "make run    install what is missing, start the local stack and every service"
	@echo "make test   install what is missing, start the stack, run every test"
	@echo "make bench  run the benchmarks against the local stack and print figures"
	@echo "make drill  the failover drills (scratch PostgreSQL clusters, the stack's etcd), with their figures"
	@echo "make backup [BACKUP_TYPE=full|diff|incr]  pgBackRest backup of the stack's database, Redis snapshot, edge spool"
	@echo "make restore [TIME='2026-12-05 08:15:00+00']  restore them (services stopped) to TIME, or to the end of the archive"
	@echo "make lint-deploy  validate Dockerfile, docker-compose.yml and the monitoring files offline"
	@echo "make fuzz   libFuzzer on the JSON parser, schemas, envelopes and the spool (FUZZ_SECONDS per target)"
	@echo "make images  build the platform image from the Dockerfile with podman (and the local base images)"
	@echo "make containers-up | containers-down  the Compose stack in podman, from the image make images built"
	@echo "make deps | up | down | build | clean"

deps:
	@bash scripts/stack/deps.sh

up: deps
	@bash scripts/stack/up.sh

down:
	@bash scripts/stack/down.sh

build: deps
	swift build

run: up build
	@bash scripts/run-services.sh

# `swift build --build-tests` also builds the service executables the smoke tests start.
# Tests run serially: a rare hang seen only under parallel runs is still being investigated
# (see the README's Tests section); the watchdog turns any hang into a fast failure.
test: up
	swift build --build-tests
	bash scripts/lint-deploy.sh
	bash scripts/containers/smoke.sh
	bash scripts/fuzz.sh $(TEST_FUZZ_SECONDS)
	APIFUZZ_SEED=20261202 bash scripts/api-fuzz.sh 20 $(TEST_FUZZ_SECONDS)
	timeout -k 10 $(TEST_WATCHDOG_SECONDS) swift test --skip-build --no-parallel

# libFuzzer over the readers of untrusted bytes and schemathesis over every service's API through
# the gateway; make test runs each briefly (schemathesis with a fixed seed), make fuzz longer.
FUZZ_SECONDS ?= 300
TEST_FUZZ_SECONDS ?= 20
# The suite takes 780-900 s on these machines and past 900 s in a slow spell (2026-12-08: the
# COPY ceiling at 54,000 rows/s against 86,000 the day before, 68 of 77 suites done at 900 s);
# the watchdog catches a hang, so it sits well above the slowest whole run seen.
TEST_WATCHDOG_SECONDS ?= 1500
fuzz: up
	bash scripts/fuzz.sh $(FUZZ_SECONDS)
	swift build
	bash scripts/api-fuzz.sh 200 $(FUZZ_SECONDS)

lint-deploy: deps
	bash scripts/lint-deploy.sh

# Containers with podman (no Docker engine or registry here): base images made locally, then the
# Dockerfile as Docker users build it; docker-compose.yml with docker-compose.podman.yml on top.
images: deps
	bash scripts/containers/images.sh platform

containers-up: deps
	bash scripts/containers/compose.sh up

containers-down:
	bash scripts/containers/compose.sh down

bench: up
	swift build -c release --product SensormineBench
	for product in ApiGateway DeviceAPI SchemaRegistry EdgeGateway Ingestion QueryAPI Alerts Billing StreamProcessing DeviceSimulator; do swift build -c release --product $$product || exit 1; done
	rm -f .stack/bench-anchors.env
	SENSORMINE_BENCH_ANCHORS=$(CURDIR)/.stack/bench-anchors.env $$(swift build -c release --show-bin-path)/SensormineBench
	SENSORMINE_BENCH_ANCHORS=$(CURDIR)/.stack/bench-anchors.env bash scripts/bench-pipeline.sh
	$(MAKE) --no-print-directory drill DRILL_ROUNDS=1

# Backups (ADR 28): WAL is archived continuously from the first backup on; a restore rebuilds the
# replica from the restored primary. The services must be stopped for a restore.
backup: up
	bash scripts/stack/backup.sh stack-backup $(BACKUP_TYPE)

restore: deps
	bash scripts/stack/backup.sh stack-restore $(if $(TIME),"$(TIME)")

# The drills kill scratch clusters of their own, never the stack's primary; make test runs them too.
DRILL_ROUNDS ?= 3
drill: up
	swift build --build-tests
	set -o pipefail; for round in $$(seq 1 $(DRILL_ROUNDS)); do timeout -k 10 600 swift test --skip-build --no-parallel --filter "FailoverTests|primaryLostUnderIngestion" 2>&1 \
	  | grep -E "drill|handover|✘|Test run with" || exit 1; done

clean: down
	rm -rf .build .stack
