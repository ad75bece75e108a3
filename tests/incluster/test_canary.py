"""The outbound canary against local stand-ins: an SMTP submission server and Stalwart's queue
and counters for each generation. Every run ends in one line and an exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from incluster.canary import labelled, main, parse_counters
from tests.standins.smtp import SmtpStandin
from tests.standins.stalwart_queue import QueueStandin

CANARY_PASSWORD = "canary-Pass-0123456789"
ADMIN_PASSWORD = "admin-Pass-0123456789"
METRICS_PASSWORD = "scrape-Pass-0123456789"


@pytest.fixture
def servers():
    with (
        QueueStandin(ADMIN_PASSWORD, METRICS_PASSWORD) as queue,
        SmtpStandin("canary", CANARY_PASSWORD, queue.enqueue) as smtp,
    ):
        yield queue, smtp


def environment(tmp_path: Path, queue: QueueStandin, smtp: SmtpStandin, generation: str, **extra):
    files = {"canary": CANARY_PASSWORD, "admin": ADMIN_PASSWORD, "metrics": METRICS_PASSWORD}
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "CANARY_USER": "canary",
        "CANARY_PASSWORD_FILE": str(tmp_path / "canary"),
        "CANARY_FROM": "canary@example.com",
        "CANARY_TO": "delivered@resend.dev",
        "STALWART_URL": queue.url,
        "STALWART_GENERATION": generation,
        "ADMIN_PASSWORD_FILE": str(tmp_path / "admin"),
        "METRICS_URL": f"{queue.url}/metrics/prometheus",
        "METRICS_PASSWORD_FILE": str(tmp_path / "metrics"),
        "DEADLINE_SECONDS": "0.5",
        "POLL_SECONDS": "0.01",
        "REQUEST_TIMEOUT_SECONDS": "2",
        **extra,
    }


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert len(lines) == 1, lines
    for secret in (CANARY_PASSWORD, ADMIN_PASSWORD, METRICS_PASSWORD):
        assert secret not in lines[0]
    return lines[0]


@pytest.mark.parametrize("generation", ["0.15", "0.16"])
def test_a_message_the_relay_accepted_is_ok(tmp_path, capsys, servers, generation):
    queue, smtp = servers
    assert main(environment(tmp_path, queue, smtp, generation)) == 0
    line = one_line(capsys)
    assert line.startswith("canary ok: message ") and "accepted by the relay" in line
    [(sender, rcpts, body)] = smtp.messages
    assert sender == "canary@example.com" and smtp.logins == ["canary"]
    assert rcpts[0].startswith("delivered+mailstack-") and rcpts[0].endswith("@resend.dev")
    assert rcpts[0] in line and b"mailstack canary" in body
    assert queue.reads >= 2  # it followed the message in the queue until it was gone
    # Scheduled for its first attempt is no retry (the real server's queue said Scheduled with
    # 0 retries while the canary reported "after retries").
    assert "retries" not in line


@pytest.mark.parametrize("generation", ["0.15", "0.16"])
def test_a_permanent_refusal_is_a_failure(tmp_path, capsys, servers, generation):
    queue, smtp = servers
    queue.outcome = "bounce"
    assert main(environment(tmp_path, queue, smtp, generation)) == 1
    assert "refused a message permanently" in one_line(capsys)


@pytest.mark.parametrize("generation", ["0.15", "0.16"])
def test_a_message_stuck_in_the_queue_fails_with_the_relays_error(
    tmp_path, capsys, servers, generation
):
    queue, smtp = servers
    queue.outcome = "stuck"
    assert main(environment(tmp_path, queue, smtp, generation)) == 1
    line = one_line(capsys)
    assert line.startswith("canary failed: still queued after 0.5s: ")
    assert "535" in line  # the relay's authentication error, as the queue shows it


def test_a_message_gone_without_a_delivery_counted_is_a_failure(tmp_path, capsys, servers):
    queue, smtp = servers
    queue.outcome = "vanish"
    assert main(environment(tmp_path, queue, smtp, "0.16")) == 1
    assert "no delivery was counted" in one_line(capsys)


def test_a_refused_login_names_the_account_password(tmp_path, capsys, servers):
    queue, smtp = servers
    smtp.refuse_login = True
    assert main(environment(tmp_path, queue, smtp, "0.16")) == 1
    line = one_line(capsys)
    assert "refused the canary's login (535)" in line
    assert smtp.messages == []


def test_submission_unreachable_is_a_failure(tmp_path, capsys, servers):
    queue, smtp = servers
    env = environment(tmp_path, queue, smtp, "0.15", SMTP_PORT="1")
    assert main(env) == 1
    assert "cannot submit on 127.0.0.1:1" in one_line(capsys)


def test_a_wrong_scrape_password_is_named(tmp_path, capsys, servers):
    queue, smtp = servers
    queue.metrics_password = "another"
    assert main(environment(tmp_path, queue, smtp, "0.16")) == 1
    assert "Stalwart's counters: HTTP 401" in one_line(capsys)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"SMTP_HOST": ""}, "SMTP_HOST is not set"),
        ({"STALWART_GENERATION": "0.14"}, "is not 0.15 or 0.16"),
        ({"DEADLINE_SECONDS": "nan"}, "DEADLINE_SECONDS must be a finite number"),
        ({"STALWART_URL": "ftp://x"}, "is not an http(s) URL"),
    ],
)
def test_a_bad_configuration_is_exit_2(tmp_path, capsys, servers, change, says):
    queue, smtp = servers
    assert main(environment(tmp_path, queue, smtp, "0.15", **change)) == 2
    assert says in one_line(capsys)


def test_only_resends_test_addresses_get_a_label():
    assert labelled("delivered@resend.dev", "ab12") == "delivered+mailstack-ab12@resend.dev"
    assert labelled("delivered+x@resend.dev", "ab12") == "delivered+x@resend.dev"
    assert labelled("me@example.org", "ab12") == "me@example.org"


def test_counters_absent_until_their_first_event_count_as_zero():
    text = "# TYPE delivery_delivered counter\ndelivery_delivered 3\nserver_memory 1e6\n"
    assert parse_counters(text) == {
        "delivery_delivered": 3.0,
        "delivery_dsn_perm_fail": 0.0,
        "delivery_auth_failed": 0.0,
    }
