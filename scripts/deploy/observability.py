#!/usr/bin/env python3
"""Checks helm/sensormine/files/alerts.yml (also mounted by docker-compose.yml) and deploy/grafana/dashboards/*.json: the rule file has the
shape Prometheus loads (groups → rules with alert, expr, for, labels.severity, annotations.summary),
the dashboard is valid JSON with panels and targets, and every sensormine_* metric either names
is one a service registers (found in Services/ and Libraries/)."""
import json, pathlib, re, sys
import yaml

root = pathlib.Path(__file__).resolve().parents[2]
problems: list[str] = []
exported = set()
for source in list(root.glob("Services/**/*.swift")) + list(root.glob("Libraries/**/*.swift")):
    exported.update(re.findall(r'label: "(sensormine_[a-z0-9_]+)"', source.read_text()))

def check_metrics(where: str, expression: str) -> None:
    for metric in re.findall(r"\b(sensormine_[a-z0-9_]+)", expression):
        if metric not in exported:
            problems.append(f"{where}: {metric} is not a metric any service exports")

rules = yaml.safe_load((root / "helm/sensormine/files/alerts.yml").read_text())
count = 0
for group in rules.get("groups", []):
    if not group.get("name") or not group.get("rules"):
        problems.append("alerts.yml: every group needs a name and rules")
    for rule in group.get("rules", []):
        count += 1
        name = rule.get("alert", "?")
        for key in ("alert", "expr", "for"):
            if key not in rule:
                problems.append(f"alerts.yml {name}: missing {key}")
        if rule.get("labels", {}).get("severity") not in ("warning", "critical"):
            problems.append(f"alerts.yml {name}: severity must be warning or critical")
        if not rule.get("annotations", {}).get("summary"):
            problems.append(f"alerts.yml {name}: needs a summary")
        check_metrics(f"alerts.yml {name}", rule.get("expr", ""))
print(f"  {count} alert rules")

for dashboard_file in sorted((root / "deploy/grafana/dashboards").glob("*.json")):
    dashboard = json.loads(dashboard_file.read_text())
    panels = dashboard.get("panels", [])
    if not dashboard.get("uid") or not panels:
        problems.append(f"{dashboard_file.name}: needs a uid and panels")
    for panel in panels:
        if not panel.get("targets"):
            problems.append(f"{dashboard_file.name} '{panel.get('title')}': no targets")
        for target in panel.get("targets", []):
            check_metrics(f"{dashboard_file.name} '{panel.get('title')}'", target.get("expr", ""))
    print(f"  {dashboard_file.name}: {len(panels)} panels")

for problem in problems:
    print("  PROBLEM: " + problem)
sys.exit(1 if problems else 0)
