"""Label matchers with Prometheus Alertmanager's grammar and regex semantics, so that a matcher pasted from an
Alertmanager configuration means here what it means there.

Grammar (Alertmanager's ``pkg/labels`` parser): a list of matchers separated by commas outside double quotes,
optionally inside one pair of braces, a trailing comma allowed: ``{owner="team-A", severity!="INFO"}``,
``owner=team-A,severity!=INFO``. One matcher is a label name (``[a-zA-Z_:][a-zA-Z0-9_:]*``), an operator
(``=``, ``!=``, ``=~``, ``!~``) and a value, quoted or not; in the value ``\\"`` is a quote, ``\\n`` a line
feed, ``\\\\`` a backslash, and any other backslash is literal. An unescaped quote inside the value is refused,
as is a missing value (``job=``; ``job=""`` is the empty value).

Regular expressions are RE2, as in Alertmanager (Go's ``regexp``), through the ``google-re2`` binding, and
fully anchored: ``^(?:value)$``. So ``$`` matches only at the end, ``\\d`` and ``\\w`` only ASCII digits and
word characters, ``[[:digit:]]`` and ``\\p{L}`` work, ``(?i)`` may stand anywhere, and what RE2 refuses
(lookarounds, backreferences) is refused when the configuration is loaded, never while routing. ``\\C`` (any
byte), which C++ RE2 accepts and Go does not, is refused too.

Legacy forms are converted: a route's ``match`` / ``match_re`` maps and an inhibition rule's
``source_match`` / ``source_match_re`` / ``target_match`` / ``target_match_re`` (see :func:`legacy`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, lru_cache

import re2

Labels = Mapping[str, str]

LABEL_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_ONE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.:|*+?()\[\]^$/@~-]+$")  # printed without quotes, parsed back the same
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised with the matcher named; RE2's own log line adds nothing


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


def compile_regex(value: str) -> re2._Regexp:
    """The anchored RE2 program of a regex matcher's value; ValueError (with RE2's reason) when RE2 or Go
    would refuse it."""
    if re.search(r"(?<!\\)(?:\\\\)*\\C", value):
        raise ValueError(f"error parsing regexp: invalid escape sequence: `\\C` in {value!r}")
    try:
        return re2.compile(f"^(?:{value})$", options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"error parsing regexp: {reason}: `{value}`") from None


@dataclass(frozen=True)
class Matcher:
    """``label op value``. A missing label has the value "" (as in Alertmanager); regexes are RE2, anchored."""

    label: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.label):
            raise ValueError(f"invalid label name {self.label!r}")
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            _ = self._pattern  # compiled now: a bad regex fails when the configuration loads

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Exactly one matcher (``severity="CRITICAL"``, ``region=~"emea|apac"``)."""
        found = parse_matchers(text)
        if len(found) != 1:
            raise ValueError(f"{text!r} holds {len(found)} matchers where one is expected")
        return found[0]

    @cached_property
    def _pattern(self) -> re2._Regexp:
        return _compiled(self.value)

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.label, "")
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        hit = self._pattern.fullmatch(actual) is not None
        return hit if self.op is MatchOp.REGEX else not hit

    def __str__(self) -> str:
        """The matcher as written: plain values bare (``region=emea``), others quoted and escaped; parsing the
        text gives this matcher back."""
        if _PLAIN_VALUE.match(self.value):
            return f"{self.label}{self.op.value}{self.value}"
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.label}{self.op.value}"{escaped}"'


@lru_cache(maxsize=1024)
def _compiled(value: str) -> re2._Regexp:
    return compile_regex(value)


def _split(text: str) -> list[str]:
    """The matchers of a list, split at commas outside double quotes (a ``\\"`` does not open or close)."""
    body = text.strip()
    body = body.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for char in body:
        if char == "," and not inside:
            tokens.append("".join(token))
            token = []
            continue
        if char == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return tokens


def _one(text: str) -> Matcher:
    found = _ONE.match(text)
    if not found:
        raise ValueError(f"bad matcher format: {text.strip()} (expected name=value, name!=value, name=~regex or "
                         f'name!~regex, the value quoted when it holds commas or spaces: owner="team-A")')  # fmt: skip
    label, op, raw = found.groups()
    if raw == "":
        raise ValueError(f'matcher value is not present: {text.strip()} (the empty value is written "")')
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    for i, char in enumerate(body):
        if escaped:
            escaped = False
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
            continue
        if char == "\\":
            if i < len(body) - 1:
                escaped = True
                continue
            out.append("\\")
        elif char == '"':
            if not quoted or i < len(body) - 1:
                raise ValueError(f"matcher value contains unescaped double quote: {raw}")
            quoted = False  # the closing quote
        else:
            out.append(char)
    if quoted:
        raise ValueError(f"matcher value contains unescaped double quote: {raw}")
    return Matcher(label, MatchOp(op), "".join(out))


def parse_matchers(text: str) -> list[Matcher]:
    """Every matcher of one list item, as Alertmanager's ``ParseMatchers`` reads it."""
    return [_one(token) for token in _split(text)]


def parse_all(items: Iterable[str]) -> tuple[Matcher, ...]:
    """The matchers of a YAML list whose items may each hold several (``[owner="a", 'env="x",job="y"']``)."""
    return tuple(m for item in items for m in parse_matchers(item))


def legacy(equal: Mapping[str, str] | None, regex: Mapping[str, str] | None) -> list[str]:
    """Alertmanager's deprecated ``match`` (equality) and ``match_re`` (regex) maps as matcher texts, sorted by
    label as Alertmanager keys them."""
    out = [Matcher(name, MatchOp.EQUAL, str(value)) for name, value in (equal or {}).items()]
    out += [Matcher(name, MatchOp.REGEX, str(value)) for name, value in (regex or {}).items()]
    return [str(m) for m in sorted(out, key=lambda m: (m.label, m.op.value, m.value))]


def matches_all(matchers: Iterable[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels) for m in matchers)
