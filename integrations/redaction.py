"""Keep secrets out of logs, errors, URLs and headers.

Two mechanisms work together:

- A process-wide registry of known secret values. Whatever builds an
  authenticated client (``integrations.http.auth``) registers the token it
  holds, so that exact value is masked wherever it turns up later, even in
  a message that gives no hint it is a secret.
- Patterns for what looks like a secret: ``Authorization`` values, bearer
  and basic credentials, query/form parameters and JSON keys with sensitive
  names, passwords in URLs, and well-known token formats (Slack, GitHub,
  GitLab, Stripe, webhook signing secrets, AWS access key ids, JWTs, PEM
  private keys).

The logging configuration (``portal.settings.LOGGING``) puts
:class:`RedactingFilter` on every handler and formats records with
:class:`StructuredFormatter`. SDKs that dump request URLs or bodies at
debug level (urllib3, requests, botocore, canvasapi) are pinned to WARNING
there, so their dumps are never produced in the first place; nothing in
this module needs to know about them.

A registered secret is found when its longest run of characters other than
ASCII punctuation and whitespace stands on its own in the text (not glued to
other letters or digits), which is how tokens appear in headers, URLs, JSON
and messages.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

MASK = "***"

#: Values shorter than this are not registered: masking them would eat
#: ordinary words and numbers all over the logs.
MIN_SECRET_LENGTH = 6
#: How many registered values are kept; the oldest are forgotten first.
MAX_KNOWN_SECRETS = 10_000
# A secret whose longest letters-and-digits run is shorter than this is
# checked with a plain substring search on every call instead of the index.
_MIN_INDEX_PIECE = 4

# --- Sensitive names --------------------------------------------------------
# Names are compared lower-cased with "-" and "_" removed, so "X-Api-Key",
# "x_api_key" and "apiKey" are one name. A name is sensitive when it is one
# of the exact names, ends with one of the suffixes ("access_token",
# "X-Amz-Signature", "credentials[api_key]") or contains one of the words
# ("client_secret_value"). "token" counts only at the end, so "token_type"
# and "token_expires_at" stay readable.
_SENSITIVE_EXACT = frozenset(
    {
        "key",
        "sig",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "session",
        "sessionid",
        "jwt",
        "assertion",
        "clientassertion",
        "xamzcredential",
        "xgoogcredential",
    }
)
_SENSITIVE_SUFFIXES = (
    "token",
    "signature",
    "apikey",
    "privatekey",
    "accesskey",
    "secretkey",
    "signingkey",
    "clientkey",
    "sessionkey",
    "encryptionkey",
    "credentials",
    "pwd",
)
_SENSITIVE_WORDS = ("secret", "password", "passwd", "passphrase")
# An OAuth authorization code is a secret only beside the parameters of an
# authorization flow; elsewhere "code" is an error or course code.
_CODE_COMPANIONS = frozenset({"state", "grant_type", "redirect_uri"})
# Header names: any name that mentions one of these is masked, which is
# broader than for parameters on purpose (headers carry little else).
_SENSITIVE_HEADER_WORDS = ("token", "secret", "key", "signature", "password")


def _normalize_name(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").rstrip("]")


def is_sensitive_name(name: str) -> bool:
    """Tell whether a parameter, JSON key or attribute ``name`` holds a secret."""
    normalized = _normalize_name(str(name))
    return (
        normalized in _SENSITIVE_EXACT
        or normalized.endswith(_SENSITIVE_SUFFIXES)
        or any(word in normalized for word in _SENSITIVE_WORDS)
    )


def is_sensitive_header(name: str) -> bool:
    """Tell whether an HTTP header called ``name`` carries credentials."""
    normalized = _normalize_name(str(name))
    return is_sensitive_name(normalized) or any(
        word in normalized for word in _SENSITIVE_HEADER_WORDS
    )


# --- The registry of known secrets -----------------------------------------


class _SecretRegistry:
    """Known secret values, indexed by their longest run of letters and digits."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._pieces: OrderedDict[str, str] = OrderedDict()
        self._by_piece: dict[str, set[str]] = {}
        self._unindexed: set[str] = set()

    def __len__(self) -> int:
        return len(self._pieces)

    def add(self, value: str) -> None:
        piece = max(_pieces(value), key=len, default="")
        if len(piece) < _MIN_INDEX_PIECE:
            piece = ""
        with self._lock:
            if value in self._pieces:
                self._pieces.move_to_end(value)
                return
            self._pieces[value] = piece
            if piece:
                self._by_piece.setdefault(piece, set()).add(value)
            else:
                self._unindexed.add(value)
            while len(self._pieces) > self._limit:
                self._forget(*self._pieces.popitem(last=False))

    def _forget(self, value: str, piece: str) -> None:
        if not piece:
            self._unindexed.discard(value)
            return
        holders = self._by_piece[piece]
        holders.discard(value)
        if not holders:
            del self._by_piece[piece]

    def candidates(self, text: str) -> list[str]:
        """Return the registered values that may occur in ``text``."""
        pieces = set(_pieces(text))
        with self._lock:
            found = [
                value
                for piece in self._by_piece.keys() & pieces
                for value in self._by_piece[piece]
            ]
            found.extend(self._unindexed)
        return found

    def mask(self, text: str) -> str:
        """Replace every registered value found in ``text`` with the mask."""
        present = [value for value in self.candidates(text) if value in text]
        # Longest first, so a secret that contains another is masked whole.
        for value in sorted(present, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text


# Splitting on a translate table is several times faster than a regex here,
# and this runs on every log line.
_PIECE_TABLE = str.maketrans(
    {chr(code): " " for code in range(128) if not chr(code).isalnum()}
)


def _pieces(text: str) -> list[str]:
    return text.translate(_PIECE_TABLE).split()


_registry = _SecretRegistry(MAX_KNOWN_SECRETS)


def register_secret(value: str) -> None:
    """Remember ``value`` as a secret to mask wherever it appears from now on.

    Empty values and values shorter than six characters are ignored. The
    URL-encoded forms are remembered too, so the value is also found in a
    query string.
    """
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise TypeError(
            f"register_secret() takes the secret as str, not {type(value).__name__}."
        )
    if len(value) < MIN_SECRET_LENGTH:
        return

    for form in {value, quote(value, safe=""), quote_plus(value, safe="")}:
        _registry.add(form)


def known_secret_count() -> int:
    """Return how many secret values the registry holds now."""
    return len(_registry)


# --- Patterns ---------------------------------------------------------------

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY)-----.*?"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/?#@]*):[^\s/?#@]*@"
)
# A header written out in a message, a header dump or a JSON/dict repr.
_HEADER_VALUE = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization|\b(?:set-)?cookie|\bx-api-key|\bx-auth-token)"
    r"(?P<sep>[\"']?[ \t]*[:=][ \t]*[\"']?)(?P<value>[^\"'\r\n]+)",
    re.IGNORECASE,
)
_AUTH_SCHEME = re.compile(
    r"\b(?P<scheme>[Bb]earer|BEARER|[Bb]asic|BASIC|Token|Digest)[ \t]+"
    r"(?P<credential>[A-Za-z0-9._~+/\-]+=*)"
)
# Quoted keys as JSON and Python reprs write them: "name": "value".
_QUOTED_PAIR = re.compile(
    r"(?P<q>[\"'])(?P<name>[A-Za-z_][\w.\-\[\]]{0,63})(?P=q)(?P<sep>\s*:\s*)"
    r"(?P<vq>[\"'])(?P<value>(?:\\.|(?!(?P=vq))[^\\\r\n])*)(?P=vq)"
)
# Query strings, form bodies and key=value log text. A value stops at "?" so
# that in "next=/login?token=abc" the token is a pair of its own.
_ASSIGNMENT = re.compile(
    r"(?<![\w.\-\[\]%])(?P<name>[A-Za-z_][\w.\-\[\]%]{0,63})="
    r"(?P<value>[^&\s#\"'<>;,?]*)"
)
_TOKEN_FORMAT = re.compile(
    r"\b(?:"
    r"(?P<prefix>whsec_|xox[abposer]-|gh[pousr]_|github_pat_|glpat-|"
    r"[sr]k_live_|[sr]k_test_|opt_)[A-Za-z0-9_+/=\-]{8,}"
    r"|(?P<aws>AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|(?P<jwt>eyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|(?P<telegram>bot)\d{6,}:[A-Za-z0-9_\-]{30,}"
    r")"
)
# Webhook URLs whose path is the credential.
_WEBHOOK_PATH = re.compile(
    r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/|"
    r"discord(?:app)?\.com/api/webhooks/\d+/)[\w/\-]+"
)


def _mask_header_value(match: re.Match[str]) -> str:
    value = match["value"]
    scheme, space, rest = value.strip().partition(" ")
    masked = f"{scheme} {MASK}" if space and rest and scheme.isalpha() else MASK
    return f"{match['name']}{match['sep']}{masked}"


def _looks_like_credential(credential: str) -> bool:
    # "Basic authentication failed" must stay readable, while base64 of
    # "user:pass" (no digit at all) must not: a real credential has a digit,
    # a symbol, an inner capital or sheer length.
    if len(credential) < MIN_SECRET_LENGTH:
        return False
    if len(credential) >= 20 or not credential.isalpha():
        return True
    return any(character.isupper() for character in credential[1:])


def _mask_auth_scheme(match: re.Match[str]) -> str:
    if not _looks_like_credential(match["credential"]):
        return match[0]
    return f"{match['scheme']} {MASK}"


_QUERY_BOUNDARY = re.compile(r"\s")
_COMPANION_NAMES = "|".join(sorted(_CODE_COMPANIONS))
_COMPANION_ASSIGNMENT = re.compile(
    rf"(?<![\w.\-])(?:{_COMPANION_NAMES})=", re.IGNORECASE
)
_COMPANION_QUOTED = re.compile(rf"[\"'](?:{_COMPANION_NAMES})[\"']\s*:", re.IGNORECASE)


def _code_beside_companion(text: str, start: int, end: int) -> bool:
    # Only the query (or form body) the code sits in counts, not the line.
    boundary = _QUERY_BOUNDARY.search(text, end)
    segment_end = boundary.start() if boundary else len(text)
    segment_start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
    return bool(_COMPANION_ASSIGNMENT.search(text, segment_start, segment_end))


def _mask_assignment(match: re.Match[str]) -> str:
    name = unquote_plus(match["name"])
    if not match["value"]:
        return match[0]
    if is_sensitive_name(name) or (
        name.lower() == "code"
        and _code_beside_companion(match.string, match.start(), match.end())
    ):
        return f"{match['name']}={MASK}"
    return match[0]


def _mask_quoted_pair(match: re.Match[str]) -> str:
    name = match["name"]
    # An Authorization value masked already keeps its scheme ("Bearer ***").
    if not match["value"] or match["value"].endswith(MASK):
        return match[0]
    if is_sensitive_name(name) or (
        name.lower() == "code" and _COMPANION_QUOTED.search(match.string)
    ):
        key = f"{match['q']}{name}{match['q']}"
        return f"{key}{match['sep']}{match['vq']}{MASK}{match['vq']}"
    return match[0]


def _mask_token_format(match: re.Match[str]) -> str:
    prefix = match["prefix"] or match["aws"] or match["jwt"] or match["telegram"]
    return f"{prefix}{MASK}"


# Cheap substring checks that gate the regular expressions: most log lines
# contain none of these, and `in` is far faster than a regex scan.
_HEADER_HINTS = ("authorization", "cookie", "api-key", "auth-token")
_SCHEME_HINTS = ("bearer", "basic", "token", "digest")
# Every sensitive name contains one of these (tests check it).
_NAME_HINTS = (
    "token",
    "secret",
    "pass",
    "pwd",
    "sig",
    "key",
    "auth",
    "cookie",
    "session",
    "jwt",
    "assertion",
    "credential",
    "code",
)
_FORMAT_HINTS = (
    "whsec_",
    "xox",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "k_live_",
    "k_test_",
    "AKIA",
    "ASIA",
    "eyJ",
    "bot",
    "opt_",
)


def redact_text(text: str) -> str:
    """Return ``text`` with known secrets and secret-looking values masked."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text:
        return text

    if len(_registry):
        text = _registry.mask(text)
    lowered = text.lower()
    if "private key-----" in lowered:
        text = _PEM_PRIVATE_KEY.sub(rf"-----BEGIN \g<label>-----{MASK}", text)
    if "://" in text:
        if "@" in text:
            text = _URL_USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", text)
        if "hooks.slack.com" in lowered or "discord" in lowered:
            text = _WEBHOOK_PATH.sub(rf"\g<keep>{MASK}", text)
    if any(hint in lowered for hint in _HEADER_HINTS):
        text = _HEADER_VALUE.sub(_mask_header_value, text)
    if any(hint in lowered for hint in _SCHEME_HINTS):
        text = _AUTH_SCHEME.sub(_mask_auth_scheme, text)
    if any(hint in lowered for hint in _NAME_HINTS):
        if ":" in text:
            text = _QUOTED_PAIR.sub(_mask_quoted_pair, text)
        if "=" in text:
            text = _ASSIGNMENT.sub(_mask_assignment, text)
    if any(hint in text for hint in _FORMAT_HINTS):
        text = _TOKEN_FORMAT.sub(_mask_token_format, text)
    return text


# --- URLs, headers and mappings --------------------------------------------


def _redact_query(query: str) -> str:
    segments = query.split("&")
    names = {unquote_plus(segment.partition("=")[0]).lower() for segment in segments}
    code_is_secret = bool(names & _CODE_COMPANIONS)
    redacted = []
    for segment in segments:
        raw_name, equals, value = segment.partition("=")
        name = unquote_plus(raw_name)
        secret = is_sensitive_name(name) or (name.lower() == "code" and code_is_secret)
        redacted.append(
            f"{raw_name}={MASK}" if equals and value and secret else segment
        )
    return "&".join(redacted)


def redact_url(url: str) -> str:
    """Return ``url`` with its password and secret parameters masked.

    Scheme, host, path and harmless parameters stay as they were, byte for
    byte, so the URL still says where a call went.
    """
    if not url:
        return url
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return redact_text(str(url))

    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        # A lone user part is often a token (https://TOKEN@host/...).
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = _redact_query(parts.query) if parts.query else ""
    fragment = (
        _redact_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    )
    rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    return redact_text(rebuilt)


def redact_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """Return a copy of ``headers`` with credentials masked.

    ``Authorization`` keeps its scheme (``Bearer ***``) so a log still says
    how the call authenticated.
    """
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if not is_sensitive_header(name):
            redacted[name] = redact_text(text)
            continue
        scheme, space, rest = text.strip().partition(" ")
        keep_scheme = (
            _normalize_name(name) in ("authorization", "proxyauthorization")
            and space
            and rest
            and scheme.isalpha()
        )
        redacted[name] = f"{scheme} {MASK}" if keep_scheme else MASK
    return redacted


def redact_mapping(data: Any) -> Any:
    """Return a copy of ``data`` with values under sensitive keys masked.

    Dicts, lists and tuples are walked recursively; strings are passed
    through :func:`redact_text`; other values are returned as they are.
    The input is never modified.
    """
    return _redact_value(data, set())


def _redact_value(data: Any, seen: set[int]) -> Any:
    if isinstance(data, str):
        return redact_text(data)
    if not isinstance(data, Mapping | list | tuple | set | frozenset):
        return data
    if id(data) in seen:
        return "<recursion>"
    seen = seen | {id(data)}

    if isinstance(data, Mapping):
        keys = {str(key).lower() for key in data}
        code_is_secret = bool(keys & _CODE_COMPANIONS)
        redacted = {}
        for key, value in data.items():
            name = str(key)
            secret = is_sensitive_name(name) or (
                name.lower() == "code" and code_is_secret
            )
            if secret and not _is_blank(value):
                redacted[key] = MASK
            else:
                redacted[key] = _redact_value(value, seen)
        return redacted
    items = [_redact_value(item, seen) for item in data]
    if isinstance(data, list):
        return items
    if isinstance(data, tuple):
        return tuple(items)
    return type(data)(items) if all(_hashable(item) for item in items) else items


def _is_blank(value: Any) -> bool:
    # An absent secret is shown as absent: that is often the bug being logged.
    return value is None or (isinstance(value, str) and not value)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# --- Logging ----------------------------------------------------------------

_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}
# Set on a record once the filter has run, so a second handler with the same
# filter does not redo the work.
_REDACTED_MARK = "_secrets_redacted"


# Django attaches the request (or, for runserver, the socket) and a second
# timestamp to its records; the message already says what they would.
_NOISY_DJANGO_ATTRIBUTES = frozenset({"request", "server_time"})


def _extra_attributes(record: logging.LogRecord) -> list[str]:
    return [
        name
        for name in record.__dict__
        if name not in _STANDARD_ATTRIBUTES
        and name not in _NOISY_DJANGO_ATTRIBUTES
        and not name.startswith("_")
    ]


class RedactingFilter(logging.Filter):
    """Mask secrets in every log record's message, extras and traceback.

    The message is rendered with its arguments and then redacted, and the
    arguments are dropped, so no later formatter sees them raw. The
    traceback is formatted here, redacted, and stored in ``exc_text``, which
    standard formatters print instead of formatting ``exc_info`` again. The
    filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(_REDACTED_MARK):
            return True
        try:
            self._redact(record)
        except Exception as error:  # logging must go on
            # The record might still hold the secret: replace it wholesale.
            record.msg = "logging.redaction_failed"
            record.args = None
            record.exc_info = None
            record.exc_text = f"redaction failed: {type(error).__name__}"
        record.__dict__[_REDACTED_MARK] = True
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format must not hide the record
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None

        for name in _extra_attributes(record):
            value = record.__dict__[name]
            if is_sensitive_name(name) and not _is_blank(value):
                record.__dict__[name] = MASK
            elif isinstance(value, str):
                record.__dict__[name] = redact_text(value)
            elif isinstance(value, Mapping | list | tuple):
                record.__dict__[name] = redact_mapping(value)

        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)


_BARE_VALUE = re.compile(r"[^\s\"'=]+")


class StructuredFormatter(logging.Formatter):
    """Format a record as ``time level logger event key=value ...``.

    The key=value pairs are the record's ``extra`` context; every value is
    redacted again here, because an object's ``str`` can reveal what the
    object itself did not. A traceback, if any, follows on the next lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        event = record.getMessage()
        if not record.__dict__.get(_REDACTED_MARK):
            event = redact_text(event)
        timestamp = datetime.fromtimestamp(record.created, tz=UTC)
        parts = [
            timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            record.levelname,
            record.name,
            event.replace("\r", "\\r").replace("\n", "\\n"),
        ]
        for name in _extra_attributes(record):
            parts.append(f"{name}={self._render(name, record.__dict__[name])}")
        line = " ".join(parts)

        exception = record.exc_text
        if record.exc_info and not exception:
            exception = self.formatException(record.exc_info)
        if exception:
            line = f"{line}\n{redact_text(exception)}"
        if record.stack_info:
            line = f"{line}\n{redact_text(self.formatStack(record.stack_info))}"
        return line

    def _render(self, name: str, value: Any) -> str:
        if is_sensitive_name(name) and not _is_blank(value):
            return MASK
        if isinstance(value, Mapping | list | tuple):
            text = json.dumps(
                redact_mapping(value),
                default=str,
                ensure_ascii=False,
                separators=(",", ":"),
            )
            return redact_text(text)
        if value is None or isinstance(value, bool | int | float):
            return str(value)
        text = redact_text(str(value))
        if _BARE_VALUE.fullmatch(text):
            return text
        return json.dumps(text, ensure_ascii=False)
