"""The `web` source kind: a polite Scrapy crawl of one poetry site.

`crawl_web(source, cache_dir)` starts at `source.url` (an index page), follows the links
matched by `source.selectors.poem_links` (and `selectors.next_page` for pagination),
and returns one raw record per poem page plus crawl stats for metrics.

Politeness and robustness are Scrapy settings (see `_settings`): robots.txt obeyed,
`source.user_agent` sent, one request at a time per domain with `download_delay_s`
between them (AutoThrottle may only lengthen it), `timeout_s` per request, an offsite
filter on `allowed_domains` (default: the host of `url`), a maximum response size,
and an HTTP cache under `cache_dir/<source.name>/` that never expires, so a re-run
fetches nothing over the network. 408, 429 and 5xx responses are never cached.

Two things Scrapy does not do are added here: `BackoffRetryMiddleware` pauses the
domain before each retry (429 honours Retry-After, in seconds or as an HTTP date;
otherwise an exponential backoff), and the spider keeps its own count of pages against
`max_pages` (index and poem pages requested, including any robots.txt then refuses;
robots.txt itself, retries and redirect hops are not counted), so the cut-off is
exact and deterministic. Links are de-duplicated by canonical URL.

Twisted's reactor cannot be restarted inside one process, so every call runs the
crawl in a fresh child process (multiprocessing, spawn) and returns its result;
an exception in the child is raised in the caller as a CrawlError (a RuntimeError)
whose message is one readable paragraph and whose `detail` holds the child's traceback. Records come back sorted by where their link was found
(index page, then position on it), whatever order the responses arrived in.

What the web does to a page (HTTP errors, timeouts, refused connections, redirect
loops, offsite redirects, non-HTML answers, pages without poem text) is counted in
the stats and the crawl goes on; anything else (a full disk, a bug) stops it with
an error. A page that fails to parse follows `source.on_error` (fail | skip).
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import traceback
from collections import Counter
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import urlparse

import scrapy
from scrapy import signals
from cssselect import SelectorError
from parsel import Selector
from parsel.csstranslator import css2xpath
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer as tx_defer
from twisted.internet import error as tx_error
from w3lib.url import canonicalize_url

from qwen_qlora.config import SourceParams
from qwen_qlora.corpus.html_text import inline_text, poem_text
from qwen_qlora.corpus.sources import SourceError

logger = logging.getLogger(__name__)

RETRY_HTTP_CODES = [408, 429, *range(500, 600)]
RETRY_AFTER_MAX_S = 300.0  # a server asking for a longer pause gets it: we give up on the page
BACKOFF_MAX_S = 60.0
REDIRECT_MAX_TIMES = 10
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024

_TIMEOUTS: tuple[type[BaseException], ...] = (tx_error.TimeoutError, tx_error.TCPTimedOutError)
_CONNECTION: tuple[type[BaseException], ...] = (
    tx_error.ConnectError, tx_error.ConnectionLost, tx_error.DNSLookupError, ConnectionError)
try:  # recent Scrapy wraps download failures in its own exceptions
    from scrapy.exceptions import (CannotResolveHostError, DownloadConnectionRefusedError,
                                   DownloadFailedError, DownloadTimeoutError,
                                   ResponseDataLossError)

    _TIMEOUTS += (DownloadTimeoutError,)
    _CONNECTION += (CannotResolveHostError, DownloadConnectionRefusedError,
                    DownloadFailedError, ResponseDataLossError)
except ImportError:  # pragma: no cover - older Scrapy raises the Twisted ones
    pass
# a response over DOWNLOAD_MAXSIZE: cancelled from its headers or once the body passes it
_TOO_LARGE: tuple[type[BaseException], ...] = (tx_defer.CancelledError,)
try:
    from scrapy.exceptions import DownloadCancelledError

    _TOO_LARGE += (DownloadCancelledError,)
except ImportError:  # pragma: no cover - older Scrapy cancels with Twisted's error only
    pass
# what the web may do to a request; anything else stops the crawl with an error
_WEB_FAILURES = (HttpError, IgnoreRequest, *_TIMEOUTS, *_CONNECTION, *_TOO_LARGE)


# ---------------------------------------------------------------- public entry point

class CrawlError(SourceError, RuntimeError):
    """A crawl that could not produce poems (a SourceError, so stages report it like a bad
    file); `detail` is the crawler process's traceback, if any."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def crawl_web(source: SourceParams, cache_dir: Path) -> tuple[list[dict], dict]:
    """Crawl one `web` source; return (raw poem records, crawl stats).

    Raw responses are cached under `cache_dir/<source.name>/` (Scrapy's file layout);
    keep that folder to re-run without the network. Raises SourceError (a ValueError)
    for a bad selector, naming the params key, and CrawlError (a RuntimeError) when the
    index page cannot be read, no poem is found or the crawler fails.
    """
    if source.kind != "web":
        raise ValueError(f"crawl_web: source {source.name!r} has kind {source.kind!r}, not 'web'")
    check_selectors(source)
    records, stats = _run_in_child(source, Path(cache_dir).resolve())
    where = f"web source {source.name!r} ({source.url})"
    index_error = stats.pop("index_error")
    if index_error:
        raise CrawlError(
            f"{where}: could not read the index page ({index_error}); check that "
            f"the url opens in a browser, that robots.txt allows it for user agent "
            f"{source.user_agent!r}, and timeout_s/retries in corpus.sources")
    if not records:
        raise CrawlError(
            f"{where}: 0 poems found after {stats['pages_requested']} page(s); "
            f"errors: {stats['errors'] or 'none'}, skipped by robots.txt: "
            f"{stats['skipped_robots']}, offsite: {stats['errors'].get('offsite', 0)}; "
            f"check selectors.poem_links/text, robots.txt, allowed_domains and max_pages")
    return records, stats


def check_selectors(source: SourceParams) -> None:
    """Compile every CSS selector up front so a typo names its params key."""
    for name, css in vars(source.selectors).items():
        if css is None:
            continue
        try:
            css2xpath(css)
        except SelectorError as err:
            raise SourceError(
                f"corpus.sources[{source.name}].selectors.{name}: {css!r} is not a valid "
                f"CSS selector ({err}); see https://parsel.readthedocs.io/ for the syntax"
            ) from err


# ---------------------------------------------------------------- child process

def _run_in_child(source: SourceParams, cache_dir: Path) -> tuple[list[dict], dict]:
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(source, str(cache_dir), child_conn),
                       name=f"crawl-{source.name}")
    proc.start()
    child_conn.close()
    try:
        message = parent_conn.recv()
    except EOFError:
        message = None
    finally:
        parent_conn.close()
        proc.join()
    if message is None:
        raise CrawlError(
            f"web source {source.name!r} ({source.url}): the crawler process died with exit "
            f"code {proc.exitcode} before reporting; see its log above")
    if message[0] == "error":
        raise CrawlError(f"web source {source.name!r} ({source.url}): the crawl failed: "
                         f"{message[1]}", detail=message[2])
    return message[1], message[2]


def _child_main(source: SourceParams, cache_dir: str, conn: Any) -> None:
    try:
        records, stats = _run_scrapy(source, Path(cache_dir))
        conn.send(("ok", records, stats))
    except BaseException as err:  # noqa: BLE001 - everything must reach the parent
        conn.send(("error", f"{type(err).__name__}: {err}", traceback.format_exc()))
    finally:
        conn.close()


def _run_scrapy(source: SourceParams, cache_dir: Path) -> tuple[list[dict], dict]:
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(settings=_settings(source, cache_dir))
    crawler = process.create_crawler(_PoemSpider)
    failures: list[Any] = []
    process.crawl(crawler, source=source).addErrback(failures.append)
    process.start()
    if failures:
        err = RuntimeError(failures[0].getErrorMessage())
        err.add_note(failures[0].getTraceback())
        raise err
    spider = crawler.spider
    if spider is None:
        raise RuntimeError("the spider was never opened")
    if spider.fatal:
        err = RuntimeError(spider.fatal)
        err.add_note(spider.fatal_trace)
        raise err
    return spider.result(crawler.stats.get_stats())


def _settings(source: SourceParams, cache_dir: Path) -> dict[str, Any]:
    """Every politeness and robustness knob, from one source's params."""
    return {
        "USER_AGENT": source.user_agent,
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": source.download_delay_s,
        "DOWNLOAD_DELAY_JITTER": 0.0,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": source.download_delay_s,
        "AUTOTHROTTLE_MAX_DELAY": max(BACKOFF_MAX_S, source.download_delay_s),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_TIMEOUT": source.timeout_s,
        "DOWNLOAD_MAXSIZE": DOWNLOAD_MAXSIZE,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": source.retries,
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        "BACKOFF_BASE_S": max(source.download_delay_s, 0.01),
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            f"{__name__}.BackoffRetryMiddleware": 550,
        },
        "REDIRECT_MAX_TIMES": REDIRECT_MAX_TIMES,
        # the spider de-duplicates itself; Scrapy's filter would hide redirect loops
        "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_DIR": str(cache_dir),
        "HTTPCACHE_EXPIRATION_SECS": 0,
        "HTTPCACHE_IGNORE_HTTP_CODES": RETRY_HTTP_CODES,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }


# ---------------------------------------------------------------- retries with waiting

def retry_after_s(value: str | bytes | None, now: datetime) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP date), else None."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff_s(attempt: int, base_s: float, max_s: float = BACKOFF_MAX_S) -> float:
    """Exponential backoff before retry number `attempt` (1, 2, ...): base, 2*base, 4*base..."""
    return min(max_s, base_s * 2 ** (attempt - 1))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, plus a pause of the whole domain before each retry.

    The pause is Retry-After on a 429 that sends one, else `backoff_s`. It is set on
    Scrapy's download slot for the domain (as AutoThrottle adjusts slot delays), so no
    request to that domain leaves until it is over, not only the retried one. For a
    response this happens in `response_downloaded`, before the downloader picks the
    next request; after a timeout, one request already queued may still leave.
    """

    @classmethod
    def from_crawler(cls, crawler: Any) -> BackoffRetryMiddleware:
        mw = super().from_crawler(crawler)
        mw.base_s = crawler.settings.getfloat("BACKOFF_BASE_S", 1.0)
        crawler.signals.connect(mw._on_downloaded, signal=signals.response_downloaded)
        return mw

    def _will_retry(self, request: scrapy.Request) -> bool:
        limit = request.meta.get("max_retry_times", self.max_retry_times)
        return not request.meta.get("dont_retry") and request.meta.get("retry_times", 0) < limit

    def _asked_wait(self, response: Any) -> float | None:
        if response.status != 429:
            return None
        return retry_after_s(response.headers.get("Retry-After"), datetime.now(timezone.utc))

    def _on_downloaded(self, response: Any, request: scrapy.Request, **_: Any) -> None:
        if response.status not in self.retry_http_codes or not self._will_retry(request):
            return
        asked = self._asked_wait(response)
        if asked is None:
            self._pause(request, backoff_s(request.meta.get("retry_times", 0) + 1, self.base_s))
        elif asked <= RETRY_AFTER_MAX_S:
            self._pause(request, asked)

    def process_response(self, request: scrapy.Request, response: Any) -> Any:
        asked = self._asked_wait(response)
        if asked is not None and asked > RETRY_AFTER_MAX_S:
            logger.warning("%s asks to wait %.0f s (Retry-After > %.0f s); giving up on it",
                           request.url, asked, RETRY_AFTER_MAX_S)
            return response
        return super().process_response(request, response)

    def process_exception(self, request: scrapy.Request, exception: Exception) -> Any:
        result = super().process_exception(request, exception)
        if isinstance(result, scrapy.Request):
            self._pause(request, backoff_s(result.meta["retry_times"], self.base_s))
        return result

    def _pause(self, request: scrapy.Request, wait_s: float) -> None:
        slot = self.crawler.engine.downloader.slots[request.meta["download_slot"]]
        slot.lastseen = max(slot.lastseen, monotonic() + wait_s - slot.download_delay())
        self.crawler.stats.inc_value("backoff/wait_s", wait_s)


# ---------------------------------------------------------------- the spider

class _PoemSpider(scrapy.Spider):
    name = "qwen_qlora_web"

    def __init__(self, source: SourceParams, **kwargs: Any):
        super().__init__(name=source.name, **kwargs)  # the name is the cache sub-folder
        self.source = source
        self.allowed_domains = list(source.allowed_domains) or [urlparse(source.url).hostname]
        self.requested = 0
        self.seen: set[str] = set()
        self.records: list[tuple[tuple[int, int], dict]] = []
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.index_error: str | None = None
        self.fatal: str | None = None  # an unexpected error that stopped the crawl
        self.fatal_trace = ""

    async def start(self):  # noqa: ANN201 - Scrapy's async generator protocol
        request = self._follow(self.source.url, self.parse_index, order=(0, -1), start=True)
        if request is not None:
            yield request

    def _follow(self, url: str, callback: Any, order: tuple[int, int],
                start: bool = False) -> scrapy.Request | None:
        """A request for `url`, or None if it is seen, not http(s), offsite or over budget."""
        if urlparse(url).scheme not in ("http", "https"):
            return None
        key = canonicalize_url(url)
        if key in self.seen:
            return None
        self.seen.add(key)
        if not on_domains(url, self.allowed_domains):
            self.errors["offsite"] += 1
            if start:
                self.index_error = f"offsite: not under allowed_domains {self.allowed_domains}"
            return None
        if self.requested >= self.source.max_pages:
            self.counts["skipped_max_pages"] += 1
            return None
        self.requested += 1
        return scrapy.Request(url, callback=callback, errback=self.on_error,
                              meta={"order": order, "start": start})

    def _usable(self, response: Any) -> bool:
        """Count the page as fetched/cached; False (and counted) if it is not HTML."""
        self.counts["pages_from_cache" if "cached" in response.flags else "pages_fetched"] += 1
        ctype = response.headers.get("Content-Type", b"").decode("latin-1").lower()
        if isinstance(response, HtmlResponse) and ("html" in ctype or not ctype):
            return True
        self.errors["non_html"] += 1
        if response.meta.get("start"):
            self.index_error = f"not HTML: Content-Type {ctype or 'missing'}"
        return False

    def parse_index(self, response: Any):  # noqa: ANN201
        if not self._usable(response):
            return
        page_no = response.meta["order"][0]
        sel = self.source.selectors
        next_url = None
        if sel.next_page:
            href = response.css(sel.next_page).get()
            next_url = response.urljoin(href.strip()) if href else None
        for i, href in enumerate(response.css(sel.poem_links).getall()):
            url = response.urljoin(href.strip())
            if url == next_url:
                continue
            request = self._follow(url, self.parse_poem, order=(page_no, i))
            if request is not None:
                request.meta["index_page"] = response.url
                yield request
        if next_url:
            request = self._follow(next_url, self.parse_index, order=(page_no + 1, -1))
            if request is not None:
                yield request

    def parse_poem(self, response: Any) -> None:
        if not self._usable(response):
            return
        try:
            poem = extract_poem(response.selector, self.source)
        except Exception as err:  # noqa: BLE001 - on_error decides
            if self.source.on_error == "fail":
                self._stop(err, response.url)
            logger.exception("%s: could not read the poem page; skipped (on_error: skip)",
                             response.url)
            self.errors["parse_error"] += 1
            return
        if poem["text"] is None:
            self.errors["no_text"] += 1
            logger.warning("%s: selector %r found no poem text", response.url,
                           self.source.selectors.text)
            return
        record = {"source": self.source.name, "locator": response.url, **poem,
                  "meta": {"fetched_from_cache": "cached" in response.flags,
                           "index_page": response.meta.get("index_page"),
                           "status": response.status}}
        self.records.append((response.meta["order"], record))

    def _stop(self, err: BaseException, url: str) -> None:
        """Stop the crawl: an error that is not the web's fault (disk, a bug...)."""
        self.fatal = f"{type(err).__name__}: {err} (while handling {url})"
        self.fatal_trace = "".join(traceback.format_exception(err))
        raise CloseSpider("error")

    def on_error(self, failure: Any) -> None:
        if not isinstance(failure.value, _WEB_FAILURES):
            self._stop(failure.value, failure.request.url)
        kind = error_kind(failure.value, failure.request.url, failure.request.meta)
        if kind == "robots":
            self.counts["skipped_robots"] += 1
        elif kind != "offsite":  # offsite redirects are counted from Scrapy's stats
            self.errors[kind] += 1
        if failure.request.meta.get("start"):
            self.index_error = kind

    def result(self, stats: dict[str, Any]) -> tuple[list[dict], dict]:
        records = [rec for _, rec in sorted(self.records, key=lambda pair: pair[0])]
        errors = self.errors.copy()
        errors["offsite"] += stats.get("offsite/filtered", 0)
        return records, {
            "pages_requested": self.requested,
            "pages_fetched": self.counts["pages_fetched"],
            "pages_from_cache": self.counts["pages_from_cache"],
            "network_requests": stats.get("httpcache/miss", 0),
            "poems": len(records),
            "skipped_robots": self.counts["skipped_robots"],
            "skipped_max_pages": self.counts["skipped_max_pages"],
            "retries": stats.get("retry/count", 0),
            "backoff_wait_s": round(stats.get("backoff/wait_s", 0.0), 3),
            "errors": {k: v for k, v in sorted(errors.items()) if v},
            "index_error": self.index_error,
        }


def on_domains(url: str, domains: list[str]) -> bool:
    """True if the url's host (port ignored) is one of `domains` or a subdomain of one."""
    host = (urlparse(url).hostname or "").lower()
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


def error_kind(exc: BaseException, url: str, meta: dict[str, Any]) -> str:
    """A short name for why a request failed, for the stats (`http_404`, `timeout`...)."""
    if isinstance(exc, HttpError):
        return f"http_{exc.response.status}"
    if isinstance(exc, _TIMEOUTS):
        return "timeout"
    if isinstance(exc, IgnoreRequest):
        message = str(exc).lower()
        if "robots.txt" in message:
            return "robots"
        if "offsite" in message:
            return "offsite"
        if "redirection" in message:
            hops = [*meta.get("redirect_urls", []), url]
            return "redirect_loop" if len(set(hops)) < len(hops) else "too_many_redirects"
        return "ignored"
    if isinstance(exc, _CONNECTION):
        return "connection"
    if isinstance(exc, _TOO_LARGE):
        return "too_large"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


# ---------------------------------------------------------------- page -> record

def extract_poem(page: Selector, source: SourceParams) -> dict[str, Any]:
    """Author, title, year and poem text of one poem page (text None if not found)."""
    sel = source.selectors
    author = inline_text(page.css(sel.author)) if sel.author else None
    return {
        "author_raw": author or source.author,
        "title": inline_text(page.css(sel.title)),
        "year": inline_text(page.css(sel.year)) if sel.year else None,
        "text": poem_text(page.css(sel.text)),
    }
