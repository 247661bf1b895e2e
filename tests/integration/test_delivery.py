"""The page's files travel compressed; the reply stream never does (it would be buffered)."""

from __future__ import annotations

import gzip
import re

import brotli
import rcssmin
import rjsmin

from config import APP_DIR

QUESTION = {"messages": [{"role": "user", "content": "hello"}]}


def test_scripts_are_brotli_compressed_and_cached_for_a_year(client):
    page = client.get("/").get_data(as_text=True)
    script = re.search(r'src="(/_dash-component-suites/[^"]*feffery_markdown[^"]*)"', page)[1]
    plain = client.get(script, headers={"Accept-Encoding": "identity"})
    packed = client.get(script, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "br"
    assert "max-age=31536000" in packed.headers["Cache-Control"]
    assert brotli.decompress(packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) < len(plain.get_data()) / 2.5
    again = client.get(script, headers={"Accept-Encoding": "br"})  # from the per-process cache
    assert again.get_data() == packed.get_data()


def test_layout_and_callbacks_fall_back_to_gzip(client):
    layout = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
    assert layout.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(layout.get_data()).startswith(b"{")
    assert "Accept-Encoding" in layout.headers["Vary"]


def test_the_reply_stream_is_never_compressed(client):
    response = client.post(
        "/api/chat/stream",
        json=QUESTION,
        headers={"Accept-Encoding": "gzip, br, zstd", "Accept": "text/event-stream"},
    )
    assert "Content-Encoding" not in response.headers
    assert response.get_data(as_text=True).startswith("data: ")


def test_the_apps_own_assets_are_compressed_too(client):
    page = client.get("/").get_data(as_text=True)
    script = re.search(r'src="(/assets/chat\.js[^"]*)"', page)[1]
    response = client.get(script, headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert b"dash_clientside" in brotli.decompress(response.get_data())


def test_precompressed_copies_are_served_when_present(make_app, tmp_path, monkeypatch):
    import api.delivery as delivery

    monkeypatch.setattr(delivery, "PRECOMPRESSED_DIR", tmp_path)
    app = make_app()
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    script = re.search(r'src="(/_dash-component-suites/[^"]*react-dom[^"]*)"', page)[1]
    plain = client.get(script, headers={"Accept-Encoding": "identity"}).get_data()
    on_the_fly = client.get(script, headers={"Accept-Encoding": "br"}).get_data()

    # Quality 1 here (11 in the build step) so the test is quick and the copy recognisable.
    written = delivery.precompress(app, tmp_path, quality=1)
    assert any(path.name.startswith("react-dom@18.3.1.min.js.") for path in written)
    # The build step runs before the app starts: an app started now serves the copies.
    client = make_app().server.test_client()
    served = client.get(script, headers={"Accept-Encoding": "gzip, br"})
    assert served.headers["Content-Encoding"] == "br"
    assert "max-age=31536000" in served.headers["Cache-Control"]
    body = served.get_data()
    assert body != on_the_fly  # the precompressed copy, not flask-compress's
    assert brotli.decompress(body) == plain
    # A browser without brotli still gets the file (gzip on the fly).
    assert (
        client.get(script, headers={"Accept-Encoding": "gzip"}).headers["Content-Encoding"]
        == "gzip"
    )
    # Large async chunks the page never loads are left out of the build step.
    assert not any("plotly" in path.name for path in written)


def test_a_copy_of_another_file_size_is_never_served(make_app, tmp_path, monkeypatch):
    import api.delivery as delivery

    monkeypatch.setattr(delivery, "PRECOMPRESSED_DIR", tmp_path)
    app = make_app()
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    script = re.search(r'src="(/_dash-component-suites/[^"]*react-dom[^"]*)"', page)[1]
    for path in delivery.precompress(app, tmp_path, quality=1):
        stale = path.with_name(path.name.replace(".min.js.", ".min.js.1"))
        path.rename(stale)  # as if the package had been upgraded since the build
    client = make_app().server.test_client()
    served = client.get(script, headers={"Accept-Encoding": "br"})
    plain = client.get(script, headers={"Accept-Encoding": "identity"}).get_data()
    assert brotli.decompress(served.get_data()) == plain
    stale_copies = {path.read_bytes() for path in tmp_path.rglob("react-dom*.br")}
    assert stale_copies and served.get_data() not in stale_copies  # compressed afresh


def asset_url(client, name: str) -> str:
    """The fingerprinted URL the page itself uses for assets/<name>."""
    page = client.get("/").get_data(as_text=True)
    [url] = re.findall(rf'"(/assets/{re.escape(name)}\?m=[^"]+)"', page)
    return url


def test_fingerprinted_assets_come_minified_at_brotlis_best_level(client):
    url = asset_url(client, "chat.js")
    source = (APP_DIR / "assets" / "chat.js").read_text(encoding="utf-8")

    response = client.get(url, headers={"Accept-Encoding": "br, gzip"})

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "max-age=31536000, public"
    assert response.mimetype == "text/javascript"
    text = brotli.decompress(response.data).decode("utf-8")
    assert text == rjsmin.jsmin(source)
    assert len(text) < 0.6 * len(source)  # the comments are the repo's, not the browser's
    assert len(response.data) == len(brotli.compress(text.encode(), quality=11))
    # Once per process: the same bytes again.
    assert client.get(url, headers={"Accept-Encoding": "br"}).data == response.data


def test_unfingerprinted_or_unknown_assets_are_served_as_before(client):
    plain = client.get("/assets/chat.js", headers={"Accept-Encoding": "br"})
    assert plain.status_code == 200
    assert "no-cache" in plain.headers["Cache-Control"]
    source = (APP_DIR / "assets" / "chat.js").read_bytes()
    assert brotli.decompress(plain.data) == source  # not minified

    assert (
        client.get("/assets/nothing.js?m=1", headers={"Accept-Encoding": "br"}).status_code == 404
    )
    assert client.get("/assets/../config.py?m=1").status_code == 404
    css = client.get(asset_url(client, "style.css"), headers={"Accept-Encoding": "br"})
    assert brotli.decompress(css.data).decode() == rcssmin.cssmin(
        (APP_DIR / "assets" / "style.css").read_text(encoding="utf-8")
    )
