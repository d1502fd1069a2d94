#!/usr/bin/env python3
"""Checks the Dockerfile's runtime package list against what the service binaries link.

Every shared library a binary needs directly (ELF NEEDED), or through a Swift run-time library
(linked statically into the image's binaries, so what they need the binary needs: FoundationXML's
libxml2, FoundationNetworking's libcurl), must come from a package on the
Dockerfile's `# runtime-packages:` line, from the base image (glibc, libstdc++, libgcc), from
the Swift toolchain (linked statically in the image with --static-swift-stdlib), or be
librdkafka (the image ships a current one, ADR 2). Every listed package must provide a library
in some binary's full closure (ldd). Prints the mapping; exits 1 on a mismatch."""
import functools, pathlib, re, subprocess, sys

BASE_IMAGE = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1",
              "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1"}
SHIPPED = {"librdkafka.so.1"}

def listed(dockerfile: pathlib.Path) -> set[str]:
    """The `# runtime-packages:` line, checked against the runtime stage's apt-get install."""
    text = dockerfile.read_text()
    match = re.search(r"^# runtime-packages:(.*)$", text, re.MULTILINE)
    if not match:
        sys.exit("Dockerfile has no '# runtime-packages:' line")
    runtime_stage = text[match.start():]
    install = re.search(r"apt-get install[^&]*", runtime_stage)
    installed = {word.split("=", 1)[0] for word in (install.group(0).replace("\\", " ").split() if install else []) if not word.startswith("-")}
    packages = set(match.group(1).split())
    if not packages <= installed:
        sys.exit(f"runtime-packages lists {sorted(packages - installed)}, which the runtime stage does not apt-get install")
    return packages

@functools.lru_cache(maxsize=None)
def needed(binary: pathlib.Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(binary)], check=True, capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)

def closure(binary: pathlib.Path) -> dict[str, str]:
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    return dict(re.findall(r"^\s*(\S+) => (\S+)", out, re.MULTILINE))

@functools.lru_cache(maxsize=None)
def package(path: str) -> str | None:
    real = str(pathlib.Path(path).resolve())
    for candidate in (path, real, real.replace("/usr/lib/", "/lib/", 1)):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0].strip()
    return None

def main() -> int:
    root = pathlib.Path(sys.argv[1])
    binaries = [pathlib.Path(p) for p in sys.argv[2:]]
    expected = listed(root / "Dockerfile")
    direct: dict[str, str] = {}
    provided: set[str] = set()
    problems: list[str] = []
    for binary in binaries:
        libraries = closure(binary)
        for soname, path in libraries.items():
            if "/swift/" in path:
                continue
            owner = package(path)
            if owner:
                provided.add(owner)
        swift_libraries = [path for path in libraries.values() if "/swift/" in path]
        wanted = set(needed(binary)).union(*(needed(pathlib.Path(path)) for path in swift_libraries))
        for soname in sorted(wanted):
            if soname in BASE_IMAGE or soname in SHIPPED or soname.startswith(("libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime")):
                continue
            path = libraries.get(soname)
            owner = package(path) if path else None
            if owner is None:
                problems.append(f"{binary.name}: {soname} is not provided by any Debian package here")
                continue
            direct[soname] = owner
            if owner not in expected:
                problems.append(f"{binary.name} links {soname} from {owner}, which the Dockerfile does not install")
    for name in sorted(expected - provided):
        problems.append(f"the Dockerfile installs {name}, which no binary links")
    for soname, owner in sorted(direct.items()):
        print(f"  {soname:24} {owner}")
    print(f"  {'librdkafka.so.1':24} copied from the confluent-kafka wheel (ADR 2)")
    print(f"  closure also uses: {', '.join(sorted(provided & expected - set(direct.values())))}")
    for problem in problems:
        print("  MISMATCH: " + problem)
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main())
