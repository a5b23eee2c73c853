"""Pure parts of the Debian build: deb-src entries and the version a Debian version carries."""

from __future__ import annotations

import pytest

from gatekeeper.devcluster import BuildFailed
from gatekeeper.devcluster.build import deb_src_sources, upstream_version

DEB822 = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_sources_become_source_entries_with_everything_else_kept() -> None:
    converted = deb_src_sources(DEB822)

    assert converted.count("Types: deb-src") == 2
    assert "Types: deb\n" not in converted
    assert converted.replace("Types: deb-src", "Types: deb") == DEB822


def test_one_line_sources_become_deb_src_lines() -> None:
    text = "deb http://deb.debian.org/debian bookworm main\n# deb http://old bookworm main\n"

    assert deb_src_sources(text) == (
        "deb-src http://deb.debian.org/debian bookworm main\n# deb http://old bookworm main\n"
    )


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("1.20.5+really1.20.2-1.1+deb12u1", "1.20.2"),
        ("1.20.2-1", "1.20.2"),
        ("1:1.28.4-2", "1.28.4"),
        ("1.20.2", "1.20.2"),
    ],
)
def test_the_kubernetes_version_is_read_from_a_debian_version(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def test_a_version_without_digits_is_refused() -> None:
    with pytest.raises(BuildFailed):
        upstream_version("unknown")
