"""Settings of the reconciler: the sources it syncs, their credentials and reading limits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from gatekeeper.settings._base import _ENV_NAME, Seconds, _Section


class HttpsCredentials(_Section):
    """HTTP Basic credentials for an http(s) remote: a username and a password or a token,
    each from a file (a mounted Secret) or an environment variable; read at each fetch."""

    username: str | None = Field(
        None, description="The user name (default with a token: x-access-token)."
    )
    username_file: Path | None = None
    username_env: str | None = Field(None, pattern=_ENV_NAME)
    password_file: Path | None = None
    password_env: str | None = Field(None, pattern=_ENV_NAME)
    token_file: Path | None = Field(None, description="An access token, sent as the password.")
    token_env: str | None = Field(None, pattern=_ENV_NAME)

    @model_validator(mode="after")
    def _one_of_each(self) -> HttpsCredentials:
        names = [self.username, self.username_file, self.username_env]
        secrets = [self.password_file, self.password_env, self.token_file, self.token_env]
        if sum(value is not None for value in names) > 1:
            raise ValueError("give one of username, usernameFile or usernameEnv")
        if sum(value is not None for value in secrets) != 1:
            raise ValueError("give exactly one of passwordFile, passwordEnv, tokenFile or tokenEnv")
        if all(value is None for value in names) and (
            self.password_file is not None or self.password_env is not None
        ):
            raise ValueError("a password needs a username (username, usernameFile or usernameEnv)")
        return self


class SshCredentials(_Section):
    """A deploy key for an SSH remote and the host keys it may present (nothing else is
    trusted: no agent, no ~/.ssh, no prompt)."""

    private_key_file: Path = Field(description="The private key (OpenSSH format, no passphrase).")
    known_hosts_file: Path = Field(description="known_hosts lines of the server's host keys.")
    connect_timeout: Seconds = Field(30.0, gt=0, description="Longest wait for the server.")


class SourceCredentials(_Section):
    """How a source's private repository is reached: over HTTPS or over SSH."""

    https: HttpsCredentials | None = None
    ssh: SshCredentials | None = None

    @model_validator(mode="after")
    def _one(self) -> SourceCredentials:
        if (self.https is None) == (self.ssh is None):
            raise ValueError("give https or ssh credentials, exactly one")
        return self


def _is_ssh_url(repo: str) -> bool:
    return repo.startswith("ssh://") or re.match(r"^[\w.-]+@[\w.-]+:", repo) is not None


class SourceSettings(_Section):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    repo: str = Field(min_length=1, description="URL or local path of the Git repository.")
    ref: str = "main"
    path: str = "."
    interval: Seconds = Field(
        60.0, gt=0, description="Seconds between passes (0 would poll without pause)."
    )
    trust: Path = Field(description="Trust policy file (DESIGN section 7).")
    render: Literal["auto", "yaml", "kustomize", "helm"] = "auto"
    prune: bool = True
    drift: Literal["correct", "report"] = "correct"
    health_timeout: Seconds = Field(
        120.0, gt=0, description="How long workloads may take to become healthy after an apply."
    )
    namespace: str | None = Field(None, description="Namespace for objects that name none.")
    auto_rollback: bool = Field(
        True,
        description="Roll back to the last healthy commit when a sync stays unhealthy "
        "past healthTimeout (or fails outright).",
    )
    release_name: str | None = Field(
        None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=53,
        description="Helm release name (default: the source's name).",
    )
    values_files: list[str] = Field(
        default_factory=list,
        description="Helm values files, repository paths, merged in order over the chart's "
        "values.yaml.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict, description="Helm values merged last, over valuesFiles."
    )
    helm_repositories: list[str] = Field(
        default_factory=list,
        description="Helm repositories (http/https URLs) that dependencies locked in a "
        "chart's Chart.lock may be fetched from; no others.",
    )
    create_namespace: bool = Field(
        False, description="Create `namespace` (as an object of the source) when missing."
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Sources that must be synced and healthy before this one syncs.",
    )
    credentials: SourceCredentials | None = Field(
        None, description="For a private repository: HTTPS credentials or an SSH deploy key."
    )
    fetch_timeout: Seconds = Field(
        300.0, gt=0, description="Longest a clone or fetch may take before it is stopped."
    )

    @model_validator(mode="after")
    def _check_relations(self) -> SourceSettings:
        if self.name in self.depends_on:
            raise ValueError(f"source {self.name} cannot depend on itself")
        if self.create_namespace and not self.namespace:
            raise ValueError("createNamespace needs a namespace")
        for repository in self.helm_repositories:
            if not re.match(r"^https?://[^/]", repository):
                raise ValueError(f"helmRepositories: {repository!r} is not an http(s) URL")
        if re.match(r"^[a-z][a-z0-9+.-]*://[^/@]*:[^/@]*@", self.repo, re.IGNORECASE):
            raise ValueError(
                "repo must not hold a password or token: it would be logged and recorded; "
                "give it in credentials.https"
            )
        if self.credentials is not None:
            if self.credentials.https is not None and not re.match(r"^https?://", self.repo):
                raise ValueError("credentials.https needs an http:// or https:// repo")
            if self.credentials.ssh is not None and not _is_ssh_url(self.repo):
                raise ValueError("credentials.ssh needs an ssh:// or user@host:path repo")
        return self


class ReconcilerLimits(_Section):
    """How much of a commit the reconciler reads: anything beyond is refused (`sync.rejected`)
    before it is parsed further, so that no commit can exhaust the reconciler."""

    max_file_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest file under a source's path, in bytes."
    )
    max_total_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Most bytes of all the files under a source's path at one commit, and of "
        "what a renderer (kustomize, helm) writes from them.",
    )
    max_files: int = Field(10_000, ge=1, description="Most files under a source's path.")
    max_object_bytes: int = Field(
        1536 * 1024,
        ge=1024,
        description="Largest object, as JSON. etcd refuses values over 1.5 MiB by default "
        "and the API server requests over 3 MiB.",
    )
    max_documents: int = Field(
        10_000, ge=1, description="Most YAML documents (and List items) of one commit."
    )
    max_yaml_aliases: int = Field(100, ge=0, description="Most YAML aliases (`*name`) in one file.")
    max_yaml_alias_nodes: int = Field(
        10_000,
        ge=0,
        description="Most values the aliases of one file may copy in all: a few aliases of "
        "aliases (a YAML bomb) would otherwise copy billions.",
    )
    max_yaml_depth: int = Field(
        100,
        ge=4,
        le=500,
        description="Deepest nesting of mappings and sequences in a document.",
    )
    render_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Longest a renderer (kustomize, a Helm chart) may run for one source at "
        "one commit.",
    )
    render_memory_bytes: int = Field(
        512 * 1024 * 1024,
        ge=64 * 1024 * 1024,
        description="Most memory a renderer may allocate: a Helm chart renders in a process "
        "of its own, and kustomize runs, under this limit, so a template that loops out of it "
        "is refused and the reconciler goes on. Keep it below the reconciler container's "
        "memory limit, less what the reconciler itself uses.",
    )


class ReconcilerSettings(_Section):
    """The reconciler, beside its `sources`."""

    limits: ReconcilerLimits = Field(default_factory=ReconcilerLimits)
