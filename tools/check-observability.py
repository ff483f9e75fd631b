#!/usr/bin/env python3
"""Checks the Grafana dashboards and Prometheus rules in deploy/ against the exported metrics.

  check-observability.py [--root DIR] [--scrape FILE ...]

Always:
  - every dashboard has a `datasource` variable of type datasource, every panel and query uses
    ${datasource}, and the first row is the golden signals (traffic, errors, saturation, latency);
  - every `teredo_*` metric named in a dashboard query or a rule expression is declared by the
    services' code (string literals in lib/ and services/, comments excluded).
With --scrape (the /metrics text of running daemons, as the integration test collects it):
  - every such metric is actually exported by one of the scraped processes, and every label
    matcher in the queries and rules (`metric{label="value"}`, `=~` alternatives of plain words)
    names a label and a value that the scraped series carry.

Exit status 0 when everything holds; otherwise every problem is printed, one per line.
"""
import argparse
import json
import pathlib
import re
import sys

import yaml

METRIC = re.compile(r"\b(teredo_[a-z0-9_]+)\b")
# metric{matchers} inside a PromQL expression.
SELECTOR = re.compile(r"\b(teredo_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
# Labels Prometheus adds at scrape time: not in the daemons' own output.
TARGET_LABELS = {"instance", "job"}


def strip_comments(source):
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    return re.sub(r"//[^\n]*", " ", source)


def declared_metrics(root):
    names = set()
    for top in ("lib", "services"):
        for path in (root / top).rglob("*"):
            if path.suffix in (".h", ".cc") and path.is_file():
                text = strip_comments(path.read_text(encoding="utf-8"))
                names.update(re.findall(r'"(teredo_[a-z0-9_]+)"', text))
    return names


def dashboard_exprs(path, problems):
    dash = json.loads(path.read_text(encoding="utf-8"))
    where = path.name
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if ds is None or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append(f"{where}: no `datasource` variable of type datasource (prometheus)")
    panels = dash.get("panels", [])
    if not panels or panels[0].get("type") != "row" or \
            not panels[0].get("title", "").lower().startswith("golden signals"):
        problems.append(f"{where}: the first row must be the golden signals")
    else:
        first_row = []
        for p in panels[1:]:
            if p.get("type") == "row":
                break
            first_row.append(p.get("title", "").lower())
        for signal in ("traffic", "errors", "saturation", "latency"):
            if not any(t.startswith(signal) for t in first_row):
                problems.append(f"{where}: the golden-signals row has no {signal} panel")
    exprs = []
    for p in panels:
        if p.get("type") == "row":
            continue
        title = p.get("title", "?")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{where}: panel '{title}' does not use ${{datasource}}")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{where}: panel '{title}' has no query")
        for t in targets:
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{where}: a query of '{title}' does not use ${{datasource}}")
            exprs.append((f"{where}: '{title}'", t.get("expr", "")))
    for v in variables.values():
        q = v.get("definition") or ""
        if q:
            exprs.append((f"{where}: variable {v.get('name')}", q))
    return exprs


def rule_exprs(path, problems):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    exprs = []
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record") or "?"
            exprs.append((f"{path.name}: {name}", str(rule.get("expr", ""))))
            if "alert" in rule and "severity" not in rule.get("labels", {}):
                problems.append(f"{path.name}: alert {name} has no severity label")
    return exprs


def parse_scrape(path):
    """name -> {label: set(values)} for every series in a Prometheus text exposition."""
    series = {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+")
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# TYPE "):
            series.setdefault(line.split()[2], {})
            continue
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = series.setdefault(m.group(1), {})
        for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
            labels.setdefault(k, set()).add(v)
    return series


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent, type=pathlib.Path)
    ap.add_argument("--scrape", nargs="*", default=[], type=pathlib.Path)
    args = ap.parse_args()
    root = args.root
    problems = []
    exprs = []
    dashboards = sorted((root / "deploy" / "grafana").glob("*.json"))
    rules = sorted((root / "deploy" / "prometheus").glob("*-rules.yaml"))
    if not dashboards or not rules:
        problems.append("no dashboards in deploy/grafana or no rules in deploy/prometheus")
    for d in dashboards:
        exprs += dashboard_exprs(d, problems)
    for r in rules:
        exprs += rule_exprs(r, problems)

    declared = declared_metrics(root)
    exported = {}
    for s in args.scrape:
        for name, labels in parse_scrape(s).items():
            merged = exported.setdefault(name, {})
            for k, vs in labels.items():
                merged.setdefault(k, set()).update(vs)

    for where, expr in exprs:
        for name in sorted(set(METRIC.findall(expr))):
            if name not in declared:
                problems.append(f"{where}: {name} is not declared in lib/ or services/")
            elif args.scrape and name not in exported:
                problems.append(f"{where}: {name} is declared but no scraped process exports it")
        if not args.scrape:
            continue
        for name, body in SELECTOR.findall(expr):
            if name not in exported:
                continue
            for label, op, value in MATCHER.findall(body):
                if label in TARGET_LABELS:
                    continue
                have = exported[name].get(label)
                if have is None:
                    problems.append(f"{where}: {name} has no label {label}")
                    continue
                if op in ("=", "!="):
                    wanted = [value]
                elif re.fullmatch(r"[a-z0-9_|]+", value):
                    wanted = value.split("|")
                else:
                    wanted = []
                for w in wanted:
                    if w not in have:
                        problems.append(
                            f"{where}: {name}{{{label}=\"{w}\"}} matches no exported series "
                            f"(values: {', '.join(sorted(have))})")

    for p in problems:
        print(p)
    checked = len(exprs)
    if problems:
        print(f"check-observability: {len(problems)} problem(s) in {checked} expressions")
        return 1
    mode = f"against {len(args.scrape)} scrape(s)" if args.scrape else "against the source"
    print(f"check-observability: {checked} expressions in {len(dashboards)} dashboard(s) and "
          f"{len(rules)} rule file(s) ok {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
