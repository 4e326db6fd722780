"""Verbatim comments: driver categories (delivery, billing, waiting time, ...) and a sentiment score from a
lexicon per language, declared in ``topologies/verbatims.yaml``.

Deliberately simple and explainable: a driver is named when one of its terms occurs; sentiment is
(positive - negative) / (positive + negative) over the lexicon's words, a word preceded by a negation within
three words counting for the other side. Every output can be traced to the words that caused it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
NEGATION_REACH = 3


def _terms(value: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(" ".join(_WORD.findall(t.lower().rstrip("*"))) + ("*" if t.endswith("*") else "") for t in value)
    for original, term in zip(value, cleaned, strict=True):
        if not term.rstrip("*"):
            raise ValueError(f"{original!r} has no word in it")
    return cleaned


class Lexicon(Strict):
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    drivers: dict[str, tuple[str, ...]] = Field(description="driver -> terms; 'word*' matches a prefix")
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()

    @field_validator("drivers")
    @classmethod
    def _driver_terms(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for driver in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", driver):
                raise ValueError(f"driver {driver!r}: use lower-case letters, digits and _")
        return {driver: _terms(terms) for driver, terms in value.items()}

    @field_validator("positive", "negative", "negations")
    @classmethod
    def _word_terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _terms(value)


class VerbatimSpec(Strict):
    default_language: str = "en"
    lexicons: tuple[Lexicon, ...] = ()
    display: dict[str, str] = Field(default_factory=dict, description="driver -> the name people read")

    @model_validator(mode="after")
    def _display_known(self) -> VerbatimSpec:
        known = {d for lexicon in self.lexicons for d in lexicon.drivers}
        for driver, name in self.display.items():
            if driver not in known:
                raise ValueError(f"display names driver {driver!r}, which no lexicon has")
            if not 0 < len(name) <= 40:
                raise ValueError(f"display name of {driver!r}: 1 to 40 characters")
        return self

    def driver_name(self, driver: str) -> str:
        """The name people read: declared, else the id with spaces ("waiting_time" -> "Waiting time")."""
        return self.display.get(driver) or driver.replace("_", " ").capitalize()

    @field_validator("lexicons")
    @classmethod
    def _one_per_language(cls, value: tuple[Lexicon, ...]) -> tuple[Lexicon, ...]:
        languages = [lex.language for lex in value]
        for language in languages:
            if languages.count(language) > 1:
                raise ValueError(f"two lexicons for language {language!r}")
        return value


@dataclass(frozen=True)
class Analysis:
    drivers: tuple[str, ...]
    sentiment: float | None  # None: no sentiment word found
    language: str


def _pattern(*terms: str) -> re.Pattern[str]:
    """Where one of ``terms`` starts, as a regular expression over the words joined by single spaces: each part a
    whole word ('word*': a word starting so), the parts consecutive words. Zero-width, so every start is found."""
    bodies = [
        " ".join(re.escape(p[:-1]) + "[^ ]*" if p.endswith("*") else re.escape(p) for p in term.split(" "))
        + r"(?![^ ])"
        for term in terms
    ]
    return re.compile(r"(?<![^ ])(?=" + "|".join(bodies) + ")")


@dataclass(frozen=True)
class _Compiled:
    """A lexicon's terms as patterns (compiled once, not per comment)."""

    drivers: tuple[tuple[str, re.Pattern[str]], ...]  # a driver is named when any of its terms occurs
    negations: tuple[re.Pattern[str], ...]
    positive: tuple[re.Pattern[str], ...]
    negative: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, lexicon: Lexicon) -> _Compiled:
        def patterns(terms: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
            return tuple(_pattern(t) for t in terms)

        return cls(tuple((d, _pattern(*t)) for d, t in lexicon.drivers.items() if t), patterns(lexicon.negations),
                   patterns(lexicon.positive), patterns(lexicon.negative))  # fmt: skip


def _occurs(text: str, index: dict[int, int], pattern: re.Pattern[str]) -> list[int]:
    """The word positions where ``pattern`` starts in ``text`` (words joined by spaces; ``index``: character
    offset of each word -> its position)."""
    return [index[m.start()] for m in pattern.finditer(text)]


class VerbatimAnalyzer:
    def __init__(self, spec: VerbatimSpec) -> None:
        self.spec = spec
        self._by_language = {lex.language: lex for lex in spec.lexicons}
        self._compiled = {lex.language: _Compiled.of(lex) for lex in spec.lexicons}

    def lexicon_for(self, language: str | None) -> Lexicon | None:
        code = (language or self.spec.default_language).lower().split("-")[0]
        return self._by_language.get(code) or self._by_language.get(self.spec.default_language)

    def analyze(self, text: str, language: str | None = None) -> Analysis:
        lexicon = self.lexicon_for(language)
        if lexicon is None or not text:
            return Analysis((), None, language or self.spec.default_language)
        terms = self._compiled[lexicon.language]
        words = _WORD.findall(text.lower())
        joined = " ".join(words)
        index: dict[int, int] = {}
        at = 0
        for position, word in enumerate(words):
            index[at] = position
            at += len(word) + 1
        drivers = tuple(driver for driver, pattern in terms.drivers if pattern.search(joined))
        negated = {
            i + k for p in terms.negations for i in _occurs(joined, index, p) for k in range(1, NEGATION_REACH + 1)
        }
        positive = negative = 0
        for polarity, patterns in ((1, terms.positive), (-1, terms.negative)):
            for pattern in patterns:
                for i in _occurs(joined, index, pattern):
                    if (polarity if i not in negated else -polarity) > 0:
                        positive += 1
                    else:
                        negative += 1
        total = positive + negative
        return Analysis(drivers, (positive - negative) / total if total else None, lexicon.language)
