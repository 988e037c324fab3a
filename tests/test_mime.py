"""The email huitou writes (delivery/mime.py), read back by Python's email parser as a
receiver reads it, over random and hostile text; and delivered to a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huitou.delivery.channels import DeliveryError, Message
from huitou.delivery.email import SmtpAdapter
from huitou.delivery.mime import address
from tests.servers import PASSWORD, USER, LocalCA, SmtpServer

CONFIG = {
    "from": "回头小店 <care@shop.example.cn>",
    "reply_to": '"Service, Team" <help@例子.中国>',
    "unsubscribe_url": "https://shop.example.cn/unsubscribe",
    "unsubscribe_secret_env": "T_UNSUB",
    "smtp": {"host": "127.0.0.1", "security": "none"},
}


@pytest.fixture
def adapter(monkeypatch: pytest.MonkeyPatch) -> SmtpAdapter:
    monkeypatch.setenv("T_UNSUB", "secret")
    return SmtpAdapter("email", CONFIG)


def message(content: dict, to: str = "c1@mail.example.cn", customer: str = "c1", key: str = "k" * 64) -> Message:
    return Message(key, customer, "email", "email", to, "pb", "mail", "care", "2026-12-01T10:00:00+08:00", content, False)


def read(data: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert not parsed.defects and all(not p.defects for p in parsed.walk()), parsed.defects
    return parsed  # type: ignore[return-value]


def one_line(text: str) -> str:
    """What a header of this text reads as: control characters (C0, DEL, C1, bidi) are
    spaces, runs of whitespace one space (what folding and unfolding keep)."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", " ", text).split())


def lines_of(data: bytes) -> list[bytes]:
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b""), "every line ends in CRLF"
    return data.split(b"\r\n")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(), body=st.text(), html=st.none() | st.text(min_size=1))
def test_what_is_written_reads_back_as_it_was_rendered(adapter: SmtpAdapter, subject: str, body: str, html: str | None) -> None:
    sent = adapter.build(message({"subject": subject, "body": body, "html": html}))
    received = read(sent.data)
    assert received["Subject"] == one_line(subject)
    assert received["To"] == "c1@mail.example.cn" and received["From"] == "回头小店 <care@shop.example.cn>"
    assert received["Reply-To"] == '"Service, Team" <help@xn--fsqu00a.xn--fiqs8s>'
    canonical = re.sub(r"\r\n|\r|\n", "\r\n", body)
    assert received.get_body(("plain",)).get_content() == canonical  # type: ignore[union-attr]
    if html:
        assert received.get_content_type() == "multipart/alternative"
        assert received.get_body(("html",)).get_content() == re.sub(r"\r\n|\r|\n", "\r\n", html)  # type: ignore[union-attr]
    else:
        assert received.get_content_type() == "text/plain"
    head = sent.data.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in lines_of(head) if not line.startswith(b" ")]
    assert names == [
        b"From",
        b"To",
        b"Reply-To",
        b"Subject",
        b"Date",
        b"Message-ID",
        b"List-Unsubscribe",
        b"List-Unsubscribe-Post",
        b"MIME-Version",
        b"Content-Type",
        *([b"Content-Transfer-Encoding"] if not html else []),
    ]
    assert all(len(line) <= 78 for line in lines_of(head) if not line.startswith((b"Message-ID", b"List-Unsubscribe:")))
    assert all(len(line) <= 998 for line in lines_of(sent.data)) and sent.data.isascii()


def test_a_subject_cannot_add_a_header(adapter: SmtpAdapter) -> None:
    for subject in ("Hi\r\nBcc: all@evil.example", "Hi\nBcc: all@evil.example", "Hi\rBcc: all@evil.example", "嗨\r\nBcc: all@evil.example"):
        sent = adapter.build(message({"subject": subject, "body": "x"}))
        received = read(sent.data)
        assert received["Bcc"] is None and b"\r\nBcc:" not in sent.data and received["Subject"].endswith(" Bcc: all@evil.example")


def test_list_unsubscribe_is_a_url_in_angle_brackets_however_long(monkeypatch: pytest.MonkeyPatch) -> None:
    # The email package wrote this header as RFC 2047 encoded words once it passed 78
    # characters; receivers do not decode those here, and the one-click link was lost.
    monkeypatch.setenv("T_UNSUB", "secret")
    url = "https://shop.example.cn/account/preferences/email/unsubscribe?campaign=retention-2026&source=huitou"
    sent = SmtpAdapter("email", CONFIG | {"unsubscribe_url": url}).build(
        message({"subject": "s", "body": "b"}, customer="customer-with-a-long-id-0000001")
    )
    (line,) = [line for line in lines_of(sent.data) if line.startswith(b"List-Unsubscribe:")]
    assert re.fullmatch(
        rb"List-Unsubscribe: <https://shop\.example\.cn/account/preferences/email/unsubscribe\?campaign=retention-2026&source=huitou&token=[\w.-]+>",
        line,
    )


def test_recipient_addresses(adapter: SmtpAdapter) -> None:
    assert address("a@例子.中国") == ("a@xn--fsqu00a.xn--fiqs8s", False)
    assert address("用户@例子.中国") == ("用户@例子.中国", True)
    for bad in ("a@b.cn\r\nBcc: x@y.z", "a b@c.cn", "<a@b.cn>", "nobody", "@b.cn", "a@"):
        with pytest.raises(ValueError):
            address(bad)
        with pytest.raises(DeliveryError, match="cannot write this email") as refused:
            adapter.deliver(message({"subject": "s", "body": "b"}, to=bad))
        assert not refused.value.transient


def test_configured_addresses_and_urls_are_checked_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    from huitou.delivery.channels import ConfigError

    monkeypatch.setenv("T_UNSUB", "secret")
    for change, said in [
        ({"unsubscribe_url": "https://shop.example.cn/退订"}, "percent-encode"),
        ({"unsubscribe_url": "shop.example.cn/u"}, "http(s) or mailto"),
        ({"reply_to": "help at shop"}, "'help at shop' is not an address (`from` and `reply_to` are addresses"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(said)):
            SmtpAdapter("email", CONFIG | change)


@pytest.mark.parametrize("offered", [True, False])
def test_an_address_that_needs_smtputf8_is_sent_with_it_or_refused_plainly(tmp_path, monkeypatch: pytest.MonkeyPatch, offered: bool) -> None:
    ca = LocalCA(tmp_path)
    for name, value in {"SSL_CERT_FILE": str(ca.ca_file), "T_UNSUB": "secret", "T_USER": USER, "T_PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(name, value)
    with SmtpServer(ca, smtputf8=offered) as server:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": "starttls", "username_env": "T_USER", "password_env": "T_PASSWORD"}
        adapter = SmtpAdapter("email", CONFIG | {"smtp": smtp})
        try:
            wish = message({"subject": "生日快乐", "body": "祝您生日快乐"}, to="用户@例子.中国", key="a" * 64)
            if offered:
                assert adapter.deliver(wish) == f"<{'a' * 64}@shop.example.cn>"
                rcpts, received = server.arrivals.delivered[f"<{'a' * 64}@shop.example.cn>"]
                assert rcpts == ["用户@例子.中国"] and received["To"] == "用户@例子.中国" and received["Subject"] == "生日快乐"
            else:
                with pytest.raises(DeliveryError, match="does not offer SMTPUTF8, which the address '用户@例子.中国' needs") as refused:
                    adapter.deliver(wish)
                assert not refused.value.transient and not server.arrivals.raw
            # The same connection goes on; a domain that is not ASCII is written in its IDNA form.
            adapter.deliver(message({"subject": "s", "body": "b"}, to="b@例子.中国", key="b" * 64))
            assert server.arrivals.delivered[f"<{'b' * 64}@shop.example.cn>"][0] == ["b@xn--fsqu00a.xn--fiqs8s"]
            assert len(server.arrivals.raw) == (2 if offered else 1)
        finally:
            adapter.close()
