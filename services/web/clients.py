"""The three APIs as the web service calls them: httpx clients kept for the app's lifetime, the
person's session token (or the service's own key) as the bearer, and the browser's address forwarded
(``X-Forwarded-For``) so that the registry's lockouts and audit trail see the person, not this service.

A problem answer (4xx) becomes :class:`ApiError` carrying the problem document; an API that does not
answer, or answers 5xx, becomes :class:`ApiDown`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from services.web.settings import WebSettings

Service = Literal["registry", "adoption", "notifier"]

SERVICE_NAMES: dict[Service, str] = {
    "registry": "dịch vụ đăng ký đầu mối",
    "adoption": "dịch vụ số liệu áp dụng",
    "notifier": "dịch vụ gửi thông báo",
}


class ApiError(Exception):
    """A 4xx answer: ``problem`` is its problem document (``errors`` lists field errors on a 422)."""

    def __init__(self, service: Service, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(f"{service} answered {status}: {problem.get('detail') or problem.get('title')}")
        self.service, self.status, self.problem, self.headers = service, status, problem, headers

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")

    @property
    def code(self) -> str:
        return str(self.problem.get("code") or self.problem.get("type", "").rsplit("/", 1)[-1])

    def field_errors(self) -> dict[str, str]:
        """Each field's first message, keyed by the field's name (its last path element)."""
        found: dict[str, str] = {}
        for error in self.problem.get("errors") or []:
            name = str(error.get("field") or "").rsplit(".", 1)[-1]
            found.setdefault(name, str(error.get("message") or ""))
        return found


class ApiDown(Exception):
    """The service did not answer, or answered with a server error."""

    def __init__(self, service: Service, reason: str) -> None:
        super().__init__(f"{service} unavailable: {reason}")
        self.service, self.reason = service, reason


@dataclass
class Caller:
    """Who a call is made for: a bearer (a session token or the service key) and the browser's address."""

    token: str
    client_address: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        headers = {"Accept-Language": "vi", **self.extra_headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.client_address:
            headers["X-Forwarded-For"] = self.client_address
        return headers


class Apis:
    """One pooled client per API for the app's lifetime."""

    def __init__(self, settings: WebSettings, transports: dict[Service, httpx.AsyncBaseTransport] | None = None):
        urls: dict[Service, str] = {
            "registry": settings.registry_url,
            "adoption": settings.adoption_url,
            "notifier": settings.notifier_url,
        }
        timeout = httpx.Timeout(settings.api_timeout_seconds, connect=min(2.0, settings.api_timeout_seconds))
        self.clients = {
            name: httpx.AsyncClient(
                base_url=url,
                timeout=timeout,
                transport=(transports or {}).get(name),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            )
            for name, url in urls.items()
        }

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def send(
        self,
        service: Service,
        method: str,
        path: str,
        caller: Caller,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The answer when it is 2xx or 3xx or listed in ``ok``; else ApiError (4xx) or ApiDown."""
        try:
            response = await self.clients[service].request(
                method,
                path,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                json=json,
                content=content,
                headers={**caller.headers(), **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise ApiDown(service, type(exc).__name__) from exc
        if response.status_code < 400 or response.status_code in ok:
            return response
        if response.status_code >= 500:
            raise ApiDown(service, f"HTTP {response.status_code}")
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        raise ApiError(service, response.status_code, problem if isinstance(problem, dict) else {}, response.headers)

    async def get_json(self, service: Service, path: str, caller: Caller, **params: Any) -> Any:
        return (await self.send(service, "GET", path, caller, params=params)).json()

    async def post_json(self, service: Service, path: str, caller: Caller, body: Any, **kwargs: Any) -> Any:
        response = await self.send(service, "POST", path, caller, json=body, **kwargs)
        return response.json() if response.content else None
