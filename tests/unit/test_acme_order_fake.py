"""acme_order against the local fake CA: abandoned orders (issue 7 points 3 and 6), ``changed`` after a failed
order, and a bad profile refused before any POST. Core functions and the module as a real process."""

import pytest

from fakeacme import FakeAcme
from ansible_collections.certfleet.tls.plugins.module_utils._acme import orders
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils.errors import AcmeProblem
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys

ACCOUNT_KEY = keys.private_key_to_pem(keys.generate_private_key())
HOSTILE = "../../etc/passwd"


def session(fake):
    sess = AcmeSession(fake.directory_url, ACCOUNT_KEY, policy=RetryPolicy(timeout=20, sleep=lambda s: None))
    sess.ensure_account(terms_agreed=True)
    return sess


def csr(*names):
    return keys.make_csr(keys.generate_private_key(), list(names)).decode()


def module_args(fake, **extra):
    args = dict(acme_directory=fake.directory_url, account_key_content=ACCOUNT_KEY.decode(),
                acme_terms_agreed=True, acme_timeout=20)
    args.update(extra)
    return args


def posts(fake):
    return [r for r in fake.requests if r.startswith("POST ")]


# -- a refused token: the order is abandoned and its authorizations deactivated (RFC 8555 §7.5.2) -------------
def test_order_with_a_hostile_token_is_abandoned_and_its_authorizations_deactivated():
    with FakeAcme(hostile_token=HOSTILE) as fake:
        with pytest.raises(AcmeProblem, match="not base64url") as info:
            orders.create_order(session(fake), dict(name="two", csr_pem=csr("a.example.org", "b.example.org")))
        assert sorted(fake.deactivated) == ["1-0", "1-1"] and fake.answered == []
        assert all(authz["status"] == "deactivated" for authz in fake.authzs.values())
        assert info.value.at_ca == {"changed": True, "order_url": fake.url + "/order/1",
                                    "deactivated_authorizations": 2}


def test_failed_order_in_a_batch_reports_changed_order_url_and_deactivations(module_runner):
    with FakeAcme(hostile_token=HOSTILE) as fake:
        result = module_runner("acme_order", module_args(fake, orders=[{"name": "www", "csr": csr("www.example.org")}],
                                                         fail_on_order_error=False))
        assert result["changed"] is True, result  # a newOrder was sent, whatever came after
        assert result["failed_names"] == ["www"] and not result.get("failed")
        failed = result["orders"][0]
        assert failed["failed"] and failed["changed"] is True and failed["deactivated_authorizations"] == 1
        assert failed["order_url"] == fake.url + "/order/1" and fake.deactivated == ["1-0"]


def test_single_form_failure_after_new_order_is_changed(module_runner):
    with FakeAcme(hostile_token=HOSTILE) as fake:
        result = module_runner("acme_order", module_args(fake, csr_content=csr("www.example.org")))
        assert result["failed"] and result["changed"] is True and "not base64url" in result["msg"], result


def test_refused_new_order_still_counts_as_changed_but_a_local_refusal_does_not(module_runner):
    with FakeAcme() as fake:
        fake.fault("POST /order", {"status": 400, "type": "rejectedIdentifier", "detail": "policy forbids"})
        refused = module_runner("acme_order", module_args(fake, csr_content=csr("www.example.org")))
        assert refused["failed"] and refused["changed"] is True and "policy forbids" in refused["msg"]
        before = len(fake.requests)
        local = module_runner("acme_order", module_args(fake, csr_content=csr("www.example.org"),
                                                        domains=["other.example.org"]))
        assert local["failed"] and not local.get("changed") and len(fake.requests) == before


def test_resumed_order_with_a_hostile_token_is_abandoned_too():
    with FakeAcme() as fake:
        item = dict(name="www", csr_pem=csr("www.example.org"))
        first = orders.create_order(session(fake), item)
        fake.authzs["1-0"]["token"] = HOSTILE  # the CA now hands out a hostile token for the same order
        with pytest.raises(AcmeProblem, match="not base64url") as info:
            orders.create_order(session(fake), dict(item, resume_order_url=first["order_url"]))
        assert fake.deactivated == ["1-0"] and info.value.at_ca["changed"] is True
        assert fake.order_payloads[1:] == []  # no second order was placed


# -- a bad profile: refused from the directory, before any signed request ------------------------------------
def test_bad_profile_is_refused_before_any_post(module_runner):
    with FakeAcme(profiles={"classic": "90 days", "shortlived": "6 days"}) as fake:
        result = module_runner("acme_order", module_args(fake, csr_content=csr("www.example.org"), profile="tlsserver"))
        assert result["failed"] and "'tlsserver' is not offered" in result["msg"] and "classic, shortlived" in result["msg"]
        assert posts(fake) == [] and fake.accounts == {} and result["acme_requests"] == 1  # the directory only
    with FakeAcme() as fake:
        result = module_runner("acme_order", module_args(fake, csr_content=csr("www.example.org"), profile="classic"))
        assert result["failed"] and "lists no ACME profiles" in result["msg"] and posts(fake) == []


def test_good_profile_is_sent(module_runner):
    with FakeAcme(profiles={"shortlived": "6 days"}) as fake:
        result = module_runner("acme_order", module_args(fake, csr_content=csr("www.example.org"), profile="shortlived"))
        assert result["changed"] and fake.order_payloads[-1]["profile"] == "shortlived", result


# -- dropped hosts: abandon (issue 7 point 3) ------------------------------------------------------------------
def first_step(module_runner, fake, names):
    result = module_runner("acme_order", module_args(
        fake, orders=[{"name": n, "csr": csr(n)} for n in names], fail_on_order_error=False))
    assert not result["failed_names"], result
    return result


def test_abandoned_orders_are_never_answered_and_their_authorizations_are_deactivated(module_runner):
    with FakeAcme() as fake:
        first = first_step(module_runner, fake, ["a.example.org", "b.example.org", "c.example.org"])
        by_name = {o["name"]: o for o in first["orders"]}
        dropped = [by_name["b.example.org"]]
        second = module_runner("acme_order", module_args(
            fake, orders=first["orders"], abandon=dropped, account_uri=first["account_uri"],
            acme_session=first["acme_session"], fail_on_order_error=False))
        assert second["changed"] and not second["failed_names"], second
        # the abandoned order, listed in orders too, is not finalized; the others are
        assert [o["name"] for o in second["orders"]] == ["a.example.org", "c.example.org"]
        assert all("BEGIN CERTIFICATE" in o["cert"] for o in second["orders"])
        assert second["abandoned"] == [{"name": "b.example.org", "order_url": by_name["b.example.org"]["order_url"],
                                        "deactivated_authorizations": 1}]
        b_authz = by_name["b.example.org"]["authorizations"][0].rsplit("/", 1)[1]
        assert b_authz not in fake.answered and fake.deactivated == [b_authz]
        assert fake.count("POST /chall") == 2  # a and c only: nothing the CA could charge as a failed validation
        assert fake.authzs[b_authz]["status"] == "deactivated"


def test_abandon_alone_reads_the_order_when_authorizations_are_not_given(module_runner):
    with FakeAcme() as fake:
        first = first_step(module_runner, fake, ["a.example.org", "b.example.org"])
        bare = [{"name": o["name"], "order_url": o["order_url"]} for o in first["orders"]]
        check = module_runner("acme_order", module_args(fake, abandon=bare, account_uri=first["account_uri"]),
                              check_mode=True)
        assert check["changed"] and check["acme_requests"] == 0 and fake.deactivated == []
        assert [a["deactivated_authorizations"] for a in check["abandoned"]] == [None, None]
        done = module_runner("acme_order", module_args(fake, abandon=bare, account_uri=first["account_uri"]))
        assert done["changed"] and done["orders"] == [] and sorted(fake.deactivated) == ["1-0", "2-0"], done
        assert [a["deactivated_authorizations"] for a in done["abandoned"]] == [1, 1]
        assert fake.answered == []
        again = module_runner("acme_order", module_args(fake, abandon=bare, account_uri=first["account_uri"]))
        assert again["changed"] is False and [a["deactivated_authorizations"] for a in again["abandoned"]] == [0, 0]


def test_abandon_that_cannot_read_its_order_is_reported_not_fatal(module_runner):
    with FakeAcme() as fake:
        first = first_step(module_runner, fake, ["a.example.org"])
        gone = [{"name": "gone", "order_url": fake.url + "/order/404"}]
        result = module_runner("acme_order", module_args(
            fake, orders=first["orders"], abandon=gone, account_uri=first["account_uri"]))
        assert not result.get("failed") and result["orders"][0]["cert"], result
        assert result["abandoned"][0]["deactivated_authorizations"] == 0
        assert "could not be read to abandon it" in result["abandoned"][0]["msg"]


# -- one directory request per run (RFC 8555 §7.1.1): the CAA check hands its directory to the order step -------
def test_the_order_step_reuses_the_directory_the_caa_check_read(module_runner):
    with FakeAcme() as fake:
        caa = module_runner("caa_check", dict(domains=[], challenge_type="http-01", acme_directory=fake.directory_url,
                                              caa_identities=["fake.example"]))
        assert caa["acme_session"] == {"directory_url": fake.directory_url, "directory": caa["acme_session"]["directory"],
                                       "nonces": []} and "newOrder" in caa["acme_session"]["directory"], caa
        assert fake.count("GET /dir") == 1
        result = module_runner("acme_order", module_args(fake, orders=[{"name": "a.example.org", "csr": csr("a.example.org")}],
                                                         acme_session=caa["acme_session"], fail_on_order_error=False))
        assert not result["failed_names"] and result["orders"][0]["order_url"], result
        assert fake.count("GET /dir") == 1  # the CAA check's only


def test_a_session_from_another_directory_is_not_used(module_runner):
    with FakeAcme() as fake:
        stranger = {"directory_url": "https://ca.invalid/dir", "directory": {"newOrder": "https://ca.invalid/x"},
                    "nonces": []}
        result = module_runner("acme_order", module_args(fake, orders=[{"name": "a.example.org", "csr": csr("a.example.org")}],
                                                         acme_session=stranger, fail_on_order_error=False))
        assert not result["failed_names"] and fake.count("GET /dir") == 1, result


# -- certificate_order_ahead: an order placed with its names only, finalized with the host's CSR -------------------
def test_an_order_placed_ahead_without_a_csr_is_finalized_with_the_csr_that_names_its_domains(module_runner):
    with FakeAcme() as fake:
        first = module_runner("acme_order", module_args(
            fake, orders=[{"name": "www", "domains": ["www.example.org"]}], fail_on_order_error=False))
        assert not first["failed_names"] and first["orders"][0]["csr"] == "", first
        assert first["orders"][0]["domains"] == ["www.example.org"] and first["orders"][0]["challenges"]
        wrong = module_runner("acme_order", module_args(
            fake, orders=[dict(first["orders"][0], csr=csr("other.example.org"))], account_uri=first["account_uri"],
            fail_on_order_error=False))
        assert wrong["failed"] and "other.example.org" in wrong["msg"] and not fake.answered, wrong
        second = module_runner("acme_order", module_args(
            fake, orders=[dict(first["orders"][0], csr=csr("www.example.org"))], account_uri=first["account_uri"],
            acme_session=first["acme_session"], fail_on_order_error=False))
        assert not second["failed_names"] and "BEGIN CERTIFICATE" in second["orders"][0]["cert"], second


def test_an_order_to_finalize_without_a_csr_is_refused_by_name(module_runner):
    result = module_runner("acme_order", dict(account_key_content="x", orders=[
        {"name": "www", "domains": ["www.example.org"], "order_url": "https://ca.example/order/1"}]))
    assert result["failed"] and result["msg"] == "orders[0] (www) has no csr", result
