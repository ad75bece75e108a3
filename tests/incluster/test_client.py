"""The bounded client (incluster/client.py) against servers that misbehave: redirects, drips,
bodies without end, echoed secrets. Every server is a real socket on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.parse

import pytest

from incluster.client import (
    Client,
    ClientError,
    Redactor,
    Unreachable,
    basic,
    positive_number,
)
from tests.standins.hostile import RawServer

PASSWORD = 'p"w/+= ä&x'


def answer(status: str, body: bytes, headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def client(url: str, timeout: float = 0.5, **kwargs: object) -> Client:
    return Client(url, basic("admin", PASSWORD), Redactor(), timeout=timeout, **kwargs)  # type: ignore[arg-type]


def test_a_redirect_is_refused_and_the_credentials_go_nowhere_else():
    with RawServer(lambda conn, head: conn.sendall(answer("200 OK", b"{}"))) as elsewhere:
        location = f"{elsewhere.url}/steal"

        def redirect(conn: socket.socket, head: bytes) -> None:
            conn.sendall(answer("302 Found", b"", f"Location: {location}\r\n"))

        with RawServer(redirect) as server:
            with pytest.raises(ClientError, match=r"GET /x: HTTP 302 redirect .* refused"):
                client(server.url).send("GET", "/x")
            assert b"authorization: basic" in server.requests[0].lower()
        assert elsewhere.requests == []


def test_auth_false_sends_no_credentials():
    with RawServer(lambda conn, head: conn.sendall(answer("200 OK", b"{}"))) as server:
        assert client(server.url).send("GET", "/healthz", auth=False).status == 200
    assert b"authorization" not in server.requests[0].lower()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_server_dripping_a_byte_at_a_time_cannot_hold_the_exchange(where):
    whole = answer("200 OK", b'{"a": "' + b"x" * 200 + b'"}')
    head, _, body = whole.partition(b"\r\n\r\n")

    def slow(conn: socket.socket, _: bytes) -> None:
        if where == "headers":
            server.drip(conn, whole, 0.05)
        else:
            conn.sendall(head + b"\r\n\r\n")
            server.drip(conn, body, 0.05)

    with RawServer(slow) as server:
        started = time.monotonic()
        with pytest.raises(Unreachable):
            client(server.url, timeout=0.4).send("GET", "/x")
        assert time.monotonic() - started < 2.0


def test_a_body_larger_than_the_limit_is_refused_without_reading_it_all():
    def endless(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        chunk = b"a" * 65536
        for _chunk in range(64):  # 4 MiB at most, well past the 100 kB limit
            conn.sendall(chunk)

    with RawServer(endless) as server, pytest.raises(ClientError, match="larger than 100000"):
        client(server.url, timeout=5, max_body=100_000).send("GET", "/x")


@pytest.mark.parametrize(
    "form",
    [
        PASSWORD,
        json.dumps(PASSWORD)[1:-1],
        json.dumps(PASSWORD, ensure_ascii=True)[1:-1],
        urllib.parse.quote(PASSWORD, safe=""),
        urllib.parse.quote_plus(PASSWORD),
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
        "$6$salt$" + "H" * 86,
        "\\u00246\\u0024salt\\u0024" + "H" * 20,
    ],
)
def test_an_echoed_secret_is_redacted_in_every_encoding_a_server_may_use(form):
    echo = b'{"error": "bad", "seen": "' + form.encode() + b'"}'
    with RawServer(lambda conn, head: conn.sendall(answer("400 Bad Request", echo))) as server:
        redactor = Redactor([PASSWORD])  # as the Jobs do with the password they read
        http = Client(server.url, basic("admin", PASSWORD), redactor, timeout=0.5)
        with pytest.raises(ClientError) as failure:
            http.json("GET /x", http.send("GET", "/x"))
    message = str(failure.value)
    assert message.startswith("GET /x: HTTP 400: ") and "<redacted>" in message
    assert form not in message and "HHHH" not in message


def test_the_path_prefix_of_the_base_url_is_kept_and_the_origin_is_only_scheme_host_port():
    with RawServer(lambda conn, head: conn.sendall(answer("200 OK", b"{}"))) as server:
        http = client(server.url + "/stalwart/")
        http.send("GET", "/api/x")
    assert server.requests[0].startswith(b"GET /stalwart/api/x HTTP/1.1")
    assert http.origin == server.url


@pytest.mark.parametrize("url", ["ftp://host/", "file:///etc/passwd", "stalwart:8080", "http://"])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(ClientError, match="is not an http"):
        client(url)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "0", "-1", "ten", "1e999"])
def test_a_tuning_number_must_be_finite_and_above_zero(raw):
    with pytest.raises(ClientError, match="WAIT_SECONDS"):
        positive_number(raw, 5.0, "WAIT_SECONDS")


def test_an_empty_tuning_number_takes_the_default():
    assert positive_number(" ", 5.0, "X") == 5.0
    assert positive_number("0.25", 5.0, "X") == 0.25


def test_a_body_cut_short_of_its_content_length_is_no_answer():
    def cut(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"items": [')

    with RawServer(cut) as server, pytest.raises(Unreachable, match="ended early"):
        client(server.url).send("GET", "/x")
