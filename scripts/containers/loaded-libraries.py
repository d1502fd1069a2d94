#!/usr/bin/env python3
"""Compares the Dockerfile's runtime packages with what the running platform containers load.

`make lint-deploy` predicts, from the binaries' ELF dependencies, which Debian packages the
runtime image needs (the `# runtime-packages:` line). This reads /proc/1/maps of each running
container of a Compose project and checks the prediction against the process: every listed
package provides a library some service loads, and every library a service loads comes from the
base image, from a package the runtime stage installs, or from /usr/local/lib/sensormine (what the
image ships itself). Prints the loaded set; exits 1 on a mismatch.
Usage: loaded-libraries.py PROJECT DOCKERFILE BASE_IMAGE CONTAINER..."""
import re
import subprocess
import sys

SHIPPED = "/usr/local/lib/sensormine/"


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True).stdout


def declared(dockerfile: str) -> set[str]:
    match = re.search(r"^# runtime-packages:(.*)$", open(dockerfile).read(), re.MULTILINE)
    if not match:
        sys.exit(f"{dockerfile} has no '# runtime-packages:' line")
    return set(match.group(1).split())


def main() -> int:
    _, project, dockerfile, base_image, *containers = sys.argv
    expected = declared(dockerfile)
    base = set(podman("run", "--rm", base_image, "dpkg-query", "-W", "-f", "${Package}\n").split())
    loaded: dict[str, set[str]] = {}
    for container in containers:
        maps = podman("exec", container, "cat", "/proc/1/maps")
        for path in set(re.findall(r"\s(/\S+\.so[.\d]*)$", maps, re.MULTILINE)):
            loaded.setdefault(path, set()).add(container.removeprefix(f"{project}_").removesuffix("_1"))
    problems: list[str] = []
    owners: dict[str, str] = {}
    packaged = [path for path in loaded if not path.startswith(SHIPPED)]
    if packaged:
        # dpkg -S in a container of the image: the image's own package database, not this machine's.
        result = subprocess.run(["podman", "exec", containers[0], "dpkg", "-S", *packaged], capture_output=True, text=True)
        for line in result.stdout.splitlines():
            package, _, path = line.partition(": ")
            owners[path.strip()] = package.split(":")[0]
        for path in packaged:
            if path not in owners:
                # Merged /usr: the map shows /usr/lib/…, dpkg may know /lib/… (or the reverse).
                alias = path.replace("/usr/lib/", "/lib/", 1) if path.startswith("/usr/lib/") else "/usr" + path
                again = subprocess.run(["podman", "exec", containers[0], "dpkg", "-S", alias], capture_output=True, text=True)
                if again.returncode == 0:
                    owners[path] = again.stdout.split(":", 1)[0]
    by_package: dict[str, set[str]] = {}
    for path, services in loaded.items():
        if path.startswith(SHIPPED):
            by_package.setdefault("(shipped in the image)", set()).add(path.rsplit("/", 1)[1])
            continue
        owner = owners.get(path)
        if owner is None:
            problems.append(f"{path} (loaded by {', '.join(sorted(services))}) belongs to no package")
            continue
        by_package.setdefault(owner, set()).add(path.rsplit("/", 1)[1])
    runtime_stage = {package for package in by_package if package not in base and not package.startswith("(")}
    for package in sorted(expected - set(by_package)):
        problems.append(f"the Dockerfile installs {package}, which no running service loads")
    for package, libraries in sorted(by_package.items()):
        origin = "listed" if package in expected else ("base image" if package in base else "installed with the listed ones" if not package.startswith("(") else "")
        print(f"  {package:28} {origin:32} {' '.join(sorted(libraries))[:100]}")
    print(f"  loaded from packages the runtime stage installs: {len(runtime_stage)}; listed: {len(expected)}, "
          f"all loaded: {'yes' if expected <= set(by_package) else 'no'}")
    for problem in problems:
        print("  MISMATCH: " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
