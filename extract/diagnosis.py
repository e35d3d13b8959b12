"""What a run says when sources could not be fetched: one short line per source and, when the failures share
an obvious cause, one diagnosis (no network, a proxy problem). Pure functions: no I/O, no network.

:func:`summarize_fetch_failures` takes the failed results of :func:`observatoire.run.extraction.extract_source`
(``source_id``, ``millesime``, ``url`` — already redacted — and ``error``, the ``as_dict()`` of an
:class:`~extract.errors.ExtractError`, whose ``cause``, ``host`` and ``proxy`` come from :mod:`extract.http`)
and returns two texts:

* the console text: one line per source (id, millésime, what failed in a few words, ``scheme://host/…``), each
  at most :data:`CONSOLE_WIDTH` characters, never a query string, then the diagnosis if there is one;
* the report text (``report.txt``): the same, plus each full URL (redacted) and the full error.

Both texts go through :func:`extract.http.redact` / :func:`extract.http.redact_text` again whatever their
callers did: a URL or an exception text quoting one never shows a credential or a secret query parameter.

Diagnoses, given only when every network failure points the same way and no source was fetched over the
network in the same run:

* no host name resolved (or no route): « no network or proxy? », naming ``HTTPS_PROXY``/``HTTP_PROXY`` (read
  by requests, like curl) and ``NO_PROXY``, whether they are set (credentials masked), and the offline demo
  (``make demo``);
* every request went to a proxy that could not be reached or refused: a proxy problem, naming the proxy.

When some sources worked and others failed, there is no global diagnosis: only the lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

from extract.http import redact, redact_proxy, redact_text, shorten
from extract.settings import NO_PROXY, PROXY_VARIABLES, current

CONSOLE_WIDTH = 160
NO_NETWORK_CAUSES = {"dns", "unreachable"}
RUNBOOK = 'docs/runbook.md, section "No network / proxy"'
_GAVE_UP = re.compile(r"^gave up after (\d+) attempts?: ")


def _url_of(result: dict) -> str:
    return result.get("url") or (result.get("error") or {}).get("url") or ""


def _is_network(url: str) -> bool:
    return urlparse(url).scheme.lower() in ("http", "https")


def _host_of(result: dict) -> str:
    error = result.get("error") or {}
    if error.get("host"):
        return error["host"]
    parsed = urlparse(_url_of(result))
    if not parsed.hostname:
        return ""
    return parsed.hostname + (f":{parsed.port}" if parsed.port else "")


def short_url(url: str) -> str:
    """``scheme://host/…`` (``file://…/name`` for a local file): what the console shows of a URL."""
    if not url:
        return ""
    parsed = urlparse(url)
    if parsed.scheme.lower() == "file":
        return f"file://…/{parsed.path.rsplit('/', 1)[-1]}"
    host = parsed.hostname or ""
    if parsed.port:
        host += f":{parsed.port}"
    return f"{parsed.scheme}://{host}/…"


def _what(error: dict, *, attempts: bool = True) -> str:
    """What failed, in a few words: the problem, its retry count moved to the end (or dropped); for a format
    error, where (file, line, column) and what was expected and found; the first line of the message for an
    unexpected error. Cut to the console's width by the caller."""
    problem = error.get("problem")
    if not problem:
        problem = (error.get("message") or error.get("kind") or "failed").splitlines()[0]
        problem = re.sub(r"^\[[^\]]*\]\s*", "", problem)
    problem = problem.split(" — URL: ")[0]
    m = _GAVE_UP.match(problem)
    if m:
        problem = problem[m.end():] + (f", {m.group(1)} attempts" if attempts else "")
    if error.get("kind") in ("format", "extract"):  # bytes that are not what was expected: where, and what
        where = [f"file {error['file']}" if error.get("file") else "",
                 f"line {error['line']}" if error.get("line") is not None else "",
                 f"column {error['column']!r}" if error.get("column") else ""]
        if any(where):
            problem += f" ({', '.join(w for w in where if w)})"
        if error.get("expected") is not None:
            problem += f"; expected {error['expected']}"
        if error.get("found") is not None:
            problem += f"; found {error['found']}"
    return problem


def source_line(result: dict, width: int = CONSOLE_WIDTH) -> str:
    """``  <source> <millésime>: <what failed> — scheme://host/…``, at most ``width`` characters."""
    error = result.get("error") or {}
    head = f"  {result.get('source_id') or error.get('source_id') or '?'} {result.get('millesime', '')}".rstrip()
    tail = short_url(_url_of(result))
    tail = f" — {tail}" if tail else ""
    budget = max(20, width - len(head) - len(tail) - 2)
    return _clip(f"{head}: {shorten(redact_text(_what(error)), budget)}{tail}", width)


def proxy_settings(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The proxy variables requests reads (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``; the
    lower-case spelling wins, as in requests), each as ``NAME=value`` with credentials masked, or ``None`` when
    unset. ``environ``: where they are read (default: the installed settings' ``proxies``)."""
    environ = current().proxies if environ is None else environ
    out: dict[str, str | None] = {}
    for name in (*PROXY_VARIABLES, NO_PROXY):
        for spelled in (name.lower(), name):
            value = environ.get(spelled)
            if value:
                shown = value if name == "NO_PROXY" else redact_proxy(value)
                out[name] = f"{spelled}={shown}"
                break
        else:
            out[name] = None
    return out


def _describe_settings(settings: dict[str, str | None]) -> str:
    """``HTTPS_PROXY=http://***@proxy:3128; HTTP_PROXY/NO_PROXY not set`` (ALL_PROXY only when set)."""
    parts = [", ".join(v for v in settings.values() if v)]
    unset = [k for k in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY") if not settings[k]]
    if unset:
        parts.append("/".join(unset) + " not set")
    return "; ".join(p for p in parts if p)


def _clip(line: str, width: int = CONSOLE_WIDTH) -> str:
    """``line`` cut to ``width`` characters, its indentation kept."""
    indent = line[: len(line) - len(line.lstrip(" "))]
    return indent + shorten(line, width - len(indent))


def _hosts(results: list[dict], limit: int = 4) -> str:
    hosts = list(dict.fromkeys(h for h in (_host_of(r) for r in results) if h))
    shown = ", ".join(hosts[:limit])
    return shown + (f", … ({len(hosts)} hosts)" if len(hosts) > limit else "")


def diagnose(failed: list[dict], *, succeeded: Iterable[dict] = (),
             environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The diagnosis lines shared by every failure, or ``None`` when there is no single explanation (some
    sources were fetched over the network, or the failures differ)."""
    network = [r for r in failed if _is_network(_url_of(r))]
    if not network:
        return None
    if any(_is_network(_url_of(r)) and r.get("status") != "failed" for r in succeeded):
        return None  # the network works for some sources: each line says what failed for the others
    causes = {(r.get("error") or {}).get("cause") for r in network}
    settings = proxy_settings(environ)
    described = _describe_settings(settings)
    if causes <= NO_NETWORK_CAUSES:
        what = ("No host name could be resolved" if causes == {"dns"}
                else "No host could be reached" if causes == {"unreachable"}
                else "No host could be resolved or reached")
        lines = [f"Diagnosis: no network or proxy? {what} ({_hosts(network)})."]
        proxied = settings["HTTPS_PROXY"] or settings["HTTP_PROXY"] or settings["ALL_PROXY"]
        lines.append(f"  Proxy settings (read by requests, like curl): {described}.")
        if proxied:
            lines.append("  A proxy is set but these hosts were requested directly: check NO_PROXY, and that "
                         "HTTPS_PROXY covers https:// URLs and HTTP_PROXY http:// ones.")
        else:
            lines.append("  Behind a proxy: export HTTPS_PROXY=http://proxy.example:3128 HTTP_PROXY=$HTTPS_PROXY "
                         "(NO_PROXY for hosts reached directly), then run again.")
        lines.append(f"  Offline, `make demo` runs on the project's recordings (into ./data-demo). See {RUNBOOK}.")
        return lines
    if causes == {"proxy"}:
        problems = list(dict.fromkeys(_what(r.get("error") or {}, attempts=False) for r in network))
        others = f" (and {len(problems) - 1} other proxy errors)" if len(problems) > 1 else ""
        lines = [f"Diagnosis: proxy problem, for every source: {problems[0]}{others}."]
        lines.append(f"  Proxy settings: {described}.")
        lines.append("  Check the proxy's host, port and credentials (curl -I https://www.insee.fr uses the same "
                     "variables), or unset HTTPS_PROXY/HTTP_PROXY for a direct connection.")
        lines.append(f"  See {RUNBOOK}.")
        return lines
    return None


def summarize_fetch_failures(failed: list[dict], *, succeeded: Iterable[dict] = (),
                             environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(console text, report text) for the failed results of a run's extract step.

    ``succeeded``: the run's other results (any status but ``failed``); when one of them was fetched over
    http(s), the network works and no global diagnosis is given. ``environ``: where the proxy variables are read
    (default: the installed settings' ``proxies``). Console lines are at most :data:`CONSOLE_WIDTH` characters
    and show URLs as ``scheme://host/…``; the report adds each full URL (already redacted by the extract step) and error."""
    succeeded = list(succeeded)
    lines = [source_line(r) for r in failed]
    diagnosis = diagnose(failed, succeeded=succeeded, environ=environ) or []
    console = "\n".join(lines + [_clip(d) for d in diagnosis])
    report: list[str] = []
    for r, line in zip(failed, lines, strict=True):
        error = r.get("error") or {}
        report.append(line.strip())
        url = redact(r.get("url"))
        if url:
            report.append(f"    URL: {url}")
        if error.get("url") and redact(error["url"]) != url:
            report.append(f"    failing request: {redact(error['url'])}")
        facts = [f"{k} {error[k]}" for k in ("kind", "cause", "host", "proxy", "attempts") if error.get(k)]
        if facts:
            report.append("    " + ", ".join(facts))
        message = redact_text(error.get("message") or error.get("problem") or "?")
        report.append("    error: " + message.replace("\n", "\n    "))
        if error.get("traceback"):
            report.append("    " + redact_text(error["traceback"]).rstrip().replace("\n", "\n    "))
        report.append("")
    if diagnosis:
        report += diagnosis
    else:
        report.append(f"Proxy settings seen by requests: {_describe_settings(proxy_settings(environ))}.")
    return console, "\n".join(report).rstrip() + "\n"
