"""Errors raised while extracting a source: each names the source, the URL or file and the problem."""

from __future__ import annotations


class ExtractError(Exception):
    """A source could not be fetched or parsed.

    The message always names the source id, where the data came from (URL and/or file name),
    the position when known (line, column) and what was expected versus what was found.
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
    ) -> None:
        self.source_id = source_id
        self.problem = problem
        self.url = url
        self.file = file
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found
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
            "message": self.render(),
        }


class FetchError(ExtractError):
    """The bytes could not be obtained (network, HTTP status, size limit, truncated body)."""

    kind = "fetch"


class FormatError(ExtractError):
    """The bytes were obtained but are not what the source should look like."""

    kind = "format"
