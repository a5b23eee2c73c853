"""A Helm chart repository on loopback (index.yaml and archives over http.server), and the
charts to put in it, packaged by the real Helm library."""

from __future__ import annotations

import functools
import http.server
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

TEMPLATE = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {{ .Release.Name }}-{{ .Chart.Name }}
    data:
      greeting: {{ .Values.greeting | quote }}
      chartVersion: {{ .Chart.Version | quote }}
    """
)


def chart_files(name: str, version: str, greeting: str = "hello") -> dict[str, str]:
    """A one-ConfigMap chart, as files relative to its folder."""
    return {
        "Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}),
        "values.yaml": yaml.safe_dump({"greeting": greeting}),
        "templates/configmap.yaml": TEMPLATE,
    }


def package(folder: Path, name: str, version: str, greeting: str = "hello") -> Path:
    """The chart packaged as `name-version.tgz` in `folder` by the Helm library."""
    import helm_python

    source = folder / "src" / f"{name}-{version}-{greeting}"
    for relative, text in chart_files(name, version, greeting).items():
        target = source / name / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    built = Path(helm_python.package(source / name, destination=folder / "src"))
    final = folder / f"{name}-{version}.tgz"
    built.replace(final)
    return final


def digest(archive: Path) -> str:
    import helm_python

    return helm_python.digest(archive)


@dataclass
class HelmRepo:
    """A served folder: `url` is the repository URL, `folder` holds index.yaml and charts."""

    folder: Path
    url: str
    requests: list[str] = field(default_factory=list)

    def publish(self, name: str, version: str, greeting: str = "hello") -> str:
        """Package a chart into the repository and list it in index.yaml; its digest."""
        archive = package(self.folder, name, version, greeting)
        found = digest(archive)
        index_file = self.folder / "index.yaml"
        index = (
            yaml.safe_load(index_file.read_text())
            if index_file.exists()
            else {"apiVersion": "v1", "entries": {}}
        )
        entries = index["entries"].setdefault(name, [])
        entries[:] = [e for e in entries if e["version"] != version]
        entries.append(
            {
                "apiVersion": "v2",
                "name": name,
                "version": version,
                "digest": found.removeprefix("sha256:"),
                "urls": [archive.name],
            }
        )
        index_file.write_text(yaml.safe_dump(index))
        return found


@pytest.fixture
def helm_repo(tmp_path: Path) -> Iterator[HelmRepo]:
    """A Helm repository served on 127.0.0.1 for the test."""
    served = tmp_path / "helm-root"
    folder = served / "charts"
    folder.mkdir(parents=True)
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            seen.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HelmRepo(folder, f"http://127.0.0.1:{server.server_address[1]}/charts", seen)
    finally:
        server.shutdown()
        server.server_close()
