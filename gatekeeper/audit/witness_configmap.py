"""The ConfigMap witness: a key per checkpoint in ConfigMaps, through the one Kubernetes client.

A ConfigMap holds at most 1 MiB, so a long log's checkpoints spread over several: ids 1-1000
go to the named one, 1001-2000 to `NAME.1`, and so on. Every one carries the label
`gatekeeper.dev/audit-witness: NAME`, which is how they are found again (and exported with one
`kubectl get configmaps -l ...`). A dot cannot occur in a configured name, so `NAME.1` is never
another witness's ConfigMap.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from gatekeeper.audit.errors import WitnessError, WitnessUnavailable
from gatekeeper.audit.store import Checkpoint
from gatekeeper.audit.witness import (
    CONFIG_MAP_PREFIX,
    WitnessCopy,
    config_map_entries,
    copy_of,
    entry_name,
    entry_text,
    parse_entry,
    refuse_if_different,
)
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Conflict, KubeError
from gatekeeper.kube.objects import ResourceType
from gatekeeper.settings import WitnessSettings

if TYPE_CHECKING:
    from gatekeeper.settings import Settings

CONFIG_MAPS: Final = ResourceType(
    group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True
)
WITNESS_LABEL: Final = "gatekeeper.dev/audit-witness"
PER_CONFIG_MAP: Final = 1000
# Writers of one witness (webhook workers, the reconciler) may update a ConfigMap at once; a
# writer that loses the race waits a random while, growing with each loss, and reads it again.
_ATTEMPTS: Final = 12
_BACKOFF_MS: Final = 20


class ConfigMapWitness:
    """Checkpoints as keys of the ConfigMaps `namespace/name`, `namespace/name.1`, ..."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        per_config_map: int = PER_CONFIG_MAP,
        owns_client: bool = False,
    ) -> None:
        if per_config_map < 1:
            raise WitnessError("a ConfigMap must hold at least one checkpoint")
        self.namespace = namespace
        self.name = name
        self._kube = kube
        self._per_map = per_config_map
        self._owns_client = owns_client

    @classmethod
    def from_settings(cls, reference: str, settings: Settings) -> ConfigMapWitness:
        """The witness `namespace/name`, reached as `kubernetes.kubeconfig` says."""
        try:
            checked = WitnessSettings(config_map=reference)
        except ValidationError as exc:
            raise WitnessError(
                f"{CONFIG_MAP_PREFIX}{reference}: not NAMESPACE/NAME of lower-case DNS labels"
            ) from exc
        namespace, _, name = (checked.config_map or "").partition("/")
        try:
            kube = KubeClient.from_kubeconfig(
                settings.kubernetes.kubeconfig, settings.kubernetes.context
            )
        except KubeError as exc:
            raise WitnessError(f"ConfigMap witness {reference}: {exc}") from exc
        return cls(kube, namespace=namespace, name=name, owns_client=True)

    @property
    def location(self) -> str:
        return f"{CONFIG_MAP_PREFIX}{self.namespace}/{self.name}"

    def config_map_name(self, checkpoint_id: int) -> str:
        """The ConfigMap that keeps checkpoint `checkpoint_id`."""
        part = max(checkpoint_id - 1, 0) // self._per_map
        return self.name if part == 0 else f"{self.name}.{part}"

    def write(self, checkpoint: Checkpoint) -> None:
        name = self.config_map_name(checkpoint.id)
        key, value = entry_name(checkpoint), entry_text(checkpoint, compact=True)
        where = f"{self.namespace}/{name}/{key}"
        try:
            for attempt in range(_ATTEMPTS):
                if attempt:
                    _back_off(attempt)
                live = self._kube.get(CONFIG_MAPS, name, self.namespace)
                if live is None:
                    try:
                        self._kube.create(CONFIG_MAPS, self._new(name, {key: value}))
                    except Conflict:
                        continue
                    return
                self._check_owner(live, name)
                data = dict(live.get("data") or {})
                if key in data:
                    refuse_if_different(parse_entry(data[key], where), checkpoint, where)
                    return
                live["data"] = {**data, key: value}
                try:
                    self._kube.replace(CONFIG_MAPS, live)
                except Conflict:
                    continue
                return
        except KubeError as exc:
            raise _translated(exc, f"cannot write checkpoint {checkpoint.id} to {where}") from exc
        raise WitnessUnavailable(
            f"ConfigMap {self.namespace}/{name} changed under every one of {_ATTEMPTS} writes"
        )

    def read(self) -> WitnessCopy:
        try:
            items = self._kube.list(
                CONFIG_MAPS, label_selector=f"{WITNESS_LABEL}={self.name}", namespace=self.namespace
            )
        except KubeError as exc:
            raise _translated(exc, f"cannot read the witness {self.location}") from exc
        if not items:
            raise WitnessError(
                f"no ConfigMap labelled {WITNESS_LABEL}={self.name} in namespace {self.namespace}"
            )
        return copy_of(self.location, config_map_entries(items))

    def close(self) -> None:
        if self._owns_client:
            self._kube.close()

    def _new(self, name: str, data: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {WITNESS_LABEL: self.name},
            },
            "data": data,
        }

    def _check_owner(self, live: dict[str, Any], name: str) -> None:
        labels = (live.get("metadata") or {}).get("labels") or {}
        if labels.get(WITNESS_LABEL) != self.name:
            raise WitnessError(
                f"ConfigMap {self.namespace}/{name} exists without the label "
                f"{WITNESS_LABEL}={self.name}: it is not this witness's"
            )


def _back_off(attempt: int) -> None:
    ceiling = _BACKOFF_MS * 2 ** min(attempt, 5)
    time.sleep(secrets.randbelow(ceiling + 1) / 1000)


def _translated(error: KubeError, what: str) -> WitnessError:
    if error.transient:
        return WitnessUnavailable(f"{what}: {error}")
    return WitnessError(f"{what}: {error}")
