"""The settings object: the YAML config file of DESIGN section 10 plus GATEKEEPER_* overrides."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gatekeeper.errors import ConfigError
from gatekeeper.settings import yamlfile
from gatekeeper.settings._base import CONFIG_ENV, _is_remote, code_names_in_file, parse_duration
from gatekeeper.settings.outputs import (
    DEFAULT_NOTIFIED_KINDS,
    EventObject,
    NotificationSettings,
    NotificationTarget,
    PolicyReportSettings,
    ReceiverHook,
    ReceiverSettings,
    RetrySettings,
)
from gatekeeper.settings.policies import (
    PolicyBundleSettings,
    PolicySettings,
    PolicySourceSettings,
)
from gatekeeper.settings.services import (
    AdmissionSettings,
    DashboardSettings,
    ServerSettings,
    WebhookCertsSettings,
)
from gatekeeper.settings.sources import (
    HttpsCredentials,
    ReconcilerLimits,
    ReconcilerSettings,
    SourceCredentials,
    SourceSettings,
    SshCredentials,
)
from gatekeeper.settings.store import (
    SQLITE_FILE,
    AuditSettings,
    DatabaseSettings,
    KubernetesSettings,
    WitnessSettings,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_NOTIFIED_KINDS",
    "AdmissionSettings",
    "AuditSettings",
    "DashboardSettings",
    "DatabaseSettings",
    "EventObject",
    "HttpsCredentials",
    "KubernetesSettings",
    "NotificationSettings",
    "NotificationTarget",
    "PolicyBundleSettings",
    "PolicyReportSettings",
    "PolicySettings",
    "PolicySourceSettings",
    "ReceiverHook",
    "ReceiverSettings",
    "ReconcilerLimits",
    "ReconcilerSettings",
    "RetrySettings",
    "ServerSettings",
    "Settings",
    "SourceCredentials",
    "SourceSettings",
    "SshCredentials",
    "WebhookCertsSettings",
    "WitnessSettings",
    "load_settings",
    "parse_duration",
]


class Settings(BaseSettings):
    """Every setting of the gatekeeper, validated once and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="GATEKEEPER_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    policies: PolicySettings = Field(default_factory=PolicySettings)
    sources: list[SourceSettings] = Field(default_factory=list)
    reconciler: ReconcilerSettings = Field(default_factory=ReconcilerSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    webhook_certs: WebhookCertsSettings | None = None
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    policy_reports: PolicyReportSettings = Field(default_factory=PolicyReportSettings)
    receivers: ReceiverSettings = Field(default_factory=ReceiverSettings)
    config_dir: Path = Field(
        default_factory=Path.cwd,
        validation_alias=AliasChoices("_config_dir"),
        exclude=True,
        description="Folder that relative paths are resolved against.",
    )

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceSettings]) -> list[SourceSettings]:
        names = [source.name for source in sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        return sources

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file, as DESIGN section 4 promises.
        return (_EnvOverrides(settings_cls), init_settings)

    def resolve(self, path: Path | None) -> Path | None:
        """A path made absolute against the config file's folder.

        `load_settings` has done this for every path of the file already; this is for a path
        that did not come from it.
        """
        if path is None:
            return None
        return path if path.is_absolute() else (self.config_dir / path)


class _EnvOverrides(PydanticBaseSettingsSource):
    """GATEKEEPER_<SECTION>__<KEY> variables, mapped onto the file's camelCase keys.

    Segments match a field by name or alias, ignoring case and underscores, so both
    GATEKEEPER_AUDIT__SIGNING_KEY_FILE and GATEKEEPER_AUDIT__SIGNINGKEYFILE work. Values are
    read as YAML, so a list is given whole: GATEKEEPER_POLICIES__PATHS='[a/, b/]'.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in sorted(os.environ.items()):
            upper = name.upper()
            if not upper.startswith("GATEKEEPER_") or upper == CONFIG_ENV:
                continue
            segments = upper.removeprefix("GATEKEEPER_").split("__")
            if len(segments) < 2:
                continue
            path = _map_segments(Settings, segments, name)
            try:
                parsed = yaml.safe_load(value) if value.strip() else value
            except yaml.YAMLError:
                parsed = value
            _set_path(result, path, parsed)
        return result


def _normalise(text: str) -> str:
    return text.replace("_", "").lower()


def _map_segments(model: type[BaseModel], segments: list[str], variable: str) -> list[str]:
    path: list[str] = []
    current: Any = model
    for segment in segments:
        fields = getattr(current, "model_fields", None)
        if not fields:
            raise ConfigError(
                f"environment variable {variable}: {'.'.join(path) or segment.lower()} "
                "cannot be set key by key; give the whole value as YAML"
            )
        for field_name, info in fields.items():
            alias = info.alias or field_name
            if _normalise(segment) in (_normalise(field_name), _normalise(alias)):
                path.append(alias)
                current = _inner_model(info.annotation)
                break
        else:
            raise ConfigError(f"environment variable {variable}: unknown key {segment.lower()}")
    return path


def _inner_model(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        inner = getattr(candidate, "__args__", ())
        for arg in inner:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _format_errors(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if p not in ("function-after[_unique_source_names()]",))
        where = _format_location(loc) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def _top_level(raw: dict[Any, Any], origin: str) -> dict[str, Any]:
    """The file's top-level keys, which become keyword arguments: refused unless each is a
    string naming a section. The folder relative paths are resolved against is the file's,
    never a key of it."""
    problems = [
        f"  {key}: unknown key" + ("" if isinstance(key, str) else " (keys are names)")
        for key in raw
        if not isinstance(key, str) or key.lstrip("_").lower() in ("config_dir", "configdir")
    ]
    problems += [f"  {problem}" for problem in code_names_in_file(Settings, raw)]
    if problems:
        raise ConfigError("\n".join([f"invalid configuration in {origin}:", *problems]))
    return raw


def load_settings(config_file: Path | str | None = None) -> Settings:
    """Build the settings from a YAML file (or $GATEKEEPER_CONFIG) and the environment."""
    path_text = str(config_file) if config_file is not None else os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    origin = "the environment"
    config_dir = Path.cwd()
    if path_text:
        path = Path(path_text)
        origin = str(path)
        try:
            raw = yamlfile.load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"config file {path} is not UTF-8: byte {exc.start} cannot be decoded"
            ) from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        data = _top_level(raw, origin)
        config_dir = path.resolve().parent
    try:
        settings = Settings(**data, _config_dir=config_dir)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origin)) from exc
    return _with_absolute_paths(settings) if path_text else settings


def _with_absolute_paths(settings: Settings) -> Settings:
    """The settings with every relative path made absolute against the config file's folder.

    Done once, here, so that no caller joins paths again. Without a file, paths stay as given:
    relative to the working directory, which is what they would be resolved against.
    """
    base = settings.config_dir

    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    def optional(path: Path | None) -> Path | None:
        return None if path is None else absolute(path)

    audit, server, dashboard = settings.audit, settings.server, settings.dashboard
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"url": _absolute_sqlite_url(settings.database.url, base)}
            ),
            "audit": audit.model_copy(
                update={
                    "signing_key_file": optional(audit.signing_key_file),
                    "public_key_file": optional(audit.public_key_file),
                    "secret_digest_key_file": optional(audit.secret_digest_key_file),
                    "witness": None
                    if audit.witness is None
                    else audit.witness.model_copy(
                        update={
                            "folder": optional(audit.witness.folder),
                            "git": optional(audit.witness.git),
                        }
                    ),
                }
            ),
            "kubernetes": settings.kubernetes.model_copy(
                update={"kubeconfig": optional(settings.kubernetes.kubeconfig)}
            ),
            "policies": settings.policies.with_base(base),
            "sources": [
                source.model_copy(
                    update={
                        "trust": absolute(source.trust),
                        "credentials": _absolute_credentials(source.credentials, absolute),
                        "repo": source.repo
                        if _is_remote(source.repo)
                        else str(absolute(Path(source.repo))),
                    }
                )
                for source in settings.sources
            ],
            "server": server.model_copy(
                update={
                    "tls_cert_file": optional(server.tls_cert_file),
                    "tls_key_file": optional(server.tls_key_file),
                    "client_ca_file": optional(server.client_ca_file),
                }
            ),
            "dashboard": dashboard.model_copy(
                update={
                    "tls_cert_file": optional(dashboard.tls_cert_file),
                    "tls_key_file": optional(dashboard.tls_key_file),
                    "tokens_file": optional(dashboard.tokens_file),
                    "reports_dir": optional(dashboard.reports_dir),
                }
            ),
            "receivers": _absolute_receivers(settings.receivers, absolute),
        }
    )


def _absolute_credentials(
    credentials: SourceCredentials | None, absolute: Callable[[Path], Path]
) -> SourceCredentials | None:
    if credentials is None:
        return None

    def optional(path: Path | None) -> Path | None:
        return None if path is None else absolute(path)

    https, ssh = credentials.https, credentials.ssh
    return credentials.model_copy(
        update={
            "https": None
            if https is None
            else https.model_copy(
                update={
                    "username_file": optional(https.username_file),
                    "password_file": optional(https.password_file),
                    "token_file": optional(https.token_file),
                }
            ),
            "ssh": None
            if ssh is None
            else ssh.model_copy(
                update={
                    "private_key_file": absolute(ssh.private_key_file),
                    "known_hosts_file": absolute(ssh.known_hosts_file),
                }
            ),
        }
    )


def _absolute_receivers(
    receivers: ReceiverSettings, absolute: Callable[[Path], Path]
) -> ReceiverSettings:
    def optional(path: Path | None) -> Path | None:
        return None if path is None else absolute(path)

    return receivers.model_copy(
        update={
            "tls_cert_file": optional(receivers.tls_cert_file),
            "tls_key_file": optional(receivers.tls_key_file),
            "hooks": [
                hook.model_copy(update={"secret_file": optional(hook.secret_file)})
                for hook in receivers.hooks
            ],
        }
    )


def _absolute_sqlite_url(url: str, base: Path) -> str:
    """A SQLite URL whose relative file is made absolute against `base`; any other as given."""
    match = SQLITE_FILE.match(url)
    if match is None or match["path"] == ":memory:" or Path(match["path"]).is_absolute():
        return url
    return f"{match['scheme']}{base / match['path']}{match['query'] or ''}"
