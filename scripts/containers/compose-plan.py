#!/usr/bin/python3
"""Prints the order compose.sh starts the Compose services in, one per line: `NAME WAIT [CHECK]`.

The order follows depends_on (dependencies first, file order otherwise); WAIT is what a
dependant needs before it starts, read from the same file: `exit` for a one-shot job
(service_completed_successfully), `healthy` for a service with a health check, `ready` for a
platform service (the image's own /health/ready), `none` otherwise. CHECK is the health check's
command as shell words for `podman exec` (podman-compose 1.0.3 mangles a CMD check holding `$`,
so compose.sh runs the file's check itself). Services in a profile are left out. Usage: compose-plan.py docker-compose.yml [override.yml ...]
(Debian's /usr/bin/python3: PyYAML comes with podman-compose.)"""
import shlex
import sys

import yaml


def check_command(service: dict) -> list[str]:
    """The health check's `test` as an argv, with Compose's `$$` escape undone."""
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not test or test[0] == "NONE":
        return []
    words = [word.replace("$$", "$") for word in test[1:]]
    return ["sh", "-c", " ".join(words)] if test[0] == "CMD-SHELL" else words


def merged(paths: list[str]) -> dict:
    services: dict[str, dict] = {}
    for path in paths:
        with open(path) as handle:
            document = yaml.safe_load(handle) or {}
        for name, service in (document.get("services") or {}).items():
            services.setdefault(name, {}).update(service or {})
    return services


def main() -> int:
    services = merged(sys.argv[1:])
    active = {name: service for name, service in services.items() if not service.get("profiles")}
    one_shot = set()
    for service in active.values():
        depends = service.get("depends_on") or {}
        if isinstance(depends, dict):
            for name, condition in depends.items():
                if (condition or {}).get("condition") == "service_completed_successfully":
                    one_shot.add(name)
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            sys.exit(f"compose-plan: depends_on cycle through {name}")
        visiting.add(name)
        depends = active[name].get("depends_on") or {}
        for dependency in (depends if isinstance(depends, (dict, list)) else []):
            if dependency not in active:
                sys.exit(f"compose-plan: {name} depends on {dependency}, which is not started")
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in active:
        visit(name)
    for name in order:
        service = active[name]
        if name in one_shot or service.get("restart") == "no":
            wait = "exit"
        elif "build" in service:
            wait = "ready"
        elif service.get("healthcheck"):
            wait = "healthy"
        else:
            wait = "none"
        print(name, wait, shlex.join(check_command(service)) if wait == "healthy" else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
