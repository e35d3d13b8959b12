"""Secrets kept out of every stored and printed text: query parameters whose name says secret, credentials in a
URL's authority, ``Bearer``/``Basic``/``Token`` headers quoted in a message. :func:`redact` a URL,
:func:`redact_text` any text quoting URLs, :func:`redact_data` a JSON-able value; the loggers of urllib3 and
requests get :class:`RedactingFilter`. Pure and dependency-free, so that :mod:`extract.errors` and
:mod:`extract.http` (which re-exports these names) both import it without importing each other."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

#: Words that make a query parameter's value a secret (a whole word of its name, case-insensitive:
#: ``apikey``, ``api_key``, ``apiKey``, ``X-Amz-Signature``, ``client_secret``…).
SECRET_WORDS = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "passphrase", "sig", "signature",
    "auth", "authorization", "credential", "credentials", "jwt", "bearer",
})
#: … or the end of its name once separators are dropped (``accesstoken``, ``subscriptionkey``, ``oauth``).
SECRET_SUFFIXES = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "signature", "auth", "credential",
                   "credentials")
MASK = "***"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def secret_name(name: str) -> bool:
    """Whether a query parameter named ``name`` carries a secret (see :data:`SECRET_WORDS`)."""
    raw = unquote_plus(name)
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", raw).lower())
    if any(w in SECRET_WORDS for w in words):
        return True
    return "".join(words).endswith(SECRET_SUFFIXES)


def _redact_params(params: str) -> str:
    parts = []
    for part in params.split("&"):
        name, eq, value = part.partition("=")
        if eq and value and value != MASK and secret_name(name):
            part = f"{name}={MASK}"
        parts.append(part)
    return "&".join(parts)


def redact(url: str) -> str:
    """``url`` as it may be written anywhere (console, reports, history, published file, webhook): the user
    and password of its netloc replaced by ``***@``, the values of its query (and fragment) parameters whose
    name looks secret (:func:`secret_name`: ``apikey``, ``token``, ``signature``…) replaced by ``***``; every
    other character kept as is, so a URL without secrets is unchanged. Idempotent."""
    if not url:
        return url
    text = str(url)
    head, rest = "", text
    sep = text.find("://")
    if sep > 0 and _SCHEME.fullmatch(text[:sep]):
        rest = text[sep + 3:]
        authority = re.match(r"[^/?#]*", rest).group(0)
        rest = rest[len(authority):]
        if "@" in authority:
            authority = f"{MASK}@" + authority.rpartition("@")[2]
        head = text[: sep + 3] + authority
    rest, hashmark, fragment = rest.partition("#")
    path, qmark, query = rest.partition("?")
    out = head + path
    if qmark:
        out += "?" + _redact_params(query)
    if hashmark:
        out += "#" + (_redact_params(fragment) if "=" in fragment else fragment)
    return out


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_PARAM_IN_TEXT = re.compile(r"([?&;])([A-Za-z0-9_.~%\[\]-]+)=([^&\s'\"<>#]+)")
_AUTH_IN_TEXT = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}")
_TRAILING = ".,;:)]}"


def _split_trailing(text: str) -> tuple[str, str]:
    """``text`` without the punctuation that ends the sentence it is quoted in, and that punctuation."""
    tail = ""
    while text and text[-1] in _TRAILING:
        text, tail = text[:-1], text[-1] + tail
    return text, tail


def _redact_match(m: re.Match) -> str:
    url, tail = _split_trailing(m.group(0))
    return redact(url) + tail


def _redact_param_match(m: re.Match) -> str:
    value, tail = _split_trailing(m.group(3))
    if not value or value == MASK or not secret_name(m.group(2)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}={MASK}{tail}"


def redact_text(text: str | None) -> str | None:
    """``text`` (an exception's message, a log line, a report) with every URL in it redacted (:func:`redact`),
    and also the secret parameters of a query string quoted without its scheme and host (urllib3:
    ``with url: /data?apikey=…``) and the value of an ``Authorization: Bearer …`` quoted in it."""
    if not text:
        return text
    out = _URL_IN_TEXT.sub(_redact_match, str(text))
    out = _PARAM_IN_TEXT.sub(_redact_param_match, out)
    return _AUTH_IN_TEXT.sub(lambda m: f"{m.group(1)} {MASK}", out)


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's text through :func:`redact_text`: installed on the loggers of
    urllib3 and requests, whose debug lines quote each request's path and query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's business, not ours
            return True
        clean = redact_text(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.response", "requests"):
    logging.getLogger(_name).addFilter(RedactingFilter())


def redact_data(value):
    """``value`` (what is about to be written as JSON: dicts, lists, strings…) with every string in it through
    :func:`redact_text`: redacting the values, not the JSON text, keeps the JSON valid whatever they hold."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
