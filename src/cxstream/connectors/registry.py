"""Connectors installed in this environment, found through the ``cxstream.connectors`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from cxstream.connectors.base import Connector
from cxstream.domain.topology import ConnectorSpec

GROUP = "cxstream.connectors"


class ConnectorLoadError(Exception):
    """A connector entry point is broken or its options are invalid."""


def installed() -> dict[str, type[Connector]]:
    """Connector classes by name. A broken plug-in fails loudly rather than vanishing."""
    found: dict[str, type[Connector]] = {}
    for point in entry_points(group=GROUP):
        try:
            cls = point.load()
        except Exception as exc:
            raise ConnectorLoadError(f"connector {point.name!r} ({point.value}) cannot be imported: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise ConnectorLoadError(f"connector {point.name!r} ({point.value}) is not a Connector subclass")
        if cls.name != point.name:
            raise ConnectorLoadError(f"entry point {point.name!r} loads a connector named {cls.name!r}")
        found[point.name] = cls
    return found


def build(specs: tuple[ConnectorSpec, ...]) -> dict[str, Connector]:
    """Enabled connectors of the topology, by raw topic."""
    classes = installed()
    built: dict[str, Connector] = {}
    for spec in specs:
        if not spec.enabled:
            continue
        try:
            connector = classes[spec.name](spec.options)
        except KeyError:
            raise ConnectorLoadError(f"no installed connector {spec.name!r}") from None
        except ValueError as exc:
            raise ConnectorLoadError(str(exc)) from exc
        built[connector.raw_topic] = connector
    return built
