"""Interactive API docs served from package files, so ``/docs`` and ``/redoc`` work with no internet (no CDN).

FastAPI's default pages load their scripts from a CDN. Here they come from the ``fastapi-offline`` package
(MIT), which ships Swagger UI 5 (Apache-2.0; renders the OpenAPI 3.1 documents FastAPI writes) and ReDoc's
standalone bundle (MIT); its ``static`` folder is mounted under :data:`ASSETS_PATH`. Only the files are used:
the app itself is still ttsd's (``create_app``), created with ``docs_url=None, redoc_url=None``.

Swagger UI shows an ``audio/*`` response of "Try it out" as an ``<audio>`` element whose source is the request
URL, which the browser then fetches with GET: a 405 for ``POST /tts``. :data:`AUDIO_PLUGIN_JS` (a Swagger UI
plugin) plays and offers for download the bytes the POST returned instead.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# Swagger UI options: operations listed folded, request durations shown, the schemas folded below them.
SWAGGER_OPTIONS: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "docExpansion": "list",
    "displayRequestDuration": True,
    "defaultModelsExpandDepth": 0,
}
# Both pages may load only from this server: ReDoc's one outside request (its logo) is refused, never sent.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self' blob:; "
    "font-src 'self' data:"
)
# Wraps Swagger UI's response body: audio responses play from the received Blob (one object URL per Blob).
AUDIO_PLUGIN_JS = """
const ttsdAudioUrls = new WeakMap();
function TtsdAudioResponsePlugin() {
  return { wrapComponents: { responseBody: (Original, system) => (props) => {
    const React = system.React;
    const type = String(props.contentType || "");
    if (!/^audio\\//i.test(type) || !(props.content instanceof Blob)) return React.createElement(Original, props);
    if (!ttsdAudioUrls.has(props.content)) ttsdAudioUrls.set(props.content, URL.createObjectURL(props.content));
    const src = ttsdAudioUrls.get(props.content);
    const name = "speech." + (type.split("/")[1] || "audio").replace("mpeg", "mp3").split(";")[0];
    return React.createElement("div", null,
      React.createElement("h5", null, "Response body"),
      React.createElement("audio", { controls: true, src: src, className: "ttsd-audio" }),
      React.createElement("div", null, React.createElement("a", { href: src, download: name }, "Download file")));
  } } };
}
"""
_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
{plugin}
window.ui = SwaggerUIBundle(Object.assign({options}, {{
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  plugins: [TtsdAudioResponsePlugin],
}}));
</script>
</body>
</html>
"""


def assets_dir() -> Path:
    """The installed folder with Swagger UI's and ReDoc's files (the ``fastapi-offline`` package's)."""
    return Path(str(files("fastapi_offline") / "static"))


def swagger_page(*, title: str, openapi_url: str, assets_url: str) -> str:
    """The ``/docs`` HTML: Swagger UI from ``assets_url``, reading ``openapi_url``, with the audio plugin."""
    options = json.dumps({**SWAGGER_OPTIONS, "url": openapi_url}).replace("<", "\\u003c")
    return _SWAGGER_PAGE.format(title=title, assets=assets_url, plugin=AUDIO_PLUGIN_JS, options=options)


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from local files. The app must be created with
    ``docs_url=None, redoc_url=None``. URLs honour the ASGI ``root_path`` (a proxy serving ttsd under a prefix)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        page = swagger_page(title=f"{title} - API docs", openapi_url=root + openapi_url, assets_url=root + ASSETS_PATH)
        return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - API reference",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")
