"""Errors raised while extracting a source: each names the source, the URL or file and the problem."""

from __future__ import annotations

#: What went wrong while fetching, in :attr:`ExtractError.cause` (``None``: not a fetch problem, e.g. a format
#: error). Network: ``dns`` (the host name did not resolve), ``unreachable`` (no route: network down),
#: ``connect`` (connection refused or failed), ``timeout`` (connect or read), ``reset`` (connection reset or
#: closed without an answer), ``proxy`` (the HTTP(S) proxy could not be reached or refused the request),
#: ``tls`` (certificate verification). Server and transfer: ``http`` (an HTTP status), ``truncated`` (body cut
#: short), ``size`` (size limit). Local: ``file`` (a ``file://`` URL that does not exist), ``request`` (an
#: unusable URL).
FETCH_CAUSES = ("dns", "unreachable", "connect", "timeout", "reset", "proxy", "tls", "http", "truncated", "size",
                "file", "request")


class ExtractError(Exception):
    """A source could not be fetched or parsed.

    The message always names the source id, where the data came from (URL and/or file name),
    the position when known (line, column) and what was expected versus what was found.
    A fetch problem also carries its ``cause`` (one of :data:`FETCH_CAUSES`), the ``host`` requested, the
    ``proxy`` it went through (credentials masked) and the number of ``attempts``, for the diagnosis of a run
    (:mod:`extract.diagnosis`).

    The URL is stored redacted (:func:`extract.http.redact`: no credentials, no secret query parameter), and
    every URL quoted in the problem, the expected and found texts or the file name too
    (:func:`extract.http.redact_text`): the message goes to reports, the run history and webhooks.
    """

    kind = "extract"

    def __init__(
        self,
        source_id: str,
        problem: str,
        *,
        url: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        cause: str | None = None,
        host: str | None = None,
        proxy: str | None = None,
        attempts: int | None = None,
    ) -> None:
        if cause is not None and cause not in FETCH_CAUSES:
            raise ValueError(f"unknown fetch cause {cause!r}: expected one of {', '.join(FETCH_CAUSES)}")
        from extract.redaction import redact, redact_text

        self.source_id = source_id
        self.problem = redact_text(problem)
        self.url = redact(url) if url else url
        self.file = redact_text(file)
        self.line = line
        self.column = column
        self.expected = redact_text(expected)
        self.found = redact_text(found)
        self.cause = cause
        self.host = host
        self.proxy = proxy
        self.attempts = attempts
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column!r}")
        msg = f"[{self.source_id}] {self.problem}"
        if where:
            msg += f" ({', '.join(where)})"
        if self.expected is not None:
            msg += f"; expected {self.expected}"
        if self.found is not None:
            msg += f"; found {self.found}"
        if self.url:
            msg += f" — URL: {self.url}"
        return msg

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "problem": self.problem,
            "url": self.url,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "expected": self.expected,
            "found": self.found,
            "cause": self.cause,
            "host": self.host,
            "proxy": self.proxy,
            "attempts": self.attempts,
            "message": self.render(),
        }


class FetchError(ExtractError):
    """The bytes could not be obtained (network, HTTP status, size limit, truncated body)."""

    kind = "fetch"


class FormatError(ExtractError):
    """The bytes were obtained but are not what the source should look like."""

    kind = "format"
