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


def _match(words: list[str], start: int, term: str) -> bool:
    parts = term.split(" ")
    if start + len(parts) > len(words):
        return False
    for offset, part in enumerate(parts):
        word = words[start + offset]
        if part.endswith("*"):
            if not word.startswith(part[:-1]):
                return False
        elif word != part:
            return False
    return True


def _occurs(words: list[str], term: str) -> list[int]:
    return [i for i in range(len(words)) if _match(words, i, term)]


class VerbatimAnalyzer:
    def __init__(self, spec: VerbatimSpec) -> None:
        self.spec = spec
        self._by_language = {lex.language: lex for lex in spec.lexicons}

    def lexicon_for(self, language: str | None) -> Lexicon | None:
        code = (language or self.spec.default_language).lower().split("-")[0]
        return self._by_language.get(code) or self._by_language.get(self.spec.default_language)

    def analyze(self, text: str, language: str | None = None) -> Analysis:
        lexicon = self.lexicon_for(language)
        if lexicon is None or not text:
            return Analysis((), None, language or self.spec.default_language)
        words = _WORD.findall(text.lower())
        drivers = tuple(
            driver for driver, terms in lexicon.drivers.items() if any(_occurs(words, term) for term in terms)
        )
        negated = {i + k for t in lexicon.negations for i in _occurs(words, t) for k in range(1, NEGATION_REACH + 1)}
        positive = negative = 0
        for polarity, terms in ((1, lexicon.positive), (-1, lexicon.negative)):
            for term in terms:
                for i in _occurs(words, term):
                    if (polarity if i not in negated else -polarity) > 0:
                        positive += 1
                    else:
                        negative += 1
        total = positive + negative
        return Analysis(drivers, (positive - negative) / total if total else None, lexicon.language)
