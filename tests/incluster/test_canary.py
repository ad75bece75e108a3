"""The outbound canary against local stand-ins: Stalwart's submission port (DSN offered once
authenticated) and the canary's own mailbox over JMAP, where Stalwart's delivery report of the
canary's message arrives. Every run ends in one line and an exit code; the canary holds only its
own password and reads only its own mail."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from incluster.canary import Report, labelled, main, parse_report
from tests.standins.smtp import SmtpStandin
from tests.standins.stalwart_mailbox import MailboxStandin

CANARY_PASSWORD = "canary-Pass-0123456789"


@pytest.fixture
def servers():
    with (
        MailboxStandin("canary", CANARY_PASSWORD) as mailbox,
        SmtpStandin("canary", CANARY_PASSWORD, mailbox.on_submission) as smtp,
    ):
        yield mailbox, smtp


def environment(tmp_path: Path, mailbox: MailboxStandin, smtp: SmtpStandin, **extra):
    (tmp_path / "canary").write_text(CANARY_PASSWORD + "\n")
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "CANARY_USER": "canary",
        "CANARY_PASSWORD_FILE": str(tmp_path / "canary"),
        "CANARY_FROM": "canary@example.com",
        "CANARY_TO": "delivered@resend.dev",
        "STALWART_URL": mailbox.url,
        "DEADLINE_SECONDS": "0.5",
        "POLL_SECONDS": "0.01",
        "REQUEST_TIMEOUT_SECONDS": "2",
        **extra,
    }


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert len(lines) == 1, lines
    assert CANARY_PASSWORD not in lines[0]
    return lines[0]


def test_a_message_the_relay_accepted_is_ok_and_its_report_is_cleared(tmp_path, capsys, servers):
    mailbox, smtp = servers
    assert main(environment(tmp_path, mailbox, smtp)) == 0
    line = one_line(capsys)
    assert line.startswith("canary ok: message ") and "accepted by the relay" in line
    assert "2.0.0" in line
    [(sender, rcpts, body)] = smtp.messages
    assert sender == "canary@example.com" and smtp.logins == ["canary"]
    assert rcpts[0].startswith("delivered+mailstack-") and rcpts[0].endswith("@resend.dev")
    assert rcpts[0] in line and b"mailstack canary" in body
    assert smtp.rcpt_params == [{"NOTIFY": "SUCCESS,FAILURE"}]
    assert mailbox.messages == {}  # the report was read, then deleted


def test_it_asks_for_a_report_under_its_own_envelope_id(tmp_path, capsys, servers):
    mailbox, smtp = servers
    seen: list[dict[str, str]] = []

    def record(sender: str, rcpts: list[str], body: bytes, params: dict[str, str]) -> None:
        seen.append(params)
        mailbox.on_submission(sender, rcpts, body, params)

    smtp.on_message = record
    assert main(environment(tmp_path, mailbox, smtp)) == 0
    [params] = seen
    token = params["ENVID"]
    assert len(token) == 12 and token in one_line(capsys)
    assert params["RET"] == "HDRS"


def test_it_authenticates_as_itself_only_and_only_at_stalwart_url(tmp_path, capsys, servers):
    mailbox, smtp = servers
    assert main(environment(tmp_path, mailbox, smtp)) == 0
    expected = "Basic " + base64.b64encode(f"canary:{CANARY_PASSWORD}".encode()).decode()
    assert {auth for _, _, auth in mailbox.requests} == {expected}
    # The session's download URL names https://mail.example.com: only its path is used here.
    assert any(path.startswith("/jmap/download/c/") for _, path, _ in mailbox.requests)


def test_a_permanent_refusal_is_a_failure_naming_the_relays_answer(tmp_path, capsys, servers):
    mailbox, smtp = servers
    mailbox.outcome = "failed"
    assert main(environment(tmp_path, mailbox, smtp)) == 1
    line = one_line(capsys)
    assert "the relay refused message" in line and "5.7.1" in line
    assert "The domain is not verified" in line


def test_no_report_within_the_deadline_says_the_message_still_waits(tmp_path, capsys, servers):
    mailbox, smtp = servers
    mailbox.outcome = "none"
    assert main(environment(tmp_path, mailbox, smtp)) == 1
    line = one_line(capsys)
    assert line.startswith("canary failed: no delivery report for message ")
    assert "within 0.5s" in line and "queue" in line


def test_a_report_of_another_message_is_not_taken_for_its_own(tmp_path, capsys, servers):
    """A late report of an earlier run (or any other) carries another envelope id."""
    mailbox, smtp = servers
    mailbox.outcome = "other"
    assert main(environment(tmp_path, mailbox, smtp)) == 1
    assert "no delivery report" in one_line(capsys)
    assert len(mailbox.messages) == 1  # not its own: left alone


def test_a_server_that_offers_no_dsn_is_named(tmp_path, capsys, servers):
    mailbox, smtp = servers
    smtp.offer_dsn = False
    assert main(environment(tmp_path, mailbox, smtp)) == 1
    assert "does not offer DSN" in one_line(capsys)
    assert smtp.messages == []


def test_a_refused_login_names_the_account_password(tmp_path, capsys, servers):
    mailbox, smtp = servers
    smtp.refuse_login = True
    assert main(environment(tmp_path, mailbox, smtp)) == 1
    assert "refused the canary's login (535)" in one_line(capsys)
    assert smtp.messages == []


def test_a_mailbox_that_refuses_the_canary_is_named(tmp_path, capsys, servers):
    mailbox, smtp = servers
    mailbox.password = "another"
    assert main(environment(tmp_path, mailbox, smtp)) == 1
    line = one_line(capsys)
    assert "the canary's mailbox: GET /jmap/session: HTTP 401" in line
    assert smtp.messages == []  # nothing sent that could not be followed


def test_submission_unreachable_is_a_failure(tmp_path, capsys, servers):
    mailbox, smtp = servers
    assert main(environment(tmp_path, mailbox, smtp, SMTP_PORT="1")) == 1
    assert "cannot submit on 127.0.0.1:1" in one_line(capsys)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"SMTP_HOST": ""}, "SMTP_HOST is not set"),
        ({"CANARY_TO": " "}, "CANARY_TO is not set"),
        ({"DEADLINE_SECONDS": "nan"}, "DEADLINE_SECONDS must be a finite number"),
        ({"STALWART_URL": "ftp://x"}, "is not an http(s) URL"),
    ],
)
def test_a_bad_configuration_is_exit_2(tmp_path, capsys, servers, change, says):
    mailbox, smtp = servers
    assert main(environment(tmp_path, mailbox, smtp, **change)) == 2
    assert says in one_line(capsys)


def test_only_resends_test_addresses_get_a_label():
    assert labelled("delivered@resend.dev", "ab12") == "delivered+mailstack-ab12@resend.dev"
    assert labelled("delivered+x@resend.dev", "ab12") == "delivered+x@resend.dev"
    assert labelled("me@example.org", "ab12") == "me@example.org"


def test_a_report_is_read_by_its_fields_and_its_envelope_id():
    text = (
        "Reporting-MTA: dns;mail.example.com\r\n"
        "Original-Envelope-Id: ab12\r\n"
        "\r\n"
        "Final-Recipient: rfc822;delivered+mailstack-ab12@resend.dev\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Diagnostic-Code: smtp;550 5.1.1\r\n"
        "  no such user\r\n"
    )
    assert parse_report(text, "ab12") == Report("failed", "5.1.1", "smtp;550 5.1.1 no such user")
    assert parse_report(text, "cd34") is None
    assert parse_report(text.replace("Original-Envelope-Id: ab12\r\n", ""), "ab12") is None
    assert parse_report("", "ab12") is None
