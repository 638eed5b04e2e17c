"""Transport details of issue 7 point 6, against the local fake CA (tests/fakeacme.py): an untrusted CA
certificate, Retry-After against the acme_timeout budget."""

import time

import pytest

from fakeacme import FakeAcme
from ansible_collections.certfleet.tls.plugins.module_utils._acme import orders
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils.errors import AcmeProblem, AcmeUnavailable
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys

ACCOUNT_KEY = keys.private_key_to_pem(keys.generate_private_key())


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def request(name="www.example.org"):
    return dict(name=name, csr_pem=keys.make_csr(keys.generate_private_key(), [name]).decode())


# -- a CA whose HTTPS certificate the control node does not trust ------------------------------------
def test_untrusted_ca_certificate_fails_at_once_and_names_acme_ca_bundle():
    with FakeAcme(tls=True) as fake:
        sleeps = Sleeps()
        start = time.monotonic()
        with pytest.raises(AcmeUnavailable) as info:
            AcmeSession(fake.directory_url, ACCOUNT_KEY, policy=RetryPolicy(timeout=30, sleep=sleeps))
        message = info.value.msg
        assert "TLS certificate verification failed for %s" % fake.directory_url in message, message
        assert "acme_ca_bundle" in message and "cannot reach" not in message, message
        assert info.value.to_result()["reason"] == "certificate_verify_failed"
        assert sleeps == [] and time.monotonic() - start < 5  # no retry, no backoff


def test_wrong_ca_bundle_is_named_in_the_message(tmp_path):
    other_root = FakeAcme().ca_cert  # a root that did not sign the server's certificate
    from cryptography.hazmat.primitives import serialization
    bundle = tmp_path / "other-root.pem"
    bundle.write_bytes(other_root.public_bytes(serialization.Encoding.PEM))
    with FakeAcme(tls=True) as fake:
        with pytest.raises(AcmeUnavailable, match="the CA bundle %s \\(acme_ca_bundle\\) does not hold" % bundle):
            AcmeSession(fake.directory_url, ACCOUNT_KEY, ca_bundle=str(bundle), policy=RetryPolicy(timeout=10))


def test_the_right_ca_bundle_works_over_https():
    with FakeAcme(tls=True) as fake:
        sess = AcmeSession(fake.directory_url, ACCOUNT_KEY, ca_bundle=fake.tls_ca_bundle,
                           policy=RetryPolicy(timeout=10))
        sess.ensure_account(terms_agreed=True)
        assert orders.create_order(sess, request())["order_url"].startswith("https://127.0.0.1:")


def test_untrusted_ca_through_the_module_is_one_clear_failure(module_runner):
    with FakeAcme(tls=True) as fake:
        result = module_runner("acme_order", dict(
            acme_directory=fake.directory_url, account_key_content=ACCOUNT_KEY.decode(), acme_terms_agreed=True,
            csr_content=request()["csr_pem"], acme_timeout=30))
        assert result["failed"] and "TLS certificate verification failed" in result["msg"], result
        assert "acme_ca_bundle" in result["msg"]


# -- Retry-After against the acme_timeout budget (RFC 9110 §10.2.3) -----------------------------------
def session(fake, sleeps, timeout):
    sess = AcmeSession(fake.directory_url, ACCOUNT_KEY,
                       policy=RetryPolicy(timeout=timeout, sleep=sleeps))
    sess.ensure_account(terms_agreed=True)
    return sess


def test_retry_after_beyond_the_old_60_s_cap_is_honoured_within_the_budget():
    with FakeAcme() as fake:
        sleeps = Sleeps()
        sess = session(fake, sleeps, timeout=300)
        fake.fault("POST /order", {"status": 429, "type": "rateLimited", "retry_after": 90},
                   {"status": 503, "type": "serverInternal", "retry_after": 120})
        assert orders.create_order(sess, request())["order_url"]
        assert sleeps == [90.0, 120.0]


def test_retry_after_beyond_the_budget_fails_at_once_naming_both_figures():
    with FakeAcme() as fake:
        sleeps = Sleeps()
        sess = session(fake, sleeps, timeout=300)
        fake.fault("POST /order", {"status": 429, "type": "rateLimited", "retry_after": 3600})
        with pytest.raises(AcmeProblem) as info:
            orders.create_order(sess, request())
        message = info.value.msg
        assert info.value.problem_type.endswith(":rateLimited")
        assert "retry after 3600 s (Retry-After)" in message and "acme_timeout=300 s" in message, message
        assert "more than the 29" in message or "more than the 30" in message, message  # ~300 s left
        assert sleeps == [] and fake.count("POST /order") == 1


def test_retry_after_of_an_html_503_beyond_the_budget_fails_at_once():
    with FakeAcme() as fake:
        sleeps = Sleeps()
        sess = session(fake, sleeps, timeout=20)
        fake.fault("POST /order", {"status": 503, "html": True, "retry_after": 45})
        with pytest.raises(AcmeUnavailable, match=r"HTTP 503 .*retry after 45 s \(Retry-After\), more than the "):
            orders.create_order(sess, request())
        assert sleeps == []
