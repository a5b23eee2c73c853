"""Settings: the YAML file, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import ConfigError
from gatekeeper.settings import load_settings, parse_duration, yamlfile


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_design_when_no_file_is_given() -> None:
    settings = load_settings(None)
    assert settings.database.url == "sqlite:///gatekeeper.db"
    assert settings.policies.engine == "regorus"
    assert settings.admission.exempt_namespaces == [
        "kube-system",
        "kube-node-lease",
        "gatekeeper-system",
    ]
    assert settings.admission.fail_closed is True


def test_the_design_example_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database:
  url: sqlite:///gatekeeper.db
audit:
  signingKeyFile: keys/audit-ed25519.pem
  publicKeyFile: keys/audit-ed25519.pub
  checkpointInterval: 60s
kubernetes:
  kubeconfig: null
policies:
  paths: [policies/]
  engine: regorus
  opaUrl: null
sources:
  - name: apps
    repo: /srv/gitops
    ref: main
    path: apps/
    interval: 60s
    trust: trust.yaml
    render: auto
    prune: true
    drift: correct
    healthTimeout: 120s
admission:
  reconcilerIdentity: system:serviceaccount:gatekeeper-system:gatekeeper
  guardedNamespaces: ["*"]
  exemptNamespaces: [kube-system, gatekeeper-system]
  exemptUsers: []
  exemptGroups: []
  breakGlassGroups: [gatekeeper:break-glass]
  failClosed: true
""",
    )
    settings = load_settings(path)
    assert settings.sources[0].health_timeout == 120.0
    assert settings.audit.signing_key_file == tmp_path.resolve() / "keys/audit-ed25519.pem"
    assert settings.sources[0].trust == tmp_path.resolve() / "trust.yaml"


def test_an_unknown_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: apps, repo: r, trust: t.yaml, colour: red}\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.colour: unknown key"):
        load_settings(path)


def test_a_key_spelled_as_in_code_is_unknown_in_the_file(tmp_path: Path) -> None:
    """The environment spells keys in snake case; a file does not, so `fail_closed` next to
    `failClosed` cannot be one setting given twice."""
    path = write(
        tmp_path,
        "admission: {fail_closed: false, failClosed: true}\n"
        "sources: [{name: a, repo: /r, trust: t.yaml, health_timeout: 5s}]\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert "admission.fail_closed: unknown key (the file spells it failClosed)" in str(raised.value)
    assert "sources[0].health_timeout: unknown key (the file spells it healthTimeout)" in str(
        raised.value
    )


def test_a_bad_value_names_the_key_and_the_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, "policies:\n  engine: wasm\n")
    with pytest.raises(ConfigError, match=r"policies\.engine: Input should be 'regorus'"):
        load_settings(path)


def test_a_bad_duration_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "audit:\n  checkpointInterval: soon\n")
    with pytest.raises(ConfigError, match=r"audit\.checkpointInterval: .*not a duration"):
        load_settings(path)


def test_broken_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "database: {url: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)


def test_yaml_nested_beyond_the_parsers_stack_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "database: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n")
    with pytest.raises(ConfigError, match="not valid YAML: the document nests too deeply"):
        load_settings(path)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml")


def test_duplicate_source_names_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n  - {name: a, repo: r, trust: t}\n  - {name: a, repo: s, trust: t}\n",
    )
    with pytest.raises(ConfigError, match="source names must be unique: a"):
        load_settings(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path, "database: {url: 'sqlite:///file.db'}\naudit: {checkpointInterval: 5m}\n"
    )
    monkeypatch.setenv("GATEKEEPER_DATABASE__URL", "sqlite:///env.db")
    monkeypatch.setenv("GATEKEEPER_AUDIT__CHECKPOINT_INTERVAL", "7s")
    monkeypatch.setenv("GATEKEEPER_POLICIES__PATHS", "[a/, b/]")
    settings = load_settings(path)
    folder = tmp_path.resolve()
    assert settings.database.url == f"sqlite:///{folder}/env.db"
    assert settings.audit.checkpoint_interval == 7.0
    assert settings.policies.paths == [folder / "a", folder / "b"]


def test_an_unknown_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT__COLOUR", "red")
    with pytest.raises(ConfigError, match="GATEKEEPER_AUDIT__COLOUR: unknown key"):
        load_settings(None)


def test_the_config_file_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "database: {url: 'sqlite:///from-env-file.db'}\n")
    monkeypatch.setenv("GATEKEEPER_CONFIG", str(path))
    assert load_settings(None).database.url == f"sqlite:///{tmp_path.resolve()}/from-env-file.db"


def test_secrets_never_appear_in_the_printed_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT__SIGNING_KEY", "-----BEGIN PRIVATE KEY-----abc")
    monkeypatch.setenv("GATEKEEPER_DATABASE__URL", "postgresql+psycopg://u:hunter2@db/x")
    settings = load_settings(None)
    assert "BEGIN PRIVATE KEY" not in repr(settings)
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.database)
    assert settings.database.redacted_url() == "postgresql+psycopg://u:***@db/x"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60.0), ("5m", 300.0), ("1h", 3600.0), ("250ms", 0.25), (12, 12.0), ("1.5s", 1.5)],
)
def test_durations_accept_the_usual_units(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1s", True, "5d"])
def test_durations_refuse_anything_else(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_inventory_kinds_are_api_version_and_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "policies:\n  inventory: [networking.k8s.io/v1/Ingress, v1/Service]\n")
    assert load_settings(path).policies.inventory_kinds() == [
        ("networking.k8s.io/v1", "Ingress"),
        ("v1", "Service"),
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("Ingress", "not 'apiVersion/Kind'"),
        ("networking.k8s.io/v1/ingress", "not 'apiVersion/Kind'"),
        ("a/b/c/Kind", "not 'apiVersion/Kind'"),
        ("v1/Secret", "Secrets are never copied"),
    ],
)
def test_bad_inventory_kinds_are_refused_with_the_key(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = write(tmp_path, f"policies:\n  inventory: ['{entry}']\n")
    with pytest.raises(ConfigError, match=r"policies\.inventory") as error:
        load_settings(path)
    assert expected in str(error.value)


def test_relative_paths_are_made_absolute_once_against_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    write(
        tmp_path / "conf",
        """
database: {url: 'sqlite:///state/gatekeeper.db?timeout=5'}
audit: {signingKeyFile: keys/k.pem, publicKeyFile: /etc/gatekeeper/k.pub}
kubernetes: {kubeconfig: kube/config}
policies: {paths: [policies/, /srv/policies]}
server: {tlsCertFile: tls/tls.crt, tlsKeyFile: tls/tls.key}
sources:
  - {name: local, repo: ../gitops, trust: trust.yaml}
  - {name: remote, repo: 'https://git.example.com/apps.git', trust: /etc/trust.yaml}
  - {name: scp, repo: 'git@git.example.com:apps.git', trust: trust.yaml}
""",
    )
    folder = tmp_path.resolve() / "conf"
    # Given relatively, from the working directory, as on a command line.
    settings = load_settings(Path("conf/gatekeeper.yaml"))

    assert settings.config_dir == folder
    assert settings.database.url == f"sqlite:///{folder}/state/gatekeeper.db?timeout=5"
    assert settings.audit.signing_key_file == folder / "keys/k.pem"
    assert settings.audit.public_key_file == Path("/etc/gatekeeper/k.pub")
    assert settings.kubernetes.kubeconfig == folder / "kube/config"
    assert settings.policies.paths == [folder / "policies", Path("/srv/policies")]
    assert settings.server.tls_cert_file == folder / "tls/tls.crt"
    assert settings.server.tls_key_file == folder / "tls/tls.key"
    assert [s.repo for s in settings.sources] == [
        str(folder / "../gitops"),
        "https://git.example.com/apps.git",
        "git@git.example.com:apps.git",
    ]
    assert [s.trust for s in settings.sources] == [
        folder / "trust.yaml",
        Path("/etc/trust.yaml"),
        folder / "trust.yaml",
    ]
    # Nothing is left for a caller to join again.
    assert settings.resolve(settings.audit.signing_key_file) == settings.audit.signing_key_file


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u:p@db:5432/gatekeeper"],
)
def test_urls_without_a_relative_file_are_kept_as_given(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f"database: {{url: '{url}'}}\n")
    assert load_settings(path).database.url == url


def test_without_a_config_file_paths_stay_relative_to_the_working_directory() -> None:
    settings = load_settings(None)
    assert settings.policies.paths == [Path("policies")]
    assert settings.database.url == "sqlite:///gatekeeper.db"


@pytest.mark.parametrize(
    "value", [".nan", ".inf", "-.inf", "100000000000h", "1.0e400", "-5s", "10" + "0" * 400]
)
def test_a_duration_that_is_not_finite_or_is_absurd_is_refused_when_the_file_loads(
    tmp_path: Path, value: str
) -> None:
    path = write(tmp_path, f"audit:\n  checkpointInterval: {value}\n")
    with pytest.raises(ConfigError, match=r"audit\.checkpointInterval: .*not a duration"):
        load_settings(path)


@pytest.mark.parametrize("variable", ["CHECKPOINTINTERVAL", "CHECKPOINTMAXAGE"])
@pytest.mark.parametrize("value", [".nan", ".inf", "100000000000h"])
def test_a_duration_from_the_environment_is_checked_as_well(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(f"GATEKEEPER_AUDIT__{variable}", value)
    with pytest.raises(ConfigError, match="not a duration"):
        load_settings(None)


def test_the_longest_durations_in_use_still_load(tmp_path: Path) -> None:
    path = write(tmp_path, "audit:\n  checkpointInterval: 876000h\n")
    assert load_settings(path).audit.checkpoint_interval == 876000 * 3600.0


@pytest.mark.parametrize(
    "setting",
    [
        "audit:\n  checkpointInterval: 0s\n",
        "sources:\n  - {name: apps, repo: /srv/git, trust: t.yaml, interval: 0}\n",
        "sources:\n  - {name: apps, repo: /srv/git, trust: t.yaml, healthTimeout: 0s}\n",
    ],
)
def test_an_interval_of_zero_is_refused_where_it_would_spin(tmp_path: Path, setting: str) -> None:
    with pytest.raises(ConfigError, match="greater than 0"):
        load_settings(write(tmp_path, setting))


def test_a_config_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "gatekeeper.yaml"
    path.write_bytes("database:\n  url: sqlite:///caf\xe9.db\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"gatekeeper\.yaml is not UTF-8"):
        load_settings(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("_config_dir: /etc\n", "_config_dir"),
        ("config_dir: /etc\n", "config_dir"),
        ("1: x\n", "1"),
        ("? [a, b]\n: x\n", None),
    ],
)
def test_a_top_level_key_that_is_no_section_is_an_unknown_key(
    tmp_path: Path, text: str, key: str | None
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text))
    if key is not None:
        assert f"  {key}: unknown key" in str(raised.value)


def test_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "database:\n  url: sqlite:///a.db\naudit:\n  checkpointInterval: 60s\n"
        "database:\n  url: sqlite:///b.db\n",
    )
    with pytest.raises(ConfigError, match=r"gatekeeper\.yaml .*line 5: duplicate key 'database'"):
        load_settings(path)


def test_a_key_a_merge_brings_in_may_still_be_overridden() -> None:
    text = "base: &base {url: a, poolSize: 2}\ndatabase:\n  <<: *base\n  url: b\n"
    assert yamlfile.load(text)["database"] == {"url": "b", "poolSize": 2}
