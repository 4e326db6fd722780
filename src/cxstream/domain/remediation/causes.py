"""The root-cause taxonomy: declared classes (process failure, system defect, policy, supplier, training, ...)
and the codes under them. A case is resolved with a cause code from it (the free-text category stays beside
it), so root causes can be counted, compared between periods and traced to fixes."""

from __future__ import annotations

from pydantic import Field, model_validator

from cxstream.domain.base import Strict

CODE = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"


class CauseCode(Strict):
    code: str = Field(pattern=CODE, max_length=40, description="e.g. SUP-CARRIER-CAPACITY")
    cause_class: str = Field(alias="class", description="one of the declared classes")
    display: str = Field(min_length=3, description="the name people read")
    department: str | None = Field(None, description="the department that usually owns the fix")
    pareto: str | None = Field(None, description="the operational Pareto that shows where it happens")


class RootCauses(Strict):
    """``remediation.root_causes``: the classes, the codes, and whether resolving a case needs a code."""

    required: bool = Field(True, description="a case resolves only with a cause code")
    classes: dict[str, str] = Field(min_length=1, description="class id -> name, e.g. supplier: Supplier")
    codes: list[CauseCode] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> RootCauses:
        seen: set[str] = set()
        for code in self.codes:
            if code.code in seen:
                raise ValueError(f"cause code {code.code} is declared twice")
            seen.add(code.code)
            if code.cause_class not in self.classes:
                raise ValueError(f"cause code {code.code}: unknown class {code.cause_class!r}")
        return self

    def find(self, code: str) -> CauseCode | None:
        return next((c for c in self.codes if c.code == code), None)

    def check(self, code: str | None) -> str | None:
        """The reason ``code`` may not resolve a case, or None when it may."""
        if code is None or not code.strip():
            if self.required:
                return "a root-cause code is required (cxstream rca causes lists them)"
            return None
        if self.find(code.strip()) is None:
            return f"unknown root-cause code {code.strip()!r} (cxstream rca causes lists them)"
        return None

    def class_of(self, code: str) -> str:
        found = self.find(code)
        return found.cause_class if found is not None else "unknown"
