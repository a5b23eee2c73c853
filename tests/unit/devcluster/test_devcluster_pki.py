"""Certificates for 127.0.0.1: a real TLS handshake trusts exactly the CA that issued them."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509

from gatekeeper.devcluster.pki import CertificateAuthority


def test_server_certificate_names_127_0_0_1_as_an_ip_san() -> None:
    pair = CertificateAuthority.create().issue_server(ips=("127.0.0.1",), dns_names=())

    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def _handshake(tmp_path: Path, issuer: CertificateAuthority, trusted: CertificateAuthority) -> str:
    pair = issuer.issue_server(dns_names=())
    (tmp_path / "s.crt").write_bytes(pair.cert_pem)
    (tmp_path / "s.key").write_bytes(pair.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello")
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    client_ctx = ssl.create_default_context(cadata=trusted.cert_pem.decode())
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.recv(5).decode()
    finally:
        thread.join()
        listener.close()


def test_a_client_trusting_the_ca_accepts_the_server_at_127_0_0_1(tmp_path: Path) -> None:
    ca = CertificateAuthority.create()

    assert _handshake(tmp_path, ca, ca) == "hello"


def test_a_client_trusting_another_ca_refuses_the_server(tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, CertificateAuthority.create(), CertificateAuthority.create())
