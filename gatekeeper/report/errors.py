"""The report subpackage's errors, hung under the project's error root."""

from __future__ import annotations

from collections.abc import Sequence

from gatekeeper.errors import GatekeeperError


class ReportError(GatekeeperError):
    """Root of the errors raised while building, rendering, signing or checking reports."""


class FilterError(ReportError):
    """A report filter is malformed or names something the audit log has never seen.

    `option` is the filter's name as the command line spells it (`--source`), so the CLI can
    point at the option it came from.
    """

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option


class FontMissing(ReportError):
    """The Unicode font the PDF embeds cannot be found; the message names the package."""


class SignatureInvalid(ReportError):
    """A report's or a manifest's signature does not verify, or was made by another key."""


class ReportNotVerified(ReportError):
    """A report was written, but what it covers is not verified (no key, records not covered
    by a checkpoint, or the report is unsigned); the report says so itself."""


class BundleInvalid(ReportError):
    """An evidence bundle failed a check; `problems` lists every one, the first one first."""

    def __init__(self, problems: Sequence[str]) -> None:
        first = problems[0] if problems else "the bundle failed verification"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)
        self.problems = tuple(problems)
