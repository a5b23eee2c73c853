"""The namespaces the webhook must never guard, made recognisable on every Kubernetes version.

The chart's ValidatingWebhookConfiguration leaves out namespaces by the label
`kubernetes.io/metadata.name`, which kube-apiserver sets on every namespace, to its name, from
Kubernetes 1.21. Before that nobody sets it, so the selector excluded nothing: the webhook
guarded its own namespace (with `failurePolicy: Fail`, its own Pods could then not be
created) and saw every node heartbeat in `kube-node-lease`. Before the chart installs the
webhook, this puts the label on the namespaces it leaves out, with the value 1.21 and later
give it themselves, so the same selector works everywhere and nothing changes on an upgrade
of the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from gatekeeper.kube.client import MERGE_PATCH, KubeClient
from gatekeeper.kube.errors import NotFound
from gatekeeper.kube.objects import ResourceType

log = logging.getLogger(__name__)

NAME_LABEL: Final = "kubernetes.io/metadata.name"
NAMESPACES: Final = ResourceType(
    group="", version="v1", kind="Namespace", plural="namespaces", namespaced=False
)


def label_namespaces(kube: KubeClient, names: Iterable[str]) -> list[str]:
    """Give each namespace the label `kubernetes.io/metadata.name=<its name>`; the names of
    those that did not have it yet. A namespace that does not exist is `NotFound`."""
    changed = []
    for name in names:
        live = kube.get(NAMESPACES, name)
        if live is None:
            raise NotFound(
                f"namespace {name} does not exist, so the webhook cannot be told to leave it "
                "out; create it first",
                status=404,
            )
        labels = (live.get("metadata") or {}).get("labels") or {}
        if labels.get(NAME_LABEL) == name:
            continue
        body = {"metadata": {"labels": {NAME_LABEL: name}}}
        kube.request("PATCH", NAMESPACES.object_path(name), body=body, content_type=MERGE_PATCH)
        log.info("labelled namespace %s %s=%s", name, NAME_LABEL, name)
        changed.append(name)
    return changed
