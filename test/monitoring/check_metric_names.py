#!/usr/bin/env python3
"""check_metric_names.py RULES DASHBOARD SCRAPE... — every metric and label
that apps/monitoring's alert rules and Grafana dashboard name is one coraft
exports.

SCRAPE files are /v1/metrics bodies (Prometheus text format) taken from the
members of a real cluster; their union is what coraft exports. A histogram
counts by its base name and by its _bucket/_sum/_count series.

Checked, each failure printed with where the name is used:
  1. every identifier starting with coraft_ anywhere in either file (queries,
     legends, descriptions, variables) is exported;
  2. every metric a query selects is coraft_* or Prometheus' own `up` (a
     metric of another exporter, or a misspelt one, is reported);
  3. every label a query matches on, groups by, or a legend or an annotation
     shows is on one of the query's metrics, or is a label Prometheus adds to
     each target (instance, job, and `cluster` as the README sets it).

Queries are tokenized, not fully parsed: strings, label matchers, grouping
clauses, range selectors and Grafana's $variables are taken out first; what
remains is functions (an identifier before '('), PromQL keywords, and metric
names.
"""
import json
import re
import sys

TARGET_LABELS = {"instance", "job", "cluster"}
PROMETHEUS_OWN = {"up"}
KEYWORDS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "atan2", "start", "end",
}
IDENT = r"[A-Za-z_:][A-Za-z0-9_:]*"
# coraft names no metric with a colon (recording rules do): "coraft_leader:" in
# prose ends at the colon.
CORAFT_NAME = re.compile(r"(?<![A-Za-z0-9_:])coraft_[A-Za-z0-9_]+")
HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def read_exports(paths):
    """Families (name -> type), sample names, and labels per family."""
    types, samples, labels = {}, set(), {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                m = re.match(r"# TYPE (\S+) (\S+)", line)
                if m:
                    types[m.group(1)] = m.group(2)
                    continue
                if not line or line.startswith("#"):
                    continue
                # Label values may hold braces: route="/v1/kv/{key}".
                m = re.match(r"(" + IDENT + r")(\{((?:[^\"}]|\"(?:[^\"\\]|\\.)*\")*)\})?\s", line)
                if not m:
                    continue
                samples.add(m.group(1))
                names = re.findall(r"(" + IDENT + r")\s*=\s*\"", m.group(3) or "")
                labels.setdefault(family_of(m.group(1), types), set()).update(names)
    return types, samples, labels


def family_of(name, types):
    if name in types:
        return name
    for s in HIST_SUFFIXES:
        if name.endswith(s) and types.get(name[: -len(s)]) in ("histogram", "summary"):
            return name[: -len(s)]
    return name


def analyze(expr):
    """(metric names, label names) a PromQL query uses; metric '' for a
    selector without a name."""
    metrics, label_names = set(), set()
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # Grafana variables ($__rate_interval, ${job})

    def selector(m):
        label_names.update(re.findall(r"(" + IDENT + r")\s*(?:=~|!~|!=|=)", m.group(2)))
        return (m.group(1) or "") + " "

    s = re.sub(r"(" + IDENT + r")?\s*\{([^}]*)\}", selector, s)

    def grouping(m):
        label_names.update(re.findall(IDENT, m.group(2)))
        return " "

    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", grouping, s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    for m in re.finditer(r"(?<![A-Za-z0-9_:.])(" + IDENT + r")(\s*\()?", s):
        word = m.group(1)
        if m.group(2) or word.lower() in KEYWORDS:
            continue
        metrics.add(word)
    return metrics, label_names


def rule_exprs(path, text):
    """(where, expr, labels shown in annotations) of each rule."""
    try:
        import yaml
    except ImportError:
        yaml = None
    out = []
    if yaml:
        doc = yaml.safe_load(text)
        for g in doc.get("groups", []):
            for r in g.get("rules", []):
                name = r.get("alert") or r.get("record")
                shown = set()
                for v in list((r.get("annotations") or {}).values()) + list((r.get("labels") or {}).values()):
                    shown.update(re.findall(r"\$labels\.(\w+)", str(v)))
                out.append((f"{path}: {name}", str(r["expr"]), shown))
        return out
    # Without PyYAML: one-line exprs only (a block scalar would be missed).
    name = "?"
    for line in text.splitlines():
        m = re.match(r"\s*-?\s*(?:alert|record):\s*(\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"\s*expr:\s*(.*)$", line)
        if m:
            if m.group(1).strip() in ("|", ">", "|-", ">-", ""):
                sys.exit(f"{path}: a multi-line expr in {name}; install python3-yaml (bash .ci/setup --tests)")
            out.append((f"{path}: {name}", m.group(1), set()))
    return out


def dashboard_exprs(path, dash):
    out = []

    def walk(o, title):
        if isinstance(o, dict):
            title = o.get("title", title)
            if isinstance(o.get("expr"), str):
                shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", o.get("legendFormat", "")))
                out.append((f"{path}: panel '{title}' {o.get('refId', '')}", o["expr"], shown))
            for v in o.values():
                walk(v, title)
        elif isinstance(o, list):
            for v in o:
                walk(v, title)

    walk(dash.get("panels", []), "")
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rules_path, dash_path, scrapes = sys.argv[1], sys.argv[2], sys.argv[3:]
    types, samples, labels = read_exports(scrapes)
    exported = set(types) | samples
    failures = []

    def known(name):
        return name in exported

    texts = {}
    for p in (rules_path, dash_path):
        with open(p, encoding="utf-8") as f:
            texts[p] = f.read()
    # 1. Every coraft_* identifier anywhere.
    used = {}
    for p, t in texts.items():
        for n in CORAFT_NAME.findall(t):
            used.setdefault(n, set()).add(p)
    for n in sorted(used):
        if not known(n):
            failures.append(f"{n}: not exported by coraft (used in {', '.join(sorted(used[n]))})")
    # 2 and 3. Each query's metrics and labels.
    queries = rule_exprs(rules_path, texts[rules_path]) + dashboard_exprs(dash_path, json.loads(texts[dash_path]))
    for where, expr, shown in queries:
        metrics, label_names = analyze(expr)
        metrics.discard("")
        if not metrics:
            failures.append(f"{where}: no metric found in '{expr}'")
        available = set(TARGET_LABELS)
        missing = False
        for m in metrics:
            if m in PROMETHEUS_OWN:
                continue
            if not m.startswith("coraft_"):
                failures.append(f"{where}: '{m}' is not a coraft metric (nor Prometheus' up)")
            elif known(m):
                available |= labels.get(family_of(m, types), set())
                if m.endswith("_bucket"):
                    available.add("le")
            else:
                missing = True  # reported in 1; its labels are unknown
        if missing:
            continue
        for l in sorted((label_names | shown) - available):
            failures.append(f"{where}: label '{l}' is on none of {sorted(metrics)} as exported")
    print(f"check_metric_names: {len(used)} coraft metric names, {len(queries)} queries; "
          f"{len(types)} families exported by the scraped nodes")
    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
