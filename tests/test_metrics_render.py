"""``/metrics`` content negotiation: when the exposition is gzip-compressed.

The answer depends only on the request's Accept-Encoding (RFC 9110 12.5.3): gzip is sent
when the client gives it a weight above 0 that identity does not beat. The decisive cases
are a table (each row a header and the answer the RFC gives), read through ``render``'s
public result (the body and its headers); a property adds what must hold for every header
(case, spacing and the order of distinct codings do not matter; ``q=0`` always excludes);
one test goes through the app's own ``/metrics`` route.
"""

from __future__ import annotations

import gzip
import math

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from service.metrics.exposition import render
from service.metrics.tally import Metrics

# (Accept-Encoding, gzip expected, why)
NEGOTIATION: list[tuple[str | None, bool, str]] = [
    (None, False, "no header: identity"),
    ("", False, "empty header: only identity is acceptable"),
    ("gzip", True, "Prometheus' own request"),
    ("gzip;q=0", False, "q=0 means not acceptable"),
    ("gzip; q=0", False, "OWS before the parameter"),
    ("gzip ;q=0", False, "OWS before the semicolon"),
    ("gzip;q=0.0", False, "q=0 with a decimal"),
    ("gzip;q=0.000", False, "q=0 with three decimals"),
    ("gzip;Q=0", False, "the q parameter is case-insensitive"),
    ("GZIP;q=0", False, "coding names are case-insensitive"),
    ("GZip", True, "coding names are case-insensitive"),
    ("x-gzip", True, "x-gzip is gzip (RFC 9110 8.4.1.3)"),
    ("x-gzip;q=0", False, "and so is its exclusion"),
    ("gzip;q=0.001", True, "the smallest positive weight"),
    ("gzip;q=1", True, "the largest weight"),
    ("gzip;q=1.000", True, "the largest weight, three decimals"),
    ("br, gzip;q=0.8", True, "acceptable, and identity not ranked"),
    ("deflate, br", False, "gzip not named, no wildcard"),
    ("identity", False, "only identity named"),
    ("*", True, "the wildcard accepts gzip"),
    ("*;q=0", False, "the wildcard excludes gzip"),
    ("*;q=0.5", True, "gzip and identity both at the wildcard's weight: a tie compresses"),
    ("*, gzip;q=0", False, "gzip's own entry beats the wildcard"),
    ("*;q=0, gzip", True, "gzip's own entry beats the wildcard"),
    ("gzip;q=0, *", False, "gzip's own entry beats the wildcard, wherever it stands"),
    ("identity;q=1, gzip;q=0.5", False, "identity preferred"),
    ("identity;q=0.5, gzip;q=0.5", True, "a tie compresses"),
    ("identity;q=0.4, gzip;q=0.5", True, "gzip preferred"),
    ("identity;q=0, gzip", True, "identity excluded"),
    ("*;q=1, gzip;q=0.5", False, "identity takes the wildcard's weight, above gzip's"),
    ("gzip;q=0, gzip", False, "the first entry for a coding counts"),
    ("gzip;q=2", False, "q above 1 breaks the grammar: the entry is ignored"),
    ("gzip;q=-1", False, "a negative q breaks the grammar: ignored"),
    ("gzip;q=0.0001", False, "four decimals break the grammar: ignored"),
    ("gzip;q=abc", False, "a non-number breaks the grammar: ignored"),
    ("gzip;q=", False, "an empty q breaks the grammar: ignored"),
    ("gzip;q=nan", False, "float() would read nan: the grammar does not"),
    ("gzip;q=1e-1", False, "float() would read 1e-1: the grammar does not"),
    ("gzip;q=abc, *", True, "the malformed entry is ignored, the wildcard still counts"),
    ("gzip;level=9", True, "an unknown parameter is no weight"),
    (",, gzip ,", True, "empty list elements are allowed (RFC 9110 5.6.1)"),
    ("gzipx", False, "a different coding, not a substring match"),
    ("nogzip, br", False, "a different coding, not a substring match"),
]


def exposition(accept_encoding: str | None) -> tuple[bytes, dict[str, str], bytes]:
    """``render``'s body and headers for one request, and the plain exposition to compare."""
    metrics = Metrics(flush_interval=math.inf)
    metrics.observe_http("GET", 200, "/h", 0, 10, 0.001)
    body, headers = render(metrics, accept_encoding)
    plain, _ = render(metrics, None)
    return body, headers, plain


@pytest.fixture(autouse=True)
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exposition of one registry (no multiprocess files)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.mark.parametrize(
    ("accept_encoding", "compressed"),
    [row[:2] for row in NEGOTIATION],
    ids=[f"{row[0]!r}: {row[2]}" for row in NEGOTIATION],
)
def test_accept_encoding_decides_the_encoding(
    accept_encoding: str | None, compressed: bool
) -> None:
    body, headers, plain = exposition(accept_encoding)
    if compressed:
        assert headers == {"Content-Type": CONTENT_TYPE_LATEST, "Content-Encoding": "gzip"}
        assert gzip.decompress(body) == plain
    else:
        assert headers == {"Content-Type": CONTENT_TYPE_LATEST}
        assert body == plain
    assert b'http_requests_total{handler="/h",method="GET",status="200"} 1.0' in plain


CODINGS = ["gzip", "x-gzip", "identity", "br", "deflate", "zstd", "compress", "*"]
QVALUES = ["0", "0.0", "0.5", "0.001", "0.999", "1", "1.0", None]


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    """Entries of distinct codings (gzip and x-gzip count as one), each with a valid q."""
    codings = draw(st.lists(st.sampled_from(CODINGS), unique=True, max_size=len(CODINGS)))
    if "gzip" in codings and "x-gzip" in codings:
        codings.remove("x-gzip")
    return [(c, draw(st.sampled_from(QVALUES))) for c in codings]


def spell(entries: list[tuple[str, str | None]], *, upper: bool, spaced: bool) -> str:
    sep = " ; " if spaced else ";"
    out = []
    for coding, q in entries:
        name = coding.upper() if upper else coding
        out.append(name if q is None else f"{name}{sep}{'Q' if upper else 'q'}={q}")
    return (" , " if spaced else ",").join(out)


def is_gzipped(accept_encoding: str) -> bool:
    return "Content-Encoding" in exposition(accept_encoding)[1]


@given(entries=headers(), data=st.data())
def test_case_spacing_and_order_do_not_matter(
    entries: list[tuple[str, str | None]], data: st.DataObject
) -> None:
    expected = is_gzipped(spell(entries, upper=False, spaced=False))
    shuffled = data.draw(st.permutations(entries))
    assert is_gzipped(spell(shuffled, upper=True, spaced=True)) == expected


@given(entries=headers(), name=st.sampled_from(["gzip", "x-gzip", "GZIP", "X-Gzip"]))
def test_gzip_with_q_zero_is_never_chosen(entries: list[tuple[str, str | None]], name: str) -> None:
    others = [(c, q) for c, q in entries if c not in {"gzip", "x-gzip"}]
    for at in range(len(others) + 1):
        listed = [*others[:at], (name, "0"), *others[at:]]
        assert not is_gzipped(spell(listed, upper=False, spaced=False))


@pytest.mark.anyio
async def test_metrics_endpoint_honours_q_zero(aclient: httpx.AsyncClient) -> None:
    """Through the app's own route: ``gzip;q=0`` gets the plain text, ``gzip`` the
    compressed one (httpx decodes only what is marked Content-Encoding: gzip)."""
    refused = await aclient.get("/metrics", headers={"Accept-Encoding": "gzip;q=0, identity"})
    wanted = await aclient.get("/metrics", headers={"Accept-Encoding": "gzip"})
    for answer in (refused, wanted):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
        names = {f.name for f in text_string_to_metric_families(answer.text)}
        assert "dimtensor_models" in names
    assert "content-encoding" not in refused.headers
    assert refused.content.startswith(b"# HELP ")  # the bytes on the wire are the text
    assert wanted.headers["content-encoding"] == "gzip"
