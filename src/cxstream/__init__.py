"""cxstream: real-time customer-experience operations on Kafka."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cxstream")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
