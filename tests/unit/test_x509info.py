import datetime

import pytest

from certutil import make_ca, make_leaf, pem
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CA = make_ca()


def leaf(days_ago, lifetime, names=("www.example.org",), **kw):
    return make_leaf(CA, list(names), NOW - datetime.timedelta(days=days_ago), lifetime, **kw)


def test_nothing_deployed_is_due():
    assert x509info.renewal_due(None, ["a.example.org"], now=NOW)[0] is True


def test_fresh_certificate_is_not_due():
    due, reason, remaining = x509info.renewal_due(leaf(1, 90), ["www.example.org"], now=NOW)
    assert not due and "days left" in reason and remaining == 89 * 86400


def test_due_when_less_than_a_third_of_lifetime_remains():
    assert x509info.renewal_due(leaf(59, 90), ["www.example.org"], now=NOW)[0] is False
    due, reason, dummy = x509info.renewal_due(leaf(61, 90), ["www.example.org"], now=NOW)
    assert due and "renew_at_fraction" in reason


def test_fraction_follows_shorter_lifetimes():
    # 47-day certificates: due with less than ~15.5 days left, not at a fixed 30 days
    assert x509info.renewal_due(leaf(20, 47), ["www.example.org"], now=NOW)[0] is False
    assert x509info.renewal_due(leaf(32, 47), ["www.example.org"], now=NOW)[0] is True


def test_renew_before_days_overrides_fraction():
    due, reason, dummy = x509info.renewal_due(leaf(30, 90), ["www.example.org"], now=NOW, renew_before_days=61)
    assert due and "renew_before_days" in reason


def test_due_when_names_differ():
    due, reason, dummy = x509info.renewal_due(leaf(1, 90), ["other.example.org"], now=NOW)
    assert due and "other.example.org" in reason


def test_expired_is_due():
    due, reason, remaining = x509info.renewal_due(leaf(100, 90), ["www.example.org"], now=NOW)
    assert due and "expired" in reason and remaining < 0


def test_self_signed_placeholder_is_due():
    cert = leaf(1, 3650, self_signed=True)
    due, reason, dummy = x509info.renewal_due(cert, ["www.example.org"], now=NOW)
    assert due and "self-signed" in reason


def test_facts_and_chain_split():
    cert = leaf(1, 90, names=("a.example.org", "b.example.org"))
    bundle = pem(cert) + "\n" + pem(CA[1])
    blocks = x509info.split_pem_chain(bundle)
    assert len(blocks) == 2
    facts = x509info.certificate_facts(x509info.load_certificate(blocks[0]))
    assert facts["domains"] == ["a.example.org", "b.example.org"]
    assert facts["issuer"] == "Test Root"
    assert facts["serial"] == "%x" % cert.serial_number


def test_split_without_certificate_fails():
    with pytest.raises(Exception, match="no PEM certificate"):
        x509info.split_pem_chain("nothing here")


def test_choose_chain_by_top_issuer():
    other_root = make_ca("Other Root")
    cert = leaf(1, 90)
    default = pem(cert) + pem(CA[1])
    intermediate_by_other = make_leaf(other_root, ["Test Root"], NOW - datetime.timedelta(days=1), 900)
    alternate = pem(cert) + pem(intermediate_by_other)
    assert x509info.choose_chain([default, alternate], "Other Root") == alternate
    assert x509info.choose_chain([default, alternate], "Test Root") == default
    assert x509info.choose_chain([default, alternate], "Nobody") == default
    assert x509info.choose_chain([default, alternate], None) == default
