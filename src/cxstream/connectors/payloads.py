"""Splitting an HTTP body into raw records without changing a byte of any of them."""

from __future__ import annotations

import json

from cxstream.connectors.base import MappingError, parse_json

_WS = " \t\r\n"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def split_json_body(body: bytes, max_bytes: int) -> list[bytes]:
    """One JSON object -> [body]; a JSON array -> the exact bytes of each element, in order.

    Raises MappingError (with the reason) for a body that is not JSON, or not an object or array.
    """
    parsed = parse_json(body, max_bytes)  # validates: UTF-8, JSON, nesting, size
    if isinstance(parsed, dict):
        return [body]
    if not isinstance(parsed, list):
        raise MappingError(
            f"the body must be a JSON object or an array of them, got {type(parsed).__name__}", "decode.shape"
        )
    text = body.decode("utf-8")
    decoder = json.JSONDecoder()
    i = _skip(text, _skip(text, 0) + 1)  # after '['
    pieces: list[bytes] = []
    while i < len(text) and text[i] != "]":
        value, end = decoder.raw_decode(text, i)
        if not isinstance(value, dict):
            raise MappingError(
                f"element {len(pieces)} of the array is a {type(value).__name__}, not an object", "decode.shape"
            )
        pieces.append(text[i:end].encode("utf-8"))
        i = _skip(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
    return pieces
