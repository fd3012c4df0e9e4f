"""What came back from one HTTP exchange, as plain values."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from . import _json
from ._untrusted import charset_of, decode

__all__ = ["APIResponse", "Response"]

T = TypeVar("T")

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")


@attrs.frozen(kw_only=True)
class Response:
    """A response as received: status, headers and the whole body (already read)."""

    method: str
    url: URL
    status: int
    reason: str
    headers: CIMultiDictProxy[str] = attrs.field(repr=False)
    content: bytes = attrs.field(repr=False)
    elapsed: float
    """Seconds from sending the request to reading the last byte of the body."""

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (``""`` when absent)."""
        return self.headers.get("Content-Type", "").partition(";")[0].strip().lower()

    @property
    def is_json(self) -> bool:
        """Whether the body is declared as JSON (``application/json``, ``…+json``)."""
        ctype = self.content_type
        return ctype == "application/json" or ctype.endswith("+json")

    @property
    def request_id(self) -> str | None:
        """The server's id for this request, when a header carries one."""
        for name in _REQUEST_ID_HEADERS:
            if name in self.headers:
                return self.headers[name]
        return None

    def json(self) -> Any:
        """Decode the body as JSON (an empty body is ``None``)."""
        if not self.content or self.content.isspace():
            return None
        return _json.loads(self.content)

    def text(self) -> str:
        """The body as text, in the ``charset`` the response names (default UTF-8).

        Never raises: undecodable bytes are replaced, and a charset that is unknown, not a
        text encoding or unsafe for peer bytes (``idna``, ``punycode``) is read as UTF-8.
        """
        return decode(self.content, charset_of(self.headers.get("Content-Type", "")))


@attrs.frozen(kw_only=True)
class APIResponse(Generic[T]):
    """A call's parsed result together with the final HTTP response behind it."""

    data: T
    """What the call returns normally."""
    response: Response
    """The last response (after any retries)."""
    attempts: int
    """How many attempts the call took (1 when it was not retried)."""

    @property
    def status(self) -> int:
        """The HTTP status of the final response."""
        return self.response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers of the final response."""
        return self.response.headers
