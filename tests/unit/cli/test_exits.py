"""One error tree, and one mapping from it to the exit codes of DESIGN section 4."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from gatekeeper import cli
from gatekeeper.audit import errors as audit_errors
from gatekeeper.cli import (
    EXIT_CHECK_FAILED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    OUTCOMES,
    main,
    outcome,
)
from gatekeeper.dashboard import errors as dashboard_errors
from gatekeeper.demo import errors as demo_errors
from gatekeeper.errors import CheckFailed, ConfigError, GatekeeperError
from gatekeeper.kube import errors as kube_errors
from gatekeeper.policy import errors as policy_errors
from gatekeeper.provenance import errors as provenance_errors
from gatekeeper.reconcile import errors as reconcile_errors
from gatekeeper.report import errors as report_errors

SUBPACKAGE_ROOTS = {
    audit_errors: audit_errors.AuditError,
    dashboard_errors: dashboard_errors.DashboardError,
    demo_errors: demo_errors.DemoError,
    kube_errors: kube_errors.KubeError,
    policy_errors: policy_errors.PolicyError,
    provenance_errors: provenance_errors.ProvenanceError,
    reconcile_errors: reconcile_errors.ReconcileError,
    report_errors: report_errors.ReportError,
}


def _tree(root: type[BaseException]) -> list[type[BaseException]]:
    found = [root]
    for child in root.__subclasses__():
        found += _tree(child)
    return found


def test_every_name_in_the_table_is_a_class_of_the_tree() -> None:
    for name in OUTCOMES:
        module, _, qualname = name.rpartition(".")
        found = getattr(importlib.import_module(module), qualname)
        assert inspect.isclass(found) and issubclass(found, GatekeeperError), name


def test_every_error_of_a_subpackage_descends_from_that_subpackages_root() -> None:
    for module, root in SUBPACKAGE_ROOTS.items():
        classes = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        ]
        assert root in classes
        for error in classes:
            assert issubclass(error, root), f"{error.__qualname__} is not a {root.__qualname__}"


def test_no_error_inherits_from_two_branches_of_the_tree() -> None:
    for error in _tree(GatekeeperError):
        branches = [base for base in error.__bases__ if issubclass(base, GatekeeperError)]
        assert len(branches) <= 1, f"{error.__qualname__} has bases {branches}"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CheckFailed("untrusted"), EXIT_CHECK_FAILED),
        (audit_errors.TamperDetected("record 3"), EXIT_CHECK_FAILED),
        (policy_errors.PolicyTestsFailed("1 of 2"), EXIT_CHECK_FAILED),
        (reconcile_errors.RollbackRefused("not verified"), EXIT_CHECK_FAILED),
        (demo_errors.DemoFailed("step"), EXIT_CHECK_FAILED),
        (report_errors.ReportNotVerified("unsigned"), EXIT_CHECK_FAILED),
        (report_errors.SignatureInvalid("another key"), EXIT_CHECK_FAILED),
        (report_errors.BundleInvalid(["manifest.json: digest differs"]), EXIT_CHECK_FAILED),
        (ConfigError("database.url"), EXIT_USAGE),
        (audit_errors.SchemaMissing("run gatekeeper db upgrade"), EXIT_USAGE),
        (audit_errors.SigningKeyError("no key"), EXIT_USAGE),
        (policy_errors.PolicyLoadError("bad.rego:6"), EXIT_USAGE),
        (provenance_errors.TrustPolicyError("trust.yaml"), EXIT_USAGE),
        (provenance_errors.RepositoryError("not a Git repository"), EXIT_USAGE),
        (report_errors.FilterError("no such source", option="--source"), EXIT_USAGE),
        (audit_errors.StoreUnavailable("connection refused"), EXIT_UNAVAILABLE),
        (audit_errors.StoreBusy("no turn"), EXIT_UNAVAILABLE),
        (policy_errors.EngineUnavailable("OPA server unreachable"), EXIT_UNAVAILABLE),
        (reconcile_errors.SourceUnavailable("cannot fetch"), EXIT_UNAVAILABLE),
        (report_errors.FontMissing("fonts-dejavu-core"), EXIT_UNAVAILABLE),
        (kube_errors.KubeError("connection refused"), EXIT_UNAVAILABLE),
        (kube_errors.KubeError("throttled", status=429), EXIT_UNAVAILABLE),
        (kube_errors.Conflict("server error", status=503), EXIT_UNAVAILABLE),
        (kube_errors.Forbidden("alice may not", status=403), EXIT_CHECK_FAILED),
        (audit_errors.AppendOnlyViolation("refused"), EXIT_CHECK_FAILED),
        (reconcile_errors.RenderError("bad YAML"), EXIT_CHECK_FAILED),
        (GatekeeperError("anything else"), EXIT_CHECK_FAILED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_maps_to_its_exit_code(error: GatekeeperError, code: int) -> None:
    assert outcome(error).code == code


def test_a_subclass_takes_the_outcome_of_its_nearest_listed_class() -> None:
    class Unreachable(audit_errors.StoreBusy):
        pass

    assert outcome(Unreachable("x")) is cli.UNAVAILABLE


def test_an_unreachable_audit_store_exits_three_not_one_like_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gatekeeper.yaml"
    # Nothing listens on port 1: the connection is refused at once.
    config.write_text("database: {url: 'postgresql+psycopg://gatekeeper@127.0.0.1:1/gatekeeper'}\n")
    for command in (["db", "current"], ["audit", "log"]):
        assert main(["--config", str(config), *command]) == EXIT_UNAVAILABLE
        err = capsys.readouterr().err
        assert err.startswith("unavailable: audit database error")


def test_the_reason_is_printed_as_given_not_read_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = tmp_path / "[bold]trust.yaml"
    assert main(["verify", "--repo", str(tmp_path), "--trust", str(trust)]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("configuration error: ")
    assert "[bold]trust.yaml: cannot read the trust policy" in err
