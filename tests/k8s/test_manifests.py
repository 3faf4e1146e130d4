"""Every manifest under k8s/ parses and has what its kind needs; the kustomization lists every
file; and the manifests agree with the code: the sandbox Role grants exactly the backend's RBAC,
the NetworkPolicies select the labels the backend puts on its pods, the reference pod template
is what the backend makes, the run config loads, and the RayJob reads the file the RayCluster
mounts. `kubectl kustomize` builds the whole when kubectl is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from actors.model.config import VLLMModelConfig
from actors.sandbox.config import KubernetesSandboxConfig
from actors.sandbox.kubernetes.api import RBAC
from actors.sandbox.kubernetes.pod import INTERNET_LABEL, SANDBOX_SELECTOR, pod_labels, pod_manifest, reference_template
from cluster.config import RunConfig, load_config
from harnesses.sandbox import Limits
from harnesses.tasks import EnvironmentSpec, Task
from tests.conftest import ROOT

K8S = ROOT / "k8s"
YAML_FILES = sorted(p for p in K8S.rglob("*.y*ml") if p.name != "kustomization.yaml")


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def all_docs() -> list[tuple[Path, dict]]:
    return [(p, d) for p in YAML_FILES if p.name != "run.yaml" for d in docs(p)]


def of_kind(kind: str) -> list[dict]:
    return [d for _, d in all_docs() if d["kind"] == kind]


def one(kind: str, name: str | None = None) -> dict:
    found = [d for d in of_kind(kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def task(**env) -> Task:
    return Task(name="t", path="/x", instruction="i", environment=EnvironmentSpec(docker_image="img:1", **env))


CONFIG = KubernetesSandboxConfig()


# --------------------------------------------------------------------------- every file


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_parses_and_names_itself(path):
    found = docs(path)
    assert found, f"{path} is empty"
    if path.name == "run.yaml":  # the RunConfig, not a Kubernetes object
        return
    for d in found:
        assert {"apiVersion", "kind", "metadata"} <= set(d), f"{path}: apiVersion, kind and metadata"
        assert d["metadata"].get("name"), f"{path}: {d['kind']} without a name"
        if d["kind"] not in ("Namespace", "PodMonitor"):  # the PodMonitor's namespace comes from the kustomization
            assert d["metadata"].get("namespace") in ("selfharness", "selfharness-sandbox"), \
                f"{path}: {d['kind']} {d['metadata']['name']} names no namespace of ours"


def test_the_kustomization_lists_every_file():
    k = kustomization()
    listed = set(k["resources"])
    generated = {f.split("=", 1)[-1] for g in k["configMapGenerator"] for f in g["files"]}
    every = {str(p.relative_to(K8S)) for p in YAML_FILES} | {str(p.relative_to(K8S)) for p in K8S.rglob("*.json")}
    named = listed | generated
    assert named == every, f"not in the kustomization: {every - named}; listed but missing: {named - every}"
    assert all((K8S / f).is_file() for f in listed | generated)
    assert "grafana/self-harness.json" in generated and "ray/run.yaml" in generated


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_it():
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    built = [d for d in yaml.safe_load_all(out.stdout) if d]
    kinds = sorted(d["kind"] for d in built)
    assert kinds.count("ConfigMap") == 2 and {"RayCluster", "RayJob", "Role", "RoleBinding", "NetworkPolicy",
                                              "PodMonitor", "ServiceAccount", "Namespace"} <= set(kinds)
    monitor = next(d for d in built if d["kind"] == "PodMonitor")
    assert monitor["metadata"]["namespace"] == one("RayCluster")["metadata"]["namespace"]


# --------------------------------------------------------------------------- Ray


def test_the_raycluster_has_a_cpu_head_a_gpu_group_and_an_autoscaled_cpu_group():
    rc = one("RayCluster")
    assert rc["apiVersion"] == "ray.io/v1"
    spec = rc["spec"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head runs no episodes and no model
    head_res = head["template"]["spec"]["containers"][0]["resources"]
    assert "nvidia.com/gpu" not in head_res.get("limits", {}) and "nvidia.com/gpu" not in head_res.get("requests", {})
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    for g in groups.values():
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], g["groupName"]
        assert g["template"]["spec"]["containers"], g["groupName"]
    gpu = [g for g in groups.values() if any("nvidia.com/gpu" in c["resources"].get("limits", {})
                                             for c in g["template"]["spec"]["containers"])]
    cpu = [g for g in groups.values() if g not in gpu]
    assert len(gpu) == 1 and len(cpu) == 1
    assert int(gpu[0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert cpu[0]["maxReplicas"] > cpu[0]["minReplicas"] and spec["enableInTreeAutoscaling"] is True
    # every Ray pod: the service account the sandbox Role is bound to, the metrics port, the API key
    for template in [head["template"]] + [g["template"] for g in groups.values()]:
        pod = template["spec"]
        assert pod["serviceAccountName"] == "selfharness-ray"
        c = pod["containers"][0]
        assert "metrics" in {p["name"] for p in c["ports"]}
        key = next(e for e in c["env"] if e["name"] == "OPENAI_API_KEY")
        assert key["valueFrom"]["secretKeyRef"]["name"] == "selfharness-model"


def test_the_rayjob_runs_a_run_with_the_mounted_config():
    job, rc = one("RayJob"), one("RayCluster")
    spec = job["spec"]
    words = spec["entrypoint"].split()
    assert words[:5] == ["python", "-m", "cluster.job", "--config", "/etc/selfharness/run.yaml"]
    from cluster.job import build_parser

    args = build_parser().parse_args(words[3:])
    assert args.run_dir.startswith("/home/ray/runs/")  # on the PVC below: a resubmitted job resumes
    assert "rayClusterSpec" in spec or "clusterSelector" in spec
    assert spec["clusterSelector"] == {"ray.io/cluster": rc["metadata"]["name"]}
    head = rc["spec"]["headGroupSpec"]["template"]["spec"]
    mount = next(m for m in head["containers"][0]["volumeMounts"] if m["mountPath"] == "/etc/selfharness")
    volume = next(v for v in head["volumes"] if v["name"] == mount["name"])
    generator = next(g for g in kustomization()["configMapGenerator"] if g["name"] == volume["configMap"]["name"])
    assert generator["options"]["disableNameSuffixHash"] is True  # the custom resource names it as is
    assert "run.yaml=ray/run.yaml" in generator["files"]
    runs = next(v for v in head["volumes"] if "persistentVolumeClaim" in v)
    assert next(m for m in head["containers"][0]["volumeMounts"] if m["name"] == runs["name"])["mountPath"] == \
        "/home/ray/runs"
    claim = runs["persistentVolumeClaim"]["claimName"]
    assert one("PersistentVolumeClaim", claim)["metadata"]["namespace"] == rc["metadata"]["namespace"]
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    run = load_config(K8S / "ray" / "run.yaml", RunConfig)
    assert env["SELFHARNESS_RUN"] == run.name == run.sandbox.run_label


def test_the_run_config_loads_and_uses_the_sandbox_namespace():
    run = load_config(K8S / "ray" / "run.yaml", RunConfig)
    assert isinstance(run.sandbox, KubernetesSandboxConfig)
    assert run.sandbox.namespace == one("Namespace", "selfharness-sandbox")["metadata"]["name"]
    assert run.sandbox.service_account == one("ServiceAccount", "selfharness-sandbox")["metadata"]["name"]
    assert isinstance(run.model, VLLMModelConfig)  # the GPU worker group's model servers


def test_the_podmonitor_scrapes_the_ray_pods():
    pm = one("PodMonitor")
    assert pm["spec"]["selector"] and pm["spec"]["podMetricsEndpoints"]
    assert {e["port"] for e in pm["spec"]["podMetricsEndpoints"]} == {"metrics"}


# --------------------------------------------------------------------------- the sandbox namespace


def test_the_role_grants_exactly_what_the_backend_calls():
    role = one("Role", "selfharness-sandbox-manager")
    assert role["metadata"]["namespace"] == CONFIG.namespace
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""], "core API group only"
        assert "resourceNames" not in rule
        for resource in rule["resources"]:
            granted.setdefault(resource, set()).update(rule["verbs"])
    assert granted == {resource: set(verbs) for resource, verbs in RBAC.items()}
    assert set(granted) == {"pods", "pods/exec", "pods/log"}
    assert not any("*" in verbs for verbs in granted.values())


def test_the_rolebinding_binds_the_ray_service_account():
    binding, role = one("RoleBinding"), one("Role")
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    ray_sa = one("ServiceAccount", "selfharness-ray")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ray_sa["metadata"]["name"],
                                    "namespace": ray_sa["metadata"]["namespace"]}]


def test_the_sandbox_service_account_has_no_token():
    sa = one("ServiceAccount", CONFIG.service_account)
    assert sa["metadata"]["namespace"] == CONFIG.namespace and sa["automountServiceAccountToken"] is False
    assert not [b for b in of_kind("RoleBinding") for s in b["subjects"] if s["name"] == CONFIG.service_account]


def test_egress_is_denied_to_every_sandbox_pod_the_backend_makes():
    deny = one("NetworkPolicy", "sandbox-default-deny")
    assert deny["metadata"]["namespace"] == CONFIG.namespace
    assert "Egress" in deny["spec"]["policyTypes"] and not deny["spec"].get("egress")
    assert not deny["spec"].get("ingress")
    selector = deny["spec"]["podSelector"]["matchLabels"]
    assert selector == SANDBOX_SELECTOR and "matchExpressions" not in deny["spec"]["podSelector"]
    for env in ({}, {"allow_internet": True}):
        t = task(**env)
        labels = pod_manifest(t, Limits(), CONFIG, pod_labels(t, run="r", episode="e", instance="i"),
                              name="p")["metadata"]["labels"]
        assert selector.items() <= labels.items()


def test_only_tasks_that_opt_in_reach_the_internet():
    allow = one("NetworkPolicy", "sandbox-allow-internet")
    selector = allow["spec"]["podSelector"]["matchLabels"]
    assert selector == {**SANDBOX_SELECTOR, INTERNET_LABEL: "true"}
    closed, opened = task(), task(allow_internet=True)
    assert not selector.items() <= pod_labels(closed, run="r", episode="e", instance="i").items()
    assert selector.items() <= pod_labels(opened, run="r", episode="e", instance="i").items()
    blocked = {c for rule in allow["spec"]["egress"] for peer in rule.get("to", [])
               for c in peer.get("ipBlock", {}).get("except", [])}
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= blocked  # metadata service too


def test_the_reference_pod_template_is_what_the_backend_makes():
    on_disk = one("PodTemplate", "selfharness-sandbox")
    assert on_disk == reference_template(), \
        "k8s/sandbox/pod-template.yaml is stale: " \
        "python -m actors.sandbox.kubernetes.pod > k8s/sandbox/pod-template.yaml"
    spec = on_disk["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == CONFIG.service_account
    assert on_disk["metadata"]["namespace"] == CONFIG.namespace
    container = spec["containers"][0]
    assert set(container["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_sandbox_namespace_enforces_pod_security_the_pods_meet():
    ns = one("Namespace", CONFIG.namespace)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    spec = reference_template()["template"]["spec"]
    assert not spec["hostNetwork"] and not spec["hostPID"] and not spec["hostIPC"]
    assert not any(c["securityContext"].get("privileged") for c in spec["containers"])
    assert not any("hostPath" in v for v in spec["volumes"])
    quota = one("ResourceQuota")
    assert quota["metadata"]["namespace"] == CONFIG.namespace and int(quota["spec"]["hard"]["pods"]) > 0
