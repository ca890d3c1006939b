"""Tests for qwen_qlora.corpus.crawl against a local site on 127.0.0.1.

The site is tests/fixtures/site (toy verses written for these tests), served by a small
threaded HTTP server that logs every request and lets a test replace one path's
response (429, 500, a slow answer). Delays and timeouts are tiny so the file runs fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from qwen_qlora.config import SourceParams, WebSelectors
from qwen_qlora.corpus.crawl import DOWNLOAD_MAXSIZE, backoff_s, crawl_web, retry_after_s

SITE = Path(__file__).resolve().parents[1] / "fixtures" / "site"
UA = "qwen-qlora-tests/1.0 (+local)"

POEM_1 = ("Шуршит листва над тихою скамьёй,\n"
          "И гаснет свет в оконной глубине.\n"
          "\n"
          "Я жду шагов, знакомых мне одной,\n"
          "Но только ветер ходит в тишине.")
POEM_2 = ("На стекле морозные узоры,\n"
          "Чай остыл, и книга не прочтена.\n"
          "\n"
          "Снег ложится тихо на заборы,\n"
          "\xa0\xa0И в душе — такая тишина.")
POEM_3 = ("Волна бежит к пустому причалу,\n"
          "Гудок далёкий тает над водой.\n"
          "\n"
          "Я всё начну, как водится, сначала,\n"
          "Под этой бледной северной звездой.")

Response = tuple[int, dict[str, str], bytes]


class Site:
    """tests/fixtures/site over HTTP, with a request log and per-path overrides."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.overrides: dict[str, Callable[[int], Response | None]] = {
            "/loop/a": lambda n: (302, {"Location": "/loop/b"}, b""),
            "/loop/b": lambda n: (302, {"Location": "/loop/a"}, b""),
        }
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                with site.lock:
                    site.log.append({"path": path, "t": time.monotonic(),
                                     "ua": self.headers.get("User-Agent"),
                                     "host": self.headers.get("Host")})
                    site.inflight += 1
                    site.max_inflight = max(site.max_inflight, site.inflight)
                    n = sum(1 for r in site.log if r["path"] == path)
                try:
                    status, headers, body = site.respond(path, n)
                    self.send_response(status)
                    stream = headers.pop("X-Stream", None)  # no length: the body ends at close
                    for key, value in headers.items():
                        self.send_header(key, value)
                    if not stream:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for i in range(0, len(body), 1 << 16):
                        self.wfile.write(body[i:i + (1 << 16)])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler gave up waiting (the timeout test)
                finally:
                    with site.lock:
                        site.inflight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(self, path: str, n: int) -> Response:
        """The override's answer for the n-th request of `path`, else the static file."""
        if path in self.overrides:
            answer = self.overrides[path](n)
            if answer is not None:
                return answer
        file = SITE / path.lstrip("/")
        if not file.is_file() or SITE not in file.resolve().parents:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>404</h1>"
        text = file.read_text(encoding="utf-8").replace("__PORT__", str(self.port))
        if file.suffix != ".html":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8")
        if "cp1251" in file.name:
            return 200, {"Content-Type": "text/html; charset=windows-1251"}, text.encode("cp1251")
        return 200, {"Content-Type": "text/html; charset=utf-8"}, text.encode("utf-8")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.log if r["path"] == path]


def serve(server: Site, overrides: dict[str, Callable[[int], Response | None]]) -> Site:
    server.overrides.update(overrides)
    server.thread.start()
    return server


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    server.thread.start()  # tests add overrides before crawling
    yield server
    server.server.shutdown()
    server.server.server_close()


def web_source(url: str, **overrides: Any) -> SourceParams:
    """A `web` source for the fixture site, with tiny delays; `overrides` replace fields."""
    params: dict[str, Any] = dict(
        name="toy-web", kind="web", url=url, author="Автор по умолчанию",
        selectors=WebSelectors(poem_links="ul.poems a::attr(href)",
                               next_page="a.next::attr(href)", title="h1", text=".poem",
                               year=".year::text", author=".author::text"),
        download_delay_s=0.01, timeout_s=2.0, retries=2, user_agent=UA)
    params.update(overrides)
    return SourceParams(**params)


def paths(records: list[dict]) -> list[str]:
    """The site paths of the records' pages, in record order."""
    return [urlparse(r["locator"]).path.lstrip("/") for r in records]


# ---------------------------------------------------------------- one full crawl, many checks

@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, list, dict]]:
    server = serve(Site(), {})
    source = web_source(server.url("/index.html"), download_delay_s=0.05)
    records, stats = crawl_web(source, tmp_path_factory.mktemp("cache"))
    yield server, records, stats
    server.server.shutdown()
    server.server.server_close()


def test_happy_path_follows_index_and_pagination_to_three_poems(base):
    _, records, stats = base
    assert paths(records) == ["poems/1.html", "poems/2.html", "poems/3-cp1251.html"]
    assert [r["text"] for r in records] == [POEM_1, POEM_2, POEM_3]
    assert [r["title"] for r in records] == ["Вечерний сад", "Зимнее окно", "Пристань"]
    assert [r["year"] for r in records] == ["1911", "1913", "1915"]
    # the author selector where the page has one, source.author where it has not
    assert [r["author_raw"] for r in records] == ["Тестовый Автор", "Тестовый Автор",
                                                  "Автор по умолчанию"]
    assert {r["source"] for r in records} == {"toy-web"}
    assert list(records[0]) == ["source", "locator", "author_raw", "title", "year", "text",
                                "meta"]
    assert all(r["meta"]["fetched_from_cache"] is False for r in records)
    assert stats["poems"] == 3 and stats["pages_from_cache"] == 0


def test_robots_disallowed_path_is_not_fetched(base):
    server, _, stats = base
    assert server.hits("/private/draft.html") == []
    assert len(server.hits("/robots.txt")) == 1
    assert stats["skipped_robots"] == 1


def test_offsite_link_is_not_followed(base):
    server, _, stats = base
    assert server.hits("/poems/offsite.html") == []
    assert {r["host"] for r in server.log} == {f"127.0.0.1:{server.port}"}
    assert stats["errors"]["offsite"] == 1


def test_redirect_loop_is_counted_and_abandoned(base):
    server, _, stats = base
    assert stats["errors"]["redirect_loop"] == 1
    # each hop went over the network once; the cached 302s took the loop on to
    # REDIRECT_MAX_TIMES without bothering the server again
    assert len(server.hits("/loop/a")) == 1 and len(server.hits("/loop/b")) == 1


def test_non_html_response_is_skipped_and_counted(base):
    server, records, stats = base
    assert len(server.hits("/files/notes.txt")) == 1
    assert stats["errors"]["non_html"] == 1
    assert all("notes" not in r["locator"] for r in records)


def test_polite_user_agent_one_request_at_a_time_with_delay(base):
    server, _, stats = base
    assert {r["ua"] for r in server.log} == {UA}
    assert server.max_inflight == 1
    # download_delay_s=0.05 between requests (judged over the whole crawl, as the
    # server's clock sees each arrival a little late)
    starts = [r["t"] for r in server.log]
    assert starts[-1] - starts[0] >= 0.8 * 0.05 * (len(starts) - 1)
    assert stats["errors"] == {"non_html": 1, "offsite": 1, "redirect_loop": 1}


# ---------------------------------------------------------------- retries and timeouts

def too_slow(n: int) -> None:
    time.sleep(2.5)  # well past timeout_s=0.75 below; None: then serve the file
    return None


@pytest.fixture(scope="module")
def flaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, list, dict]]:
    """One crawl of a site whose poem 1 fails with 500 once, poem 2 answers 429 with
    Retry-After once, and poem 3 is always slower than the timeout."""
    server = serve(Site(), {
        "/poems/1.html": lambda n: (500, {}, b"oops") if n == 1 else None,
        "/poems/2.html": lambda n: (429, {"Retry-After": "1"}, b"slow down") if n == 1 else None,
        "/poems/3-cp1251.html": too_slow,
    })
    source = web_source(server.url("/index.html"), timeout_s=0.75, retries=1)
    records, stats = crawl_web(source, tmp_path_factory.mktemp("cache"))
    yield server, records, stats
    server.server.shutdown()
    server.server.server_close()


def test_429_with_retry_after_pauses_the_domain_then_succeeds(flaky):
    server, records, stats = flaky
    hits = server.hits("/poems/2.html")
    assert len(hits) == 2
    assert hits[1]["t"] - hits[0]["t"] >= 0.95  # Retry-After: 1
    # no other page was asked for during the pause either
    assert not [r for r in server.log if hits[0]["t"] < r["t"] < hits[0]["t"] + 0.95]
    assert records[1]["text"] == POEM_2
    assert "http_429" not in stats["errors"]


def test_500_is_retried_with_backoff_then_succeeds(flaky):
    server, records, stats = flaky
    assert len(server.hits("/poems/1.html")) == 2
    assert records[0]["text"] == POEM_1
    assert "http_500" not in stats["errors"]
    assert stats["backoff_wait_s"] > 1.0  # the Retry-After second plus the backoffs


def test_timeout_is_retried_counted_and_the_crawl_goes_on(flaky):
    server, records, stats = flaky
    assert len(server.hits("/poems/3-cp1251.html")) == 2  # retries=1
    assert stats["errors"] == {"non_html": 1, "offsite": 1, "redirect_loop": 1, "timeout": 1}
    assert paths(records) == ["poems/1.html", "poems/2.html"]
    assert stats["retries"] == 3  # one each for the 500, the 429 and the timeout


def test_unretryable_answers_are_counted_by_status(site, tmp_path):
    site.overrides.update({
        "/poems/1.html": lambda n: (404, {"Content-Type": "text/html"}, b"gone"),
        "/poems/2.html": lambda n: (429, {"Retry-After": "3600"}, b"come back tomorrow"),
    })
    records, stats = crawl_web(web_source(site.url("/index.html")), tmp_path)
    assert len(site.hits("/poems/1.html")) == 1  # a 404 is not retried
    assert len(site.hits("/poems/2.html")) == 1  # nor a 429 asking for over RETRY_AFTER_MAX_S
    assert stats["errors"]["http_404"] == 1 and stats["errors"]["http_429"] == 1
    assert paths(records) == ["poems/3-cp1251.html"]


# ---------------------------------------------------------------- limits and the cache

def test_max_pages_counts_index_and_poem_pages(site, tmp_path):
    records, stats = crawl_web(web_source(site.url("/index.html"), max_pages=3), tmp_path)
    assert paths(records) == ["poems/1.html", "poems/2.html"]
    assert stats["pages_requested"] == 3 and stats["skipped_max_pages"] > 0
    assert site.hits("/index-2.html") == [] and site.hits("/poems/3-cp1251.html") == []


def test_rerun_is_served_entirely_from_cache(site, tmp_path):
    source = web_source(site.url("/index.html"))
    first, first_stats = crawl_web(source, tmp_path)
    seen = len(site.log)
    second, stats = crawl_web(source, tmp_path)
    assert len(site.log) == seen  # not one request reached the server
    assert stats["network_requests"] == 0 and stats["pages_fetched"] == 0
    assert stats["pages_from_cache"] == first_stats["pages_fetched"]
    assert all(r["meta"]["fetched_from_cache"] for r in second)
    strip = [{k: v for k, v in r.items() if k != "meta"} for r in first]
    assert [{k: v for k, v in r.items() if k != "meta"} for r in second] == strip


def test_oversized_responses_are_cut_off_and_offsite_redirects_not_followed(site, tmp_path):
    """A page over DOWNLOAD_MAXSIZE (announced by Content-Length, or streamed without one)
    is dropped and counted; a redirect to another host (here `localhost`, the same server
    under another name) is never followed; the crawl goes on to the good poem."""
    html = {"Content-Type": "text/html; charset=utf-8"}
    big = b"<html><body><div class=poem>" + b"x" * (DOWNLOAD_MAXSIZE + 1024) + b"</div></body></html>"
    index = ('<html><body><ul class="poems"><li><a href="/poems/1.html">1</a>'
             '<li><a href="/big.html">big</a><li><a href="/stream.html">stream</a>'
             '<li><a href="/away.html">away</a></ul></body></html>').encode()
    site.overrides.update({
        "/index.html": lambda n: (200, dict(html), index),
        "/big.html": lambda n: (200, dict(html), big),
        "/stream.html": lambda n: (200, {**html, "X-Stream": "1"}, big),
        "/away.html": lambda n: (302, {"Location": f"http://localhost:{site.port}/poems/2.html"}, b""),
    })
    records, stats = crawl_web(web_source(site.url("/index.html"), retries=0), tmp_path)
    assert paths(records) == ["poems/1.html"]
    assert stats["errors"]["too_large"] == 2
    assert stats["errors"]["offsite"] == 1
    assert len(site.hits("/away.html")) == 1
    assert {r["host"] for r in site.log} == {f"127.0.0.1:{site.port}"}  # never `localhost`


# ---------------------------------------------------------------- errors for people

def test_unreachable_index_names_source_url_and_what_to_check(site, tmp_path):
    url = site.url("/missing.html")
    with pytest.raises(RuntimeError) as err:
        crawl_web(web_source(url, retries=0), tmp_path)
    message = str(err.value)
    assert "toy-web" in message and url in message
    assert "http_404" in message and "robots.txt" in message


def test_index_blocked_by_robots_is_reported(site, tmp_path):
    with pytest.raises(RuntimeError, match="robots"):
        crawl_web(web_source(site.url("/private/draft.html")), tmp_path)
    assert site.hits("/private/draft.html") == []


def test_zero_poems_names_the_selectors_to_check(site, tmp_path):
    selectors = WebSelectors(poem_links="ul.nothing a::attr(href)")
    with pytest.raises(RuntimeError, match=r"0 poems found.*selectors\.poem_links"):
        crawl_web(web_source(site.url("/index.html"), selectors=selectors), tmp_path)


def test_an_error_in_the_crawler_process_reaches_the_caller(site, tmp_path):
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"(?s)toy-web.*crawl failed.*NotADirectoryError"):
        crawl_web(web_source(site.url("/index.html")), tmp_path / "a-file" / "cache")


def test_invalid_selector_names_its_key_before_crawling(tmp_path):
    selectors = WebSelectors(text="div[[poem")
    with pytest.raises(ValueError, match=r"corpus\.sources\[toy-web\]\.selectors\.text"):
        crawl_web(web_source("http://127.0.0.1:9/index.html", selectors=selectors), tmp_path)


# ---------------------------------------------------------------- pure helpers

def test_retry_after_seconds_and_http_date():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s(b" 0 ", now) == 0.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("soon", now) is None
    assert retry_after_s(None, now) is None


def test_backoff_doubles_up_to_a_cap():
    assert [backoff_s(n, 0.5, max_s=3.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
