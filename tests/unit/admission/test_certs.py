"""What the webhook's own certificates need, decided without a cluster: nothing, a new serving
certificate, or a new CA; and lifetimes that would renew for ever are refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from gatekeeper.admission import certs
from gatekeeper.admission.certs import Lifetimes, Need
from gatekeeper.admission.errors import CertificateError
from gatekeeper.errors import ConfigError
from gatekeeper.settings import load_settings

NAMES = ["gk-webhook.gk.svc", "gk-webhook.gk.svc.cluster.local"]
DAY = dt.timedelta(days=1)
LIFETIMES = Lifetimes(authority=30 * DAY, certificate=10 * DAY, renew_before=3 * DAY)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_fresh_set_needs_nothing_and_names_the_service() -> None:
    made = certs.make(NAMES, LIFETIMES, NOW)
    assert certs.assess(made, NAMES, LIFETIMES, NOW) is Need.NOTHING
    cert = x509.load_pem_x509_certificate(made.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == NAMES
    assert certs.expiry(made.cert) == NOW + 10 * DAY


@pytest.mark.parametrize(
    ("when", "need"),
    [
        (NOW + 6 * DAY, Need.NOTHING),
        (NOW + 7 * DAY + dt.timedelta(seconds=1), Need.NEW_CERTIFICATE),
        # 30 days of CA: a certificate made after day 17 would not last 10 + 3 days.
        (NOW + 18 * DAY, Need.NEW_AUTHORITY),
    ],
)
def test_renewal_is_due_before_the_end(when: dt.datetime, need: Need) -> None:
    assert certs.assess(certs.make(NAMES, LIFETIMES, NOW), NAMES, LIFETIMES, when) is need


def test_a_renewed_certificate_keeps_the_ca_and_a_new_ca_keeps_the_old_one_trusted() -> None:
    first = certs.make(NAMES, LIFETIMES, NOW)
    renewed = certs.renew(first, NAMES, LIFETIMES, NOW + 8 * DAY)
    assert renewed.ca_bundle == first.ca_bundle and renewed.cert != first.cert
    assert certs.assess(renewed, NAMES, LIFETIMES, NOW + 8 * DAY) is Need.NOTHING
    replaced = certs.make(NAMES, LIFETIMES, NOW + 18 * DAY, previous=first)
    assert replaced.ca_bundle.endswith(first.ca_bundle)
    # Once the old CA has expired, the next renewal drops it.
    later = certs.renew(replaced, NAMES, LIFETIMES, NOW + 31 * DAY)
    assert len(x509.load_pem_x509_certificates(later.ca_bundle)) == 1


def test_parts_that_do_not_belong_together_are_replaced() -> None:
    one, other = certs.make(NAMES, LIFETIMES, NOW), certs.make(NAMES, LIFETIMES, NOW)
    assert certs.assess(one, ["x.gk.svc"], LIFETIMES, NOW) is Need.NEW_CERTIFICATE
    mixed_key = dataclasses.replace(one, key=other.key)
    assert certs.assess(mixed_key, NAMES, LIFETIMES, NOW) is Need.NEW_CERTIFICATE
    foreign_cert = dataclasses.replace(one, cert=other.cert, key=other.key)
    assert certs.assess(foreign_cert, NAMES, LIFETIMES, NOW) is Need.NEW_CERTIFICATE
    wrong_ca_key = dataclasses.replace(one, ca_key=other.ca_key)
    assert certs.assess(wrong_ca_key, NAMES, LIFETIMES, NOW) is Need.NEW_AUTHORITY
    empty = certs.CertificateSet(b"", b"", b"", b"")
    assert certs.assess(empty, NAMES, LIFETIMES, NOW) is Need.NEW_AUTHORITY


@pytest.mark.parametrize(
    ("lifetimes", "refusal"),
    [
        ((30 * DAY, 10 * DAY, 10 * DAY), "renewBefore must be shorter"),
        ((12 * DAY, 10 * DAY, 3 * DAY), "CA's validity must be longer"),
    ],
)
def test_lifetimes_that_would_renew_at_every_check_are_refused(
    lifetimes: tuple[dt.timedelta, dt.timedelta, dt.timedelta], refusal: str
) -> None:
    with pytest.raises(CertificateError, match=refusal):
        Lifetimes(*lifetimes)


@pytest.mark.parametrize(
    ("extra", "refusal"),
    [
        ({"certValidity": "240h", "renewBefore": "240h"}, "renewBefore must be shorter"),
        (
            {"caValidity": "250h", "certValidity": "240h", "renewBefore": "24h"},
            "caValidity must be longer",
        ),
        ({"checkInterval": "0s"}, "checkInterval"),
    ],
)
def test_the_settings_refuse_the_same(extra: dict[str, str], refusal: str, tmp_path: Path) -> None:
    path = tmp_path / "gatekeeper.yaml"
    section = {"namespace": "gk", "secretName": "tls", "service": "gk-webhook", **extra}
    path.write_text(yaml.safe_dump({"webhookCerts": section}))
    with pytest.raises(ConfigError, match=refusal):
        load_settings(path)
