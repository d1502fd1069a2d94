#!/usr/bin/env python3
"""Validates helm/sensormine offline with Helm's own SDK, then the rendered objects and k8s/.

For values.yaml, values-dev.yaml and values-prod.yaml: the values validate against
values.schema.json, `helm lint --strict` reports nothing, and the chart renders (lint only warns
on a failed `required`, so rendering is checked too). Every rendered object and k8s/ then
validates against the Kubernetes OpenAPI schemas (kubernetes-validate --strict; a kind without
a schema fails, except the Prometheus Operator's, listed below), and checkov's Kubernetes
policies pass on all of it. k8s/sensormine.yaml must equal the chart rendered with its defaults
(`--write-k8s` regenerates it)."""
import pathlib, subprocess, sys, tempfile
import helm_python
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm/sensormine"
VALUE_FILES = ["values.yaml", "values-dev.yaml", "values-prod.yaml"]
KUBERNETES_VERSION = "1.30.0"
# Custom resources of the Prometheus Operator: kubernetes-validate ships no schema for them.
CRDS_WITHOUT_SCHEMA = {"ServiceMonitor", "PrometheusRule"}
BIN = pathlib.Path(sys.executable).parent
HEADER = "# Generated from helm/sensormine with its default values (release sensormine, namespace sensormine)\n# by scripts/deploy/chart.py --write-k8s; make lint-deploy checks that it is current.\n"

def render(chart, values: dict) -> str:
    rendered = chart.render(values, name="sensormine", namespace="sensormine", is_install=True)
    return "".join(f"---\n# Source: {path}\n{text.strip()}\n" for path, text in sorted(rendered.items()) if text.strip())

def main() -> int:
    problems: list[str] = []
    chart = helm_python.Chart.load(str(CHART))
    outputs: dict[str, str] = {}
    for name in VALUE_FILES:
        values = {} if name == "values.yaml" else yaml.safe_load((CHART / name).read_text())
        try:
            chart.validate_schema(values)
        except helm_python.HelmError as error:
            problems.append(f"{name}: does not validate against values.schema.json: {error}")
        report = helm_python.lint(str(CHART), values, strict=True, kube_version="v" + KUBERNETES_VERSION)
        for message in report.get("messages", []):
            if message.get("severity", 0) >= 2:
                problems.append(f"{name}: helm lint: {message.get('path')}: {message.get('error')}")
        problems += [f"{name}: helm lint: {error}" for error in report.get("errors", [])]
        try:
            outputs[name] = render(chart, values)
        except helm_python.HelmError as error:
            problems.append(f"{name}: does not render: {error}")
            continue
        kinds = sorted({doc["kind"] for doc in yaml.safe_load_all(outputs[name]) if doc})
        print(f"  {name}: lint clean, {len(list(d for d in yaml.safe_load_all(outputs[name]) if d))} objects ({', '.join(kinds)})")

    k8s = ROOT / "k8s/sensormine.yaml"
    expected = HEADER + outputs.get("values.yaml", "")
    if "--write-k8s" in sys.argv:
        k8s.write_text(expected)
        print(f"  wrote {k8s.relative_to(ROOT)}")
    elif not k8s.exists() or k8s.read_text() != expected:
        problems.append("k8s/sensormine.yaml differs from the chart's default render: run scripts/deploy/chart.py --write-k8s")

    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(scratch)
        for name, text in outputs.items():
            (folder / f"rendered-{name}").write_text(text)
        # kustomization.yaml is kustomize's own file, not a Kubernetes object.
        targets = sorted(folder.glob("*.yaml")) + sorted(p for p in (ROOT / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")
        for target in targets:
            result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(target)], capture_output=True, text=True)
            passed = result.stdout.count(" passed for resource ")
            for line in (result.stdout + result.stderr).splitlines():
                if line.startswith("INFO") or not line.strip():
                    continue
                if "Couldn't find schema for kind" in line and line.split("kind ", 1)[1].split()[0] in CRDS_WITHOUT_SCHEMA:
                    continue
                problems.append(f"kubernetes-validate {target.name}: {line}")
            if result.returncode != 0 and not problems:
                problems.append(f"kubernetes-validate {target.name} exited {result.returncode}")
            print(f"  kubernetes-validate --strict {target.name}: {passed} objects passed")
        scan = folder / "scan"
        scan.mkdir()
        for target in targets:
            (scan / target.name).write_text(target.read_text())
        result = subprocess.run([str(BIN / "checkov"), "--skip-download", "--framework", "kubernetes", "-d", str(scan), "--compact", "--quiet"],
                                capture_output=True, text=True)
        summary = [line for line in result.stdout.splitlines() if "Passed checks" in line]
        print(f"  checkov: {summary[0].strip() if summary else 'no summary'}")
        if result.returncode != 0:
            problems.append("checkov findings:\n" + "\n".join(l for l in result.stdout.splitlines() if l.startswith(("Check:", "\tFAILED", "\tFile"))))
    for problem in problems:
        print("  PROBLEM: " + problem)
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main())
