"""The Grafana dashboard asks Prometheus for exactly the series the code exports, and shows
every one of them; the PodMonitor scrapes the port KubeRay's Ray pods serve them on.

Exported names follow Ray's rule (`ray_` + name, `_total` for a counter, `_bucket`/`_sum`/`_count`
for a histogram: `actors.metrics.exported_series`), which test_prometheus.py checks against a
real Prometheus."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from actors.metrics import METRICS, exported_series, series_index
from tests.conftest import ROOT

DASHBOARD = ROOT / "k8s" / "grafana" / "self-harness.json"
PODMONITOR = ROOT / "k8s" / "monitoring" / "podmonitor.yaml"

RAY_LABELS = {"SessionName", "NodeAddress", "WorkerId", "Component", "Version", "job", "instance"}
"""Labels Ray (and Prometheus) put on every application series."""

_LIST_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def metric_names(expr: str) -> list[str]:
    """Every metric (series) name a PromQL expression reads: not functions or aggregations, not label
    names in matchers or by/without/on lists, not numbers, durations or Grafana variables."""
    s = _strip_strings(expr)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery selectors ([5m], [$__rate_interval])
    s = _LIST_CLAUSE.sub(" ", s)  # label lists
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # Grafana variables elsewhere
    names = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        word = m.group(0)
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue  # 1e3, 0.5, 15m
        if s[m.end():].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function, an aggregation, a keyword
        names.append(word)
    return names


def label_names(expr: str) -> set[str]:
    """Labels an expression matches on or groups by."""
    s = _strip_strings(expr)
    labels = {m.group(1) for block in re.findall(r"\{([^}]*)\}", s)
              for m in re.finditer(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", block)}
    for _, inner in _LIST_CLAUSE.findall(s):
        labels |= {x.strip() for x in inner.split(",") if x.strip()}
    return labels


def test_the_parser_reads_names_and_labels():
    expr = ('histogram_quantile(0.95, sum by (le, split) (rate(ray_a_bucket{SessionName=~"$S", x="a{b}"}[5m]))) '
            '/ on (split) group_left sum without (WorkerId) (ray_b_total offset 1h) > bool 1e3 or vector(0) '
            '+ sum(increase(ray_c[$__range])) by (outcome) and ray_d:rate5m')
    assert metric_names(expr) == ["ray_a_bucket", "ray_b_total", "ray_c", "ray_d:rate5m"]
    assert label_names(expr) == {"le", "split", "SessionName", "x", "WorkerId", "outcome"}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(d: dict) -> list[dict]:
    out = []
    for p in d["panels"]:
        out.append(p)
        out += p.get("panels", [])  # panels inside a collapsed row
    return out


def exprs(d: dict) -> list[tuple[str, dict]]:
    """(panel title, target) for every query of every panel."""
    return [(p["title"], t) for p in panels(d) for t in p.get("targets", []) if t.get("expr")]


def relabelled() -> set[str]:
    """Labels the PodMonitor adds on KubeRay."""
    doc = yaml.safe_load(PODMONITOR.read_text())
    return {r["targetLabel"] for e in doc["spec"]["podMetricsEndpoints"] for r in e.get("relabelings", [])
            if "targetLabel" in r}


def test_every_query_reads_only_exported_series_and_known_labels():
    index = series_index()
    problems = []
    queries = exprs(dashboard())
    assert queries, "the dashboard has no queries"
    for title, target in queries:
        names = metric_names(target["expr"])
        if not names:
            problems.append(f"{title}: {target['expr']!r} reads no metric")
        unknown = [n for n in names if n not in index]
        problems += [f"{title}: {n!r} is not a series actors/metrics.py exports (as Prometheus sees it: "
                     f"ray_<name>, _total for counters, _bucket/_sum/_count for histograms)" for n in unknown]
        known = [index[n] for n in names if n in index]
        allowed = RAY_LABELS | relabelled() | {t for m in known for t in m.tags}
        allowed |= {"le"} if any(n.endswith("_bucket") for n in names) else set()
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        problems += [f"{title}: label {x!r} is none of {sorted(allowed)}"
                     for x in sorted((label_names(target["expr"]) | legend) - allowed)]
    assert not problems, "\n".join(problems)


def test_every_exported_metric_is_on_some_panel():
    used = {n for _, t in exprs(dashboard()) for n in metric_names(t["expr"])}
    missing = [m.name for m in METRICS if not used & set(exported_series(m))]
    assert not missing, f"metrics no panel shows: {missing}"


def test_template_variables_read_exported_series():
    index = series_index()
    for var in dashboard()["templating"]["list"]:
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert m, f"variable {var['name']}: {query!r}"
        assert m.group(1) in index and m.group(2) in RAY_LABELS | relabelled(), query


def test_the_datasource_is_an_input():
    d = dashboard()
    assert [i["name"] for i in d["__inputs"]] == ["DS_PROMETHEUS"]
    assert d["__inputs"][0]["pluginId"] == "prometheus"
    ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for p in panels(d):
        if p["type"] == "row":
            continue
        assert p["datasource"] == ds, p["title"]
        assert all(t["datasource"] == ds for t in p["targets"]), p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids))
    assert d["uid"] and d["title"] and isinstance(d["schemaVersion"], int)


@pytest.mark.parametrize("node_type", ["head", "worker"])
def test_the_podmonitor_scrapes_kuberay_pods_on_their_metrics_port(node_type):
    doc = yaml.safe_load(PODMONITOR.read_text())
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PodMonitor"
    exprs_ = {e["key"]: e for e in doc["spec"]["selector"]["matchExpressions"]}
    node = exprs_["ray.io/node-type"]
    assert node["operator"] == "In" and node_type in node["values"]
    assert [e["port"] for e in doc["spec"]["podMetricsEndpoints"]] == ["metrics"]
