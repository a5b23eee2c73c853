"""The ConfigMap witness against a real kube-apiserver: keys, several ConfigMaps for a long
log, racing writers, the `kubectl` export of the docs, and an API server that is down."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit import chain
from gatekeeper.audit.checkpoints import scheduler_from_settings
from gatekeeper.audit.errors import WitnessConflict, WitnessError
from gatekeeper.audit.signing import Signer, checkpoint_message
from gatekeeper.audit.store import AuditStore, Checkpoint
from gatekeeper.audit.witness import entry_name
from gatekeeper.audit.witness_configmap import CONFIG_MAPS, WITNESS_LABEL, ConfigMapWitness
from gatekeeper.cli import main
from gatekeeper.kube.client import KubeClient
from gatekeeper.settings import load_settings
from tests.fixtures.cluster import Cluster
from tests.integration.audit.witness_support import (
    append,
    delete_checkpoints,
    rewrite,
    write_config,
)

pytestmark = pytest.mark.integration

KEY = Signer(Ed25519PrivateKey.generate())


def signed(checkpoint_id: int, seq: int, head: str | None = None) -> Checkpoint:
    moment = datetime.now(UTC)
    head = head or f"{seq:064x}"
    message = checkpoint_message(
        seq=seq, head_hash=head, time=chain.format_time(moment), key=KEY.key_id
    )
    return Checkpoint(checkpoint_id, seq, head, moment, KEY.key_id, KEY.sign(message))


@pytest.fixture
def kube(cluster: Cluster) -> KubeClient:
    # The session's API client; the cluster fixture closes it.
    return KubeClient(cluster.api("admin"))


@pytest.mark.cluster
def test_each_checkpoint_is_a_key_of_the_labelled_config_map(
    kube: KubeClient, namespace: str
) -> None:
    witness = ConfigMapWitness(kube, namespace=namespace, name="audit-witness")
    made = [signed(1, 6), signed(2, 10)]
    for checkpoint in made:
        witness.write(checkpoint)
    witness.write(made[0])

    live = kube.get(CONFIG_MAPS, "audit-witness", namespace)
    assert live["metadata"]["labels"] == {WITNESS_LABEL: "audit-witness"}
    assert sorted(live["data"]) == [entry_name(c) for c in made]
    assert witness.read().checkpoints == tuple(made)
    assert witness.location == f"configmap:{namespace}/audit-witness"


@pytest.mark.cluster
def test_a_long_log_spreads_over_numbered_config_maps(kube: KubeClient, namespace: str) -> None:
    witness = ConfigMapWitness(kube, namespace=namespace, name="w", per_config_map=2)
    made = [signed(i, i * 3) for i in range(1, 6)]
    for checkpoint in made:
        witness.write(checkpoint)
    names = sorted(item["metadata"]["name"] for item in kube.list(CONFIG_MAPS, namespace=namespace))
    assert [name for name in names if name.startswith("w")] == ["w", "w.1", "w.2"]
    assert witness.read().checkpoints == tuple(made)


@pytest.mark.cluster
def test_writers_racing_on_one_config_map_lose_no_checkpoint(
    kube: KubeClient, namespace: str
) -> None:
    errors: list[BaseException] = []

    def write(first: int) -> None:
        witness = ConfigMapWitness(kube, namespace=namespace, name="race")
        try:
            for checkpoint_id in range(first, first + 5):
                witness.write(signed(checkpoint_id, checkpoint_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(1 + 5 * i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    read = ConfigMapWitness(kube, namespace=namespace, name="race").read()
    assert [c.id for c in read.checkpoints] == list(range(1, 21))


@pytest.mark.cluster
def test_a_taken_key_or_someone_elses_config_map_is_never_overwritten(
    kube: KubeClient, namespace: str
) -> None:
    witness = ConfigMapWitness(kube, namespace=namespace, name="audit-witness")
    witness.write(signed(2, 10))
    with pytest.raises(WitnessConflict):
        witness.write(signed(2, 10, head="e" * 64))

    kube.create(
        CONFIG_MAPS,
        {"metadata": {"name": "settings", "namespace": namespace}, "data": {"a": "b"}},
    )
    with pytest.raises(WitnessError, match="not this witness's"):
        ConfigMapWitness(kube, namespace=namespace, name="settings").write(signed(1, 1))
    assert kube.get(CONFIG_MAPS, "settings", namespace)["data"] == {"a": "b"}


def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(found).exists():
        pytest.skip("kubectl is not installed")
    return found


@pytest.mark.cluster
def test_the_cli_writes_the_config_map_and_verifies_against_it_and_against_its_export(
    store: AuditStore,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    config = write_config(
        tmp_path,
        store,
        signer,
        audit={"witness": {"configMap": f"{namespace}/audit-witness"}},
        kubernetes={"kubeconfig": str(cluster.admin_kubeconfig)},
    )
    append(store, 6)
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    append(store, 4)
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    live = ["--config", str(config), "audit", "verify", "--witness"]
    live.append(f"configmap:{namespace}/audit-witness")
    assert main(live) == 0

    delete_checkpoints(store, from_id=2)
    rewrite(store, at=9)
    # The export the docs give, run as written.
    exported = subprocess.run(
        [
            kubectl(),
            "--kubeconfig",
            str(cluster.admin_kubeconfig),
            "get",
            "configmaps",
            "-n",
            namespace,
            "-l",
            "gatekeeper.dev/audit-witness=audit-witness",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (tmp_path / "witness.json").write_text(exported)

    assert main(["--config", str(config), "audit", "verify"]) == 0
    capsys.readouterr()
    assert main([*live, "--format", "json"]) == 1
    problems = [f["problem"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert problems == ["witness_missing", "witness_chain_mismatch"]
    offline = ["--config", str(config), "audit", "verify", "--witness"]
    assert main([*offline, str(tmp_path / "witness.json")]) == 1


def test_an_api_server_that_is_down_costs_no_checkpoint_and_stops_nothing(
    store: AuditStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "down", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "down", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    signer = Signer(Ed25519PrivateKey.generate())
    config = write_config(
        tmp_path,
        store,
        signer,
        audit={"witness": {"configMap": "gatekeeper-system/audit-witness"}},
        kubernetes={"kubeconfig": str(kubeconfig)},
    )
    scheduler = scheduler_from_settings(store, load_settings(config))
    assert scheduler is not None
    append(store, 2)
    made = scheduler.tick()
    assert made is not None and store.checkpoints() == [made]
    assert scheduler.witness_failures == 1 and scheduler.unwitnessed == made
    scheduler.stop()
    assert scheduler.witness_failures == 2
    assert "not yet in the witness configmap:gatekeeper-system/audit-witness" in caplog.text
    assert main(["--config", str(config), "audit", "checkpoint"]) == 3
