"""The ACME core against a local fake CA: retries, problems, profiles, replaces, ARI.

The network is fake (tests/fakeacme.py); the logic under test (our retry policy, order flow, ARI decision)
is the real one.
"""

import datetime
import json

import pytest

from certutil import make_ca, make_leaf
from fakeacme import FakeAcme
from ansible_collections.certfleet.tls.plugins.module_utils._acme import orders, renewal
from ansible_collections.certfleet.tls.plugins.module_utils.errors import (
    AcmeProblem, AcmeUnavailable, InputError)
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy, parse_retry_after
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys
from ansible_collections.certfleet.tls.plugins.module_utils._tls.x509info import load_certificate

UTC = datetime.timezone.utc
ACCOUNT_KEY = keys.private_key_to_pem(keys.generate_private_key())


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def session(fake, sleeps=None, attempts=8, timeout=30, bad_nonce_attempts=20):
    policy = RetryPolicy(attempts=attempts, timeout=timeout, sleep=sleeps if sleeps is not None else Sleeps(),
                         bad_nonce_attempts=bad_nonce_attempts)
    sess = AcmeSession(fake.directory_url, ACCOUNT_KEY, policy=policy)
    sess.ensure_account(contact="ops@example.org", terms_agreed=True)
    return sess


def request(name="www.example.org", **extra):
    key = keys.generate_private_key()
    return dict(name=name, csr_pem=keys.make_csr(key, [name]).decode(), **extra)


def issue(sess, item, poll=None):
    created = orders.create_order(sess, item)
    done = orders.finalize_order(sess, dict(item, order_url=created["order_url"], challenges=created["challenges"]),
                                 poll=poll or orders.PollPolicy(first=0, sleep=lambda s: None))
    return created, done


def test_full_order_and_request_budget():
    with FakeAcme() as fake:
        sess = session(fake)
        created, done = issue(sess, request())
        assert created["challenges"][0]["path"].startswith(".well-known/acme-challenge/")
        assert created["challenges"][0]["key_authorization"].startswith(created["challenges"][0]["token"] + ".")
        assert done["facts"]["domains"] == ["www.example.org"] and "BEGIN CERTIFICATE" in done["chain"]
        # dir, nonce, account lookup, account creation (first time only)
        # + newOrder, authz, challenge, order poll, finalize, cert = 10
        assert sess.request_count == 10, fake.requests
        again = session(fake)  # an existing account: one lookup, no creation
        issue(again, request("b.example.org"))
        assert again.request_count == 9, fake.requests


def test_bad_nonce_is_retried_more_than_once():
    with FakeAcme() as fake:
        sess = session(fake)
        fake.fault("POST /order", *[{"status": 400, "type": "badNonce"}] * 12)
        created = orders.create_order(sess, request())
        assert created["order_url"] and fake.count("POST /order") == 13  # more than the 8 general attempts


def test_bad_nonce_gives_up_with_the_problem_after_attempts():
    with FakeAcme() as fake:
        sess = session(fake, bad_nonce_attempts=3)
        fake.fault("POST /order", *[{"status": 400, "type": "badNonce"}] * 5)
        with pytest.raises(AcmeProblem) as info:
            orders.create_order(sess, request())
        assert info.value.problem_type.endswith("badNonce") and "gave up after 3 attempts" in info.value.msg


def test_503_and_429_honour_retry_after():
    with FakeAcme() as fake:
        sleeps = Sleeps()
        sess = session(fake, sleeps)
        fake.fault("POST /order", {"status": 503, "type": "serverInternal", "retry_after": 7},
                   {"status": 429, "type": "rateLimited", "retry_after": 3})
        orders.create_order(sess, request())
        assert sleeps == [7.0, 3.0]


def test_retry_after_is_capped_by_the_deadline():
    with FakeAcme() as fake:
        sess = session(fake, timeout=5)
        fake.fault("POST /order", {"status": 429, "type": "rateLimited", "retry_after": 3600})
        with pytest.raises(AcmeProblem, match="rateLimited"):
            orders.create_order(sess, request())


def test_html_502_is_retried():
    with FakeAcme() as fake:
        sess = session(fake)
        fake.fault("POST /order", {"status": 502, "html": True})
        assert orders.create_order(sess, request())["order_url"]


def test_missing_nonce_on_success_does_not_fail_or_repeat_the_request():
    with FakeAcme() as fake:
        sess = session(fake)
        fake.fault("POST /order", {"drop_nonce": True})
        created = orders.create_order(sess, request())
        assert created["order_url"] and fake.count("POST /order") == 1  # a successful newOrder is never sent twice


def test_non_transient_problem_keeps_type_detail_and_is_not_retried():
    with FakeAcme() as fake:
        sess = session(fake)
        fake.fault("POST /order", {"status": 400, "type": "rejectedIdentifier", "detail": "policy forbids"})
        with pytest.raises(AcmeProblem) as info:
            orders.create_order(sess, request())
        assert info.value.problem_type == "urn:ietf:params:acme:error:rejectedIdentifier"
        assert "policy forbids" in info.value.msg and fake.count("POST /order") == 1
        assert info.value.to_result()["problem"]["status"] == 400


def test_unreachable_ca_is_a_clear_error_within_the_timeout():
    import time
    start = time.monotonic()
    with pytest.raises(AcmeUnavailable, match="cannot reach the CA at http://127.0.0.1:9/dir"):
        AcmeSession("http://127.0.0.1:9/dir", ACCOUNT_KEY, policy=RetryPolicy(timeout=2))
    assert time.monotonic() - start < 4


def test_terms_must_be_agreed_explicitly():
    with FakeAcme() as fake:
        sess = AcmeSession(fake.directory_url, ACCOUNT_KEY, policy=RetryPolicy(timeout=10))
        with pytest.raises(InputError, match="terms of service .* must be agreed"):
            sess.ensure_account(terms_agreed=False)
        assert fake.account is None


def test_existing_account_is_reused():
    with FakeAcme() as fake:
        first = session(fake).account_uri
        second = AcmeSession(fake.directory_url, ACCOUNT_KEY)
        uri, created = second.ensure_account(terms_agreed=True)
        assert uri == first and created is False


def test_hostile_token_from_the_ca_is_refused():
    with FakeAcme(hostile_token="../../etc/passwd") as fake:
        with pytest.raises(AcmeProblem, match="not base64url"):
            orders.create_order(session(fake), request())


def test_profiles_sent_checked_and_refused_by_name():
    with FakeAcme(profiles={"classic": "90 days", "shortlived": "6 days"}) as fake:
        sess = session(fake)
        orders.check_profile(sess, "shortlived")
        orders.create_order(sess, request(profile="shortlived"))
        assert fake.order_payloads[-1]["profile"] == "shortlived"
        with pytest.raises(InputError, match="'tlsserver' is not offered .* classic, shortlived"):
            orders.check_profile(sess, "tlsserver")
    with FakeAcme() as fake:
        with pytest.raises(InputError, match="lists no ACME profiles"):
            orders.check_profile(session(fake), "classic")


def test_replaces_is_sent_and_dropped_when_the_ca_refuses_it():
    with FakeAcme() as fake:
        created = orders.create_order(session(fake), request(replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"))
        assert fake.order_payloads[-1]["replaces"] == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
        assert created["replaces_dropped"] is False
    with FakeAcme(reject_replaces=True) as fake:
        created = orders.create_order(session(fake), request(replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"))
        assert created["replaces_dropped"] is True and created["order_url"]
        assert "replaces" not in fake.order_payloads[-1]


def test_resumed_order_without_challenges_is_rebuilt_from_the_ca():
    """A run that died after the order: the next call has only the order URL and still finishes."""
    with FakeAcme() as fake:
        item = request()
        created = orders.create_order(session(fake), item)
        fresh = session(fake)  # a new process: new session, same account
        done = orders.finalize_order(fresh, dict(item, order_url=created["order_url"]),
                                     poll=orders.PollPolicy(first=0, sleep=lambda s: None))
        assert done["facts"]["domains"] == ["www.example.org"]


def test_batch_reports_each_failure_without_hiding_others():
    with FakeAcme(profiles={"classic": "x"}) as fake:
        sess = session(fake)
        items = [request("a.example.org"), dict(request("b.example.org"), csr_pem="garbage")]
        results = orders.run_batch(lambda item: orders.create_order(sess, item), items)
        assert results[0]["order_url"] and results[1]["failed"] and "not a PEM" in results[1]["msg"]


# -- ARI ----------------------------------------------------------------------------------
def test_ari_cert_id_matches_rfc9773_example_construction():
    ca = make_ca()
    cert = make_leaf(ca, ["www.example.org"], datetime.datetime.now(UTC), 90)
    # no AKI in these test leaves: ARI cannot name them
    with pytest.raises(InputError, match="Authority Key Identifier"):
        renewal.ari_cert_id(cert)


def issued_with_ari_window(fake, start_days, end_days):
    """Issue one certificate from the fake CA and give it an ARI window from now + start to now + end days;
    (session, certificate, its ARI certID, now)."""
    sess = session(fake)
    dummy, done = issue(sess, request())
    cert = load_certificate(done["cert"])
    cert_id = renewal.ari_cert_id(cert)
    now = datetime.datetime.now(UTC)
    fake.renewal_windows[cert_id] = ((now + datetime.timedelta(days=start_days)).isoformat(),
                                     (now + datetime.timedelta(days=end_days)).isoformat())
    return sess, cert, cert_id, now


def test_ari_window_drives_the_decision():
    with FakeAcme(ari=True) as fake:
        sess, cert, cert_id, now = issued_with_ari_window(fake, 60, 62)
        info = renewal.fetch_renewal_info(sess, cert)
        assert info["retry_after"] == 21600
        assert renewal.ari_decision(info, cert_id, now)[0] is False
        # The CA moves the window into the past (e.g. mis-issuance): renew now.
        fake.renewal_windows[cert_id] = ((now - datetime.timedelta(days=2)).isoformat(),
                                         (now - datetime.timedelta(days=1)).isoformat())
        due, reason = renewal.ari_decision(renewal.fetch_renewal_info(sess, cert), cert_id, now)
        assert due and "ARI window" in reason


def test_ari_time_is_stable_and_inside_the_window():
    start = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    end = start + datetime.timedelta(days=2)
    times = {renewal.renew_time_in_window(start, end, "id%d" % i) for i in range(50)}
    assert all(start <= t <= end for t in times) and len(times) == 50
    assert renewal.renew_time_in_window(start, end, "id1") == renewal.renew_time_in_window(start, end, "id1")


def test_ari_serial_encoding_with_high_bit():
    # RFC 9773 §4.1 example: serial 0x87654321 -> "AIdlQyE" (leading zero byte added)
    assert renewal._b64url((0x87654321).to_bytes(((0x87654321).bit_length() + 8) // 8, "big")) == "AIdlQyE"


def test_parse_retry_after_forms():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_recorded_order_is_resumed_instead_of_ordering_again():
    with FakeAcme() as fake:
        item = request()
        first = orders.create_order(session(fake), item)
        orders_before = fake.count("POST /order")
        resumed = orders.create_order(session(fake), dict(item, resume_order_url=first["order_url"]))
        assert resumed["resumed"] is True and resumed["order_url"] == first["order_url"]
        assert [c["token"] for c in resumed["challenges"]] == [c["token"] for c in first["challenges"]]
        # the resumed order is fetched (POST-as-GET), never created again
        assert not fake.order_payloads[1:], fake.order_payloads
        assert fake.count("POST /order") == orders_before + 1
        done = orders.finalize_order(session(fake), dict(item, order_url=resumed["order_url"],
                                                         challenges=resumed["challenges"]),
                                     poll=orders.PollPolicy(first=0, sleep=lambda s: None))
        assert done["facts"]["domains"] == ["www.example.org"]


def test_unusable_recorded_order_gives_way_to_a_new_one():
    with FakeAcme() as fake:
        item = request()
        created = orders.create_order(session(fake), dict(item, resume_order_url=fake.url + "/order/404"))
        assert created["resumed"] is False and created["order_url"].endswith("/order/1")
        other = orders.create_order(session(fake), request("other.example.org"))
        # an order for other names is not resumed for this certificate: new order instead
        again = orders.create_order(session(fake), dict(item, resume_order_url=other["order_url"]))
        assert again["resumed"] is False and again["order_url"] != other["order_url"]


def test_anonymous_renewal_info_needs_no_account():
    with FakeAcme(ari=True) as fake:
        dummy, done = issue(session(fake), request())
        cert = load_certificate(done["cert"])
        now = datetime.datetime.now(UTC)
        fake.renewal_windows[renewal.ari_cert_id(cert)] = (now.isoformat(), (now + datetime.timedelta(hours=1)).isoformat())
        before = fake.count("POST /acct")
        info = renewal.anonymous_renewal_info(fake.directory_url, cert)
        assert info["start"] <= info["end"] and fake.count("POST /acct") == before
    with FakeAcme() as fake:  # a CA without ARI
        assert renewal.anonymous_renewal_info(fake.directory_url, cert) is None


def test_second_step_reuses_directory_and_nonces_of_the_first():
    with FakeAcme() as fake:
        first = session(fake)
        item = request()
        created = orders.create_order(first, item)
        carried = first.carry()
        assert carried["nonces"] and carried["directory"]["newOrder"].endswith("/order")
        before = list(fake.requests)
        second = AcmeSession(fake.directory_url, ACCOUNT_KEY, policy=RetryPolicy(timeout=10), carried=carried)
        second.use_account(first.account_uri)
        orders.finalize_order(second, dict(item, order_url=created["order_url"], challenges=created["challenges"]),
                              poll=orders.PollPolicy(first=0, sleep=lambda s: None))
        new = fake.requests[len(before):]
        assert "GET /dir" not in new and "HEAD /nonce" not in new, new
        # a directory carried from another CA is not used
        other = AcmeSession(fake.directory_url, ACCOUNT_KEY, carried=dict(carried, directory_url="https://x/dir"))
        assert other.request_count == 1


def test_acme_order_module_with_operator_key_and_csr_checks(module_runner, tmp_path):
    key = keys.generate_private_key()
    key_file = tmp_path / "www.key"
    key_file.write_bytes(keys.private_key_to_pem(key))
    with FakeAcme() as fake:
        common = dict(acme_directory=fake.directory_url, account_key_content=ACCOUNT_KEY.decode(),
                      acme_terms_agreed=True, acme_timeout=20)
        first = module_runner("acme_order", dict(common, private_key_path=str(key_file),
                                                 domains=["www.example.org", "example.org"]))
        assert first["changed"] and len(first["challenges"]) == 2, first
        assert sorted(c["identifier"] for c in first["challenges"]) == ["example.org", "www.example.org"]
        wanted = [{"type": "dns", "value": "www.example.org"}, {"type": "dns", "value": "example.org"}]
        assert fake.order_payloads[-1]["identifiers"] == wanted
        second = module_runner("acme_order", dict(common, private_key_path=str(key_file),
                                                  domains=["www.example.org", "example.org"],
                                                  order_url=first["order_url"], challenges=first["challenges"],
                                                  account_uri=first["account_uri"],
                                                  acme_session=first["acme_session"]))
        # two challenges, one order poll, finalize, download: no directory, nonce or account request
        assert "BEGIN CERTIFICATE" in second["cert"] and second["acme_requests"] == 5, second
        assert "PRIVATE KEY" not in json.dumps(first) + json.dumps(second)
        # an operator CSR whose names differ from domains: refused before any request
        csr = keys.make_csr(key, ["other.example.org"]).decode()
        before = len(fake.requests)
        bad = module_runner("acme_order", dict(common, csr_content=csr, domains=["www.example.org"]))
        assert bad["failed"] and "names ['other.example.org'] but domains asks for ['www.example.org']" in bad["msg"]
        assert len(fake.requests) == before
        wildcard = module_runner("acme_order", dict(common, private_key_path=str(key_file), domains=["*.example.org"]))
        assert wildcard["failed"] and "wildcard" in wildcard["msg"]
        check = module_runner("acme_order", dict(common, csr_content=keys.make_csr(key, ["www.example.org"]).decode()),
                              check_mode=True)
        assert check["changed"] and check["acme_requests"] == 0 and len(fake.requests) == before


def test_changed_reports_what_changed_at_the_ca():
    with FakeAcme() as fake:
        item = request()
        created = orders.create_order(session(fake), item)
        assert created["changed"] is True
        poll = orders.PollPolicy(first=0, sleep=lambda s: None)
        done = orders.finalize_order(session(fake), dict(item, order_url=created["order_url"],
                                                         challenges=created["challenges"]), poll=poll)
        assert done["changed"] is True
        # a second call on the same, already valid order only downloads: nothing changed at the CA
        again = orders.finalize_order(session(fake), dict(item, order_url=created["order_url"]), poll=poll)
        assert again["changed"] is False and again["cert"] == done["cert"]
        resumed = orders.create_order(session(fake), dict(item, resume_order_url=created["order_url"]))
        assert resumed["resumed"] and resumed["changed"] is False


def test_an_unexpected_error_fails_only_its_own_item():
    def handle(item):
        if item["name"] == "bad":
            raise KeyError("certificate")
        return {"name": item["name"]}
    results = orders.run_batch(handle, [{"name": "good"}, {"name": "bad"}])
    assert results[0] == {"name": "good"}
    assert results[1]["failed"] and "unexpected KeyError while handling bad" in results[1]["msg"]


def test_a_hostile_ari_window_never_postpones_the_lifetime_rule():
    """The fake CA says "renew in a year" for a certificate whose lifetime rule already says renew: still due."""
    from ansible_collections.certfleet.tls.plugins.module_utils._acme import decision
    with FakeAcme(ari=True) as fake:
        sess, cert, cert_id, now = issued_with_ari_window(fake, 365, 366)
        info = dict(renewal.fetch_renewal_info(sess, cert), cert_id=cert_id)
        domains = sorted(n.lower() for n in certificate_facts_of(cert))
        late = cert.not_valid_after_utc - datetime.timedelta(minutes=1)  # a minute before expiry
        verdict = decision.decide(cert, domains, now=late, ari=info)
        assert verdict.due and verdict.code == decision.LIFETIME_FRACTION, verdict
        assert not decision.decide(cert, domains, now=now, ari=info).due  # fresh: the window does not force it


def certificate_facts_of(cert):
    from ansible_collections.certfleet.tls.plugins.module_utils._tls.x509info import certificate_facts
    return certificate_facts(cert)["domains"]
