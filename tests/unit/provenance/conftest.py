"""In-process keys for fast unit tests of the provenance core."""

from tests.fixtures.signing import pgp_key, ssh_key_factory

__all__ = ["pgp_key", "ssh_key_factory"]
