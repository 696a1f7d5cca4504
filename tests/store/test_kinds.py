"""The built-in scheme: kubectl names, scope and subresources, defaults, and table columns."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.errors import NotFoundError
from shipyard.core.objects import json_copy
from shipyard.store.kinds import builtin_scheme
from shipyard.store.validation.pod_defaults import image_pull_policy, pod_qos_class

SCHEME = builtin_scheme()
UID = "0b6f0f0e-1d2c-4b7a-9a43-6f0c1b2d3e4f"

Obj = dict[str, Any]

# kubectl api-resources, for the kinds Shipyard serves:
# (resource, short names, apiVersion, namespaced, kind, has a status subresource)
API_RESOURCES = [
    ("configmaps", ("cm",), "v1", True, "ConfigMap", False),
    ("endpoints", ("ep",), "v1", True, "Endpoints", False),
    ("events", ("ev",), "v1", True, "Event", False),
    ("namespaces", ("ns",), "v1", False, "Namespace", True),
    ("nodes", ("no",), "v1", False, "Node", True),
    ("persistentvolumeclaims", ("pvc",), "v1", True, "PersistentVolumeClaim", True),
    ("persistentvolumes", ("pv",), "v1", False, "PersistentVolume", True),
    ("pods", ("po",), "v1", True, "Pod", True),
    ("secrets", (), "v1", True, "Secret", False),
    ("serviceaccounts", ("sa",), "v1", True, "ServiceAccount", False),
    ("services", ("svc",), "v1", True, "Service", True),
    ("controllerrevisions", (), "apps/v1", True, "ControllerRevision", False),
    ("daemonsets", ("ds",), "apps/v1", True, "DaemonSet", True),
    ("deployments", ("deploy",), "apps/v1", True, "Deployment", True),
    ("replicasets", ("rs",), "apps/v1", True, "ReplicaSet", True),
    ("statefulsets", ("sts",), "apps/v1", True, "StatefulSet", True),
    ("horizontalpodautoscalers", ("hpa",), "autoscaling/v2", True, "HorizontalPodAutoscaler", True),
    ("cronjobs", ("cj",), "batch/v1", True, "CronJob", True),
    ("jobs", (), "batch/v1", True, "Job", True),
    ("leases", (), "coordination.k8s.io/v1", True, "Lease", False),
    ("endpointslices", (), "discovery.k8s.io/v1", True, "EndpointSlice", False),
    ("events", ("ev",), "events.k8s.io/v1", True, "Event", False),
    ("poddisruptionbudgets", ("pdb",), "policy/v1", True, "PodDisruptionBudget", True),
    ("priorityclasses", ("pc",), "scheduling.k8s.io/v1", False, "PriorityClass", False),
]  # fmt: skip


def defaulted(obj: Obj) -> Obj:
    info = SCHEME.get(obj["apiVersion"], obj["kind"])
    obj = json_copy(obj)
    obj.setdefault("metadata", {}).setdefault("uid", UID)
    if info.namespaced:
        obj["metadata"].setdefault("namespace", "default")
    info.default(obj)
    assert info.validate(obj, None) == []
    return obj


def pod(**spec: Any) -> Obj:
    containers = spec.pop("containers", [{"name": "app", "image": "nginx:1.27"}])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app"},
        "spec": {"containers": containers, **spec},
    }


def template(**spec: Any) -> Obj:
    return {"metadata": {"labels": {"app": "web"}}, "spec": pod(**spec)["spec"]}


def workload(kind: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(), **spec},
    }


def cells(obj: Obj, *, wide: bool = True) -> dict[str, str]:
    info = SCHEME.get(obj["apiVersion"], obj["kind"])
    return {h: fn(obj) for h, fn in info.columns if wide or not h.endswith("*")}


# --- names and scope ------------------------------------------------------------------------


@pytest.mark.parametrize("row", API_RESOURCES, ids=lambda r: f"{r[0]}.{r[2]}")
def test_kinds_are_served_as_kubectl_api_resources_lists_them(row: tuple[Any, ...]) -> None:
    plural, short, api_version, namespaced, kind, has_status = row
    info = SCHEME.get(api_version, kind)
    assert (info.plural, info.short_names, info.namespaced, info.has_status) == (
        plural,
        short,
        namespaced,
        has_status,
    )


def test_the_scheme_serves_exactly_those_kinds() -> None:
    assert {(i.api_version, i.kind) for i in SCHEME} == {(r[2], r[4]) for r in API_RESOURCES}


@pytest.mark.parametrize(
    ("name", "api_version", "kind"),
    [
        ("po", "v1", "Pod"),
        ("pods", "v1", "Pod"),
        ("pod", "v1", "Pod"),
        ("Pod", "v1", "Pod"),
        ("deploy", "apps/v1", "Deployment"),
        ("deployments.apps", "apps/v1", "Deployment"),
        ("deployment.apps", "apps/v1", "Deployment"),
        ("svc", "v1", "Service"),
        ("ns", "v1", "Namespace"),
        ("no", "v1", "Node"),
        ("ds", "apps/v1", "DaemonSet"),
        ("rs", "apps/v1", "ReplicaSet"),
        ("sts", "apps/v1", "StatefulSet"),
        ("pdb", "policy/v1", "PodDisruptionBudget"),
        ("hpa", "autoscaling/v2", "HorizontalPodAutoscaler"),
        ("pc", "scheduling.k8s.io/v1", "PriorityClass"),
        ("ep", "v1", "Endpoints"),
        ("ev", "v1", "Event"),
        ("events", "v1", "Event"),
        ("events.events.k8s.io", "events.k8s.io/v1", "Event"),
        ("cm", "v1", "ConfigMap"),
        ("cj", "batch/v1", "CronJob"),
        ("jobs.batch", "batch/v1", "Job"),
        ("pvc", "v1", "PersistentVolumeClaim"),
        ("leases", "coordination.k8s.io/v1", "Lease"),
        ("endpointslices.discovery.k8s.io", "discovery.k8s.io/v1", "EndpointSlice"),
    ],
)
def test_every_kubectl_name_resolves(name: str, api_version: str, kind: str) -> None:
    info = SCHEME.resolve(name)
    assert (info.api_version, info.kind) == (api_version, kind)


def test_unknown_names_and_versions_are_not_found() -> None:
    with pytest.raises(NotFoundError, match='resource type "widgets"'):
        SCHEME.resolve("widgets")
    with pytest.raises(NotFoundError, match="served versions: apps/v1"):
        SCHEME.get("apps/v1beta1", "Deployment")


def test_each_call_builds_a_new_scheme() -> None:
    assert builtin_scheme() is not builtin_scheme()


# --- defaults -------------------------------------------------------------------------------


def test_pod_defaults_match_the_api_server() -> None:
    obj = defaulted(
        pod(
            containers=[
                {
                    "name": "app",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    "livenessProbe": {"httpGet": {"port": 80}},
                }
            ]
        )
    )
    spec = obj["spec"]
    assert {k: spec[k] for k in _POD_SPEC_KEYS} == {
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "securityContext": {},
        "enableServiceLinks": True,
        "serviceAccountName": "default",
    }
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert container["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert [t["key"] for t in spec["tolerations"]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    assert spec["tolerations"][0] == {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    assert obj["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


_POD_SPEC_KEYS = (
    "restartPolicy",
    "dnsPolicy",
    "schedulerName",
    "terminationGracePeriodSeconds",
    "securityContext",
    "enableServiceLinks",
    "serviceAccountName",
)


def test_explicit_values_are_kept_and_existing_tolerations_are_respected() -> None:
    tolerate_all = {"operator": "Exists"}
    obj = defaulted(pod(restartPolicy="Never", dnsPolicy="Default", tolerations=[tolerate_all]))
    assert obj["spec"]["restartPolicy"] == "Never"
    assert obj["spec"]["dnsPolicy"] == "Default"
    assert obj["spec"]["tolerations"] == [tolerate_all]


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("registry.example.com/app@sha256:abcd", "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "0"}}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
         "Guaranteed"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m",
          "memory": "1024Mi"}}, "Guaranteed"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m",
          "memory": "1Gi"}}, "Burstable"),
        ({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}, "Burstable"),
    ],
)  # fmt: skip
def test_qos_class(resources: Obj, qos: str) -> None:
    spec = {"containers": [{"name": "a", "image": "x", "resources": resources}]}
    assert pod_qos_class(spec) == qos


def test_workload_defaults() -> None:
    deployment = defaulted(workload("Deployment"))["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (deployment["revisionHistoryLimit"], deployment["progressDeadlineSeconds"]) == (10, 600)
    assert deployment["template"]["spec"]["restartPolicy"] == "Always"
    assert "tolerations" not in deployment["template"]["spec"]  # Pod-only defaults
    assert defaulted(workload("ReplicaSet"))["spec"]["replicas"] == 1
    daemon = defaulted(workload("DaemonSet"))["spec"]
    assert daemon["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    stateful = defaulted(workload("StatefulSet"))["spec"]
    assert stateful["podManagementPolicy"] == "OrderedReady"
    assert stateful["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0},
    }
    assert stateful["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }


def test_recreate_deployments_get_no_rolling_update() -> None:
    spec = defaulted(workload("Deployment", strategy={"type": "Recreate"}))["spec"]
    assert spec["strategy"] == {"type": "Recreate"}


def test_job_defaults_and_generated_selector() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {"template": template(restartPolicy="Never")},
    }
    obj = defaulted(job)
    spec = obj["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"]) == ("NonIndexed", False)
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "pi"
    assert labels["controller-uid"] == UID
    assert obj["metadata"]["labels"] == labels


def test_parallel_job_without_completions_keeps_them_unset() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "queue"},
        "spec": {"parallelism": 4, "template": template(restartPolicy="Never")},
    }
    spec = defaulted(job)["spec"]
    assert spec["parallelism"] == 4
    assert "completions" not in spec


def test_cron_job_defaults() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": template(restartPolicy="OnFailure")}},
        },
    }
    spec = defaulted(cron)["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]  # Job defaults apply to Jobs


def test_service_defaults() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]},
    }
    spec = defaulted(service)["spec"]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (spec["internalTrafficPolicy"], spec["externalTrafficPolicy"]) == ("Cluster", "Cluster")
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    plain = defaulted({**service, "spec": {"ports": [{"port": 443, "targetPort": "https"}]}})
    assert (plain["spec"]["type"], plain["spec"]["sessionAffinity"]) == ("ClusterIP", "None")
    assert plain["spec"]["ports"][0]["targetPort"] == "https"


def test_hpa_defaults_include_the_scaling_behavior() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
    }
    spec = defaulted(hpa)["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert spec["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    }


def test_partial_hpa_behavior_is_completed() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
        },
    }
    behavior = defaulted(hpa)["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert behavior["scaleDown"]["policies"] == [
        {"type": "Percent", "value": 100, "periodSeconds": 15}
    ]
    assert behavior["scaleUp"]["selectPolicy"] == "Max"


def test_core_kind_defaults() -> None:
    namespace = defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    assert namespace["spec"] == {"finalizers": ["kubernetes"]}
    assert namespace["status"] == {"phase": "Active"}
    secret = defaulted(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "stringData": {"pw": "hi"},
        }
    )
    assert (secret["type"], secret["data"], "stringData" in secret) == (
        "Opaque",
        {"pw": "aGk="},
        False,
    )
    claim = defaulted(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    assert (claim["spec"]["volumeMode"], claim["status"]) == ("Filesystem", {"phase": "Pending"})
    priority = defaulted(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
        }
    )
    assert priority["preemptionPolicy"] == "PreemptLowerPriority"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert defaulted(node) == {**node, "metadata": {"name": "n1", "uid": UID}}
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {"maxUnavailable": 1},
    }
    assert defaulted(budget) == budget


# --- columns --------------------------------------------------------------------------------


def test_every_kind_has_columns_in_capitals_with_wide_ones_last() -> None:
    for info in SCHEME:
        headers = [h for h, _ in info.columns]
        assert headers, info.kind
        assert all(h == h.upper() and h not in ("NAME", "AGE") for h in headers), info.kind
        wide = [h.endswith("*") for h in headers]
        assert wide == sorted(wide), f"{info.kind}: wide columns must come last"


def test_every_column_prints_any_object_without_failing() -> None:
    for info in SCHEME:
        for obj in ({}, {"spec": [], "status": "x", "metadata": 3}):
            assert all(isinstance(fn(obj), str) for _, fn in info.columns), info.kind


def test_pod_columns() -> None:
    running = defaulted(pod(nodeName="node-1"))
    running["status"] = {
        "phase": "Running",
        "podIP": "10.244.1.5",
        "containerStatuses": [
            {"name": "app", "ready": True, "restartCount": 2, "state": {"running": {}}}
        ],
    }
    assert cells(running) == {
        "READY": "1/1",
        "STATUS": "Running",
        "RESTARTS": "2",
        "IP*": "10.244.1.5",
        "NODE*": "node-1",
        "NOMINATED NODE*": "<none>",
        "READINESS GATES*": "<none>",
    }
    crashing = json_copy(running)
    crashing["status"]["containerStatuses"][0] = {
        "name": "app",
        "ready": False,
        "restartCount": 7,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    }
    assert cells(crashing, wide=False) == {
        "READY": "0/1",
        "STATUS": "CrashLoopBackOff",
        "RESTARTS": "7",
    }
    pending = defaulted(pod())
    assert cells(pending, wide=False) == {"READY": "0/1", "STATUS": "Pending", "RESTARTS": "0"}
    pending["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert cells(pending)["STATUS"] == "Terminating"


def test_pod_status_while_initializing_and_after_completion() -> None:
    obj = defaulted(pod(initContainers=[{"name": "init", "image": "busybox"}]))
    obj["status"] = {
        "phase": "Pending",
        "initContainerStatuses": [{"name": "init", "state": {"running": {}}}],
    }
    assert cells(obj)["STATUS"] == "Init:0/1"
    obj["status"]["initContainerStatuses"][0]["state"] = {"terminated": {"exitCode": 1}}
    assert cells(obj)["STATUS"] == "Init:ExitCode:1"
    done = defaulted(pod(restartPolicy="Never"))
    done["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [{"name": "app", "state": {"terminated": {"reason": "Completed"}}}],
    }
    assert cells(done)["STATUS"] == "Completed"


def test_workload_columns() -> None:
    deployment = defaulted(workload("Deployment", replicas=3))
    deployment["status"] = {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    assert cells(deployment) == {
        "READY": "2/3",
        "UP-TO-DATE": "3",
        "AVAILABLE": "2",
        "CONTAINERS*": "app",
        "IMAGES*": "nginx:1.27",
        "SELECTOR*": "app=web",
    }
    replica_set = defaulted(workload("ReplicaSet", replicas=2))
    assert cells(replica_set, wide=False) == {"DESIRED": "2", "CURRENT": "0", "READY": "0"}
    daemon = defaulted(workload("DaemonSet"))
    assert cells(daemon, wide=False)["NODE SELECTOR"] == "<none>"
    job = defaulted(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi"},
            "spec": {"completions": 3, "template": template(restartPolicy="Never")},
            "status": {"succeeded": 3, "conditions": [{"type": "Complete", "status": "True"}]},
        }
    )
    assert cells(job, wide=False) == {"STATUS": "Complete", "COMPLETIONS": "3/3"}


def test_service_node_and_autoscaler_columns() -> None:
    service = defaulted(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.12",
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                ],
            },
        }
    )
    assert cells(service) == {
        "TYPE": "LoadBalancer",
        "CLUSTER-IP": "10.96.0.12",
        "EXTERNAL-IP": "<pending>",
        "PORT(S)": "80:30080/TCP,53/UDP",
        "SELECTOR*": "app=web",
    }
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.31.0"},
            "addresses": [{"type": "InternalIP", "address": "10.0.1.23"}],
        },
    }
    assert cells(node, wide=False) == {
        "STATUS": "Ready,SchedulingDisabled",
        "ROLES": "control-plane",
        "VERSION": "v1.31.0",
    }
    assert cells(node)["INTERNAL-IP*"] == "10.0.1.23"
    hpa = defaulted(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
            "status": {
                "currentReplicas": 2,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "current": {"averageUtilization": 42}},
                    }
                ],
            },
        }
    )
    assert cells(hpa) == {
        "REFERENCE": "Deployment/web",
        "TARGETS": "cpu: 42%/80%",
        "MINPODS": "1",
        "MAXPODS": "5",
        "REPLICAS": "2",
    }
