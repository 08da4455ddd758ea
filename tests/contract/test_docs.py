"""/docs and /redoc work on the city's isolated network: every asset they load comes from the service
itself, out of an installed package (fastapi-offline), none from a CDN."""

from __future__ import annotations

import re
import subprocess
from importlib.resources import files
from urllib.parse import urljoin

import httpx
import pytest

from tests.contract.apps import APPS

# Every URL a page names: attributes, and quoted strings in its inline script.
URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']|["']((?:https?:)?//[^"']+)["']""")


async def page_and_assets(service: str, page: str) -> tuple[str, dict[str, httpx.Response]]:
    """The page's HTML and every URL it names, fetched from the service (no lifespan needed)."""
    transport = httpx.ASGITransport(app=APPS[service]())
    async with httpx.AsyncClient(transport=transport, base_url="http://service.internal") as client:
        response = await client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        named = {next(group for group in match.groups() if group) for match in URL.finditer(html)}
        assets = {url: await client.get(urljoin(f"http://service.internal{page}", url)) for url in named}
    return html, assets


@pytest.mark.parametrize("service", APPS)
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_name_no_other_host_and_load_from_the_service(service, page):
    html, assets = await page_and_assets(service, page)
    external = [url for url in assets if re.match(r"(?:[a-z]+:)?//", url) and not url.startswith("//service.")]
    assert external == [], f"{page} loads {external}"
    assert "fonts.googleapis" not in html and "cdn." not in html
    kinds = {url: response.headers.get("content-type", "") for url, response in assets.items()}
    assert all(response.status_code == 200 and response.content for response in assets.values()), kinds
    scripts = [url for url, kind in kinds.items() if "javascript" in kind]
    assert scripts, f"{page} loads no script of its own: {kinds}"
    assert any("/openapi.json" in url for url in assets) or "/openapi.json" in html


async def test_swagger_ui_comes_from_the_installed_package_and_sends_nothing_away():
    html, assets = await page_and_assets("registry", "/docs")
    [bundle] = [response for url, response in assets.items() if url.endswith("swagger-ui-bundle.js")]
    assert bundle.content == (files("fastapi_offline") / "static" / "swagger-ui-bundle.js").read_bytes()
    # The validator badge would send the document to validator.swagger.io.
    assert '"validatorUrl": null' in html
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert not [path for path in tracked if path.endswith(("swagger-ui-bundle.js", "redoc.standalone.js"))]
