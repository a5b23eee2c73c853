"""`gatekeeper dev-cluster`: a local kube-apiserver and etcd for tests and the demo."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.cli.context import console, console_err
from gatekeeper.cli.options import TextOrJson, TextOrJsonOption
from gatekeeper.errors import CheckFailed

app = typer.Typer(
    name="dev-cluster",
    help="A local Kubernetes control plane (etcd + kube-apiserver on 127.0.0.1).",
    no_args_is_help=True,
)

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the plane keeps data, keys, kubeconfigs and pid files "
        "(default: $GATEKEEPER_DEV_CLUSTER_DIR, else the user's state folder).",
        show_default=False,
    ),
]


def _state_dir(value: Path | None) -> Path:
    from gatekeeper.devcluster import layout

    # The default reads the environment variable the help names.
    return value if value is not None else layout.default_state_dir()


def _progress(message: str) -> None:
    from rich.markup import escape

    console_err().print(f"[dim]dev-cluster:[/dim] {escape(message)}", markup=True, soft_wrap=True)


@app.command("up")
def up(
    state_dir: StateDir = None,
    with_nodes: Annotated[
        bool,
        typer.Option(
            "--with-nodes",
            help="Also run a real node (containerd, kubelet, kube-proxy, controller-manager, "
            "scheduler) so that Pods run; root only, one per machine (docs/dev-cluster.md).",
        ),
    ] = False,
) -> None:
    """Start the control plane (building kube-apiserver once if needed); reuse a running one."""
    from gatekeeper.devcluster import plane
    from gatekeeper.devcluster.identities import ADMIN

    started = plane.up(_state_dir(state_dir), progress=_progress, with_nodes=with_nodes)
    verb = "reusing" if started.reused else "started"
    console().print(f"{verb} control plane at {started.server}", soft_wrap=True)
    if started.node is not None:
        node = started.node
        console().print(f"node {node['name']} ({node['ip']}) Ready", soft_wrap=True)
    console().print(f"admin kubeconfig: {started.kubeconfig(ADMIN.name)}", soft_wrap=True)


@app.command("load-image")
def load_image(
    archive: Annotated[
        Path, typer.Argument(help="A docker or OCI archive (`make image` writes one).")
    ],
    state_dir: StateDir = None,
) -> None:
    """Load an image archive into the node's containerd (Pods use `imagePullPolicy: Never`)."""
    from gatekeeper.devcluster import DevClusterError, layout, nodeimages, plane

    if not archive.is_file():
        raise typer.BadParameter(f"{archive} is not a file")
    files = layout.Layout(_state_dir(state_dir).absolute())
    running = plane.running(files)
    if running is None or running.node is None:
        raise DevClusterError(
            f"no control plane with a node runs in {files.root}; "
            "start one with `gatekeeper dev-cluster up --with-nodes`"
        )
    output = nodeimages.import_archive(Path(running.node["containerd_socket"]), archive)
    console().print(output or f"loaded {archive}", soft_wrap=True)


@app.command("down")
def down(state_dir: StateDir = None) -> None:
    """Stop the processes `up` started and drop the cluster's data."""
    from gatekeeper.devcluster import plane

    stopped = plane.down(_state_dir(state_dir))
    if stopped:
        console().print(f"stopped processes {', '.join(map(str, stopped))}", soft_wrap=True)
    else:
        console().print("no control plane was running")


@app.command("env")
def env(
    state_dir: StateDir = None,
    user: Annotated[
        str, typer.Option("--user", help="One of the plane's identities (DESIGN section 9).")
    ] = "admin",
) -> None:
    """Print `export KUBECONFIG=...` for one identity: eval "$(gatekeeper dev-cluster env)"."""
    from gatekeeper.devcluster import DevClusterError, layout, plane
    from gatekeeper.devcluster.identities import IDENTITIES

    if user not in IDENTITIES:
        raise typer.BadParameter(f"unknown user {user!r}; known: {', '.join(IDENTITIES)}")
    files = layout.Layout(_state_dir(state_dir).absolute())
    if plane.running(files) is None:
        raise DevClusterError(
            "no control plane is running; start one with `gatekeeper dev-cluster up`"
        )
    typer.echo(f"export KUBECONFIG={shlex.quote(str(files.kubeconfig(user)))}")


@app.command("status")
def status(state_dir: StateDir = None, output: TextOrJsonOption = TextOrJson.text) -> None:
    """Say what runs where: processes, ports, server URL, kubeconfig files, binaries.

    Exit 1 when no control plane is running.
    """
    from gatekeeper.devcluster import plane

    info = plane.describe(_state_dir(state_dir))
    if output is TextOrJson.json:
        typer.echo(json.dumps(info, indent=2))
        return
    if not info["running"]:
        raise CheckFailed(f"no control plane is running (state directory {info['state_dir']})")
    out = console()
    out.print(f"running at {info['server']} since {info['started_at']}", soft_wrap=True)
    for name, component in info["components"].items():
        out.print(
            f"  {name}: pid {component['pid']}, port {component['port']}, log {component['log']}",
            soft_wrap=True,
        )
    for name, path in info["binaries"].items():
        out.print(f"  {name} binary: {path}", soft_wrap=True)
    for name, path in info["kubeconfigs"].items():
        out.print(f"  kubeconfig {name}: {path}", soft_wrap=True)
