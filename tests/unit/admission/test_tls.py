"""Certificate reload: a changed pair is loaded, a broken one is retried and the old one kept."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from gatekeeper.admission.tls import CertificateReloader
from gatekeeper.devcluster.pki import CertificateAuthority


def _pair(folder: Path, name: str) -> tuple[bytes, bytes]:
    issued = CertificateAuthority.create(f"{name} CA").issue_server(
        "127.0.0.1", ips=("127.0.0.1",), dns_names=()
    )
    return issued.cert_pem, issued.key_pem


def _write(cert: Path, key: Path, pair: tuple[bytes, bytes], mtime: int) -> None:
    cert.write_bytes(pair[0])
    key.write_bytes(pair[1])
    for file in (cert, key):
        os.utime(file, ns=(mtime, mtime))


def test_unchanged_files_are_not_reloaded_and_changed_ones_are(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    _write(cert, key, _pair(tmp_path, "first"), 1_000_000_000)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    results: list[str] = []
    reloader = CertificateReloader(context, cert, key, on_result=results.append)

    assert reloader.check() is False
    _write(cert, key, _pair(tmp_path, "second"), 2_000_000_000)
    assert reloader.check() is True
    assert reloader.check() is False
    assert results == ["reloaded"]


def test_a_pair_that_does_not_match_is_retried_until_it_does(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = _pair(tmp_path, "first")
    second = _pair(tmp_path, "second")
    _write(cert, key, first, 1_000_000_000)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    results: list[str] = []
    reloader = CertificateReloader(context, cert, key, on_result=results.append)

    # The new certificate written, its key not yet: the pair does not load.
    cert.write_bytes(second[0])
    os.utime(cert, ns=(2_000_000_000, 2_000_000_000))
    assert reloader.check() is False
    assert reloader.check() is False
    key.write_bytes(second[1])
    os.utime(key, ns=(2_000_000_001, 2_000_000_001))
    assert reloader.check() is True
    assert results == ["failed", "failed", "reloaded"]
