"""The decide step's table: decide() and choose_key() on certificates made on the spot (no host, no CA)."""

import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certutil import make_ca, make_leaf
from ansible_collections.certfleet.tls.plugins.module_utils._acme import decision as d
from ansible_collections.certfleet.tls.plugins.module_utils._tls.keys import spki_sha256
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CA = make_ca()
WWW = ["www.example.org"]


def leaf(days_ago, lifetime, names=("www.example.org",), **kw):
    return make_leaf(CA, list(names), NOW - datetime.timedelta(days=days_ago), lifetime, **kw)


def ari_window(cert, start_days, end_days):
    """An RFC 9773 window relative to NOW, as the action plugin passes it."""
    return {"start": NOW + datetime.timedelta(days=start_days), "end": NOW + datetime.timedelta(days=end_days),
            "cert_id": "aki.serial"}


def test_missing():
    decision = d.decide(None, WWW, now=NOW)
    assert decision.due and decision.code == d.MISSING and decision.remaining_seconds == 0


def test_fresh_certificate_is_valid():
    decision = d.decide(leaf(1, 90), WWW, now=NOW, renew_at_fraction=0.33)
    assert not decision.due and decision.code == d.VALID and decision.remaining_seconds == 89 * 86400
    assert decision.renew_at == NOW - datetime.timedelta(days=1) + datetime.timedelta(days=90 * (1 - 0.33))


def test_self_signed_placeholder():
    decision = d.decide(leaf(1, 3650, self_signed=True), WWW, now=NOW)
    assert decision.due and decision.code == d.SELF_SIGNED


def test_names_changed():
    decision = d.decide(leaf(1, 90), ["other.example.org"], now=NOW)
    assert decision.due and decision.code == d.NAMES_CHANGED and "other.example.org" in decision.reason


def test_names_compare_as_a_set():
    assert not d.decide(leaf(1, 90, names=("a.example.org", "b.example.org")), ["b.example.org", "a.example.org"],
                        now=NOW, renew_at_fraction=0.33).due


def test_expired():
    decision = d.decide(leaf(100, 90), WWW, now=NOW)
    assert decision.due and decision.code == d.EXPIRED and decision.remaining_seconds < 0


@pytest.mark.parametrize("days_ago,lifetime,due", [(59, 90, False), (61, 90, True), (20, 47, False), (32, 47, True)])
def test_fraction_of_lifetime(days_ago, lifetime, due):
    decision = d.decide(leaf(days_ago, lifetime), WWW, now=NOW, renew_at_fraction=0.33)
    assert decision.due is due and decision.code == (d.LIFETIME_FRACTION if due else d.VALID)


def test_days_override_the_fraction():
    decision = d.decide(leaf(30, 90), WWW, now=NOW, renew_before_days=61)
    assert decision.due and decision.code == d.LIFETIME_DAYS and "renew_before_days=61" in decision.reason


def test_ari_window_that_has_come_brings_renewal_forward():
    cert = leaf(10, 90)  # 80 days left: the lifetime rule says not due
    decision = d.decide(cert, WWW, now=NOW, ari=ari_window(cert, -2, -1))
    assert decision.due and decision.code == d.ARI_WINDOW


def test_ari_window_in_the_future_never_postpones_the_lifetime_rule():
    cert = leaf(80, 90)  # 10 days left: due by the lifetime rule
    decision = d.decide(cert, WWW, now=NOW, ari=ari_window(cert, 30, 40))
    assert decision.due and decision.code == d.LIFETIME_FRACTION


def test_ari_cannot_keep_an_almost_expired_certificate():
    cert = leaf(90 - 1.0 / 1440, 90)  # a minute left
    decision = d.decide(cert, WWW, now=NOW, renew_before_days=1, ari=ari_window(cert, 365, 400))
    assert decision.due and decision.code == d.LIFETIME_DAYS


def test_ari_window_in_the_future_keeps_a_valid_certificate_valid():
    cert = leaf(10, 90)
    decision = d.decide(cert, WWW, now=NOW, ari=ari_window(cert, 30, 40))
    assert not decision.due and decision.code == d.VALID and "ARI" in decision.reason


def test_interrupted_deploy_is_due_even_for_a_fresh_certificate():
    decision = d.decide(leaf(0, 90), WWW, now=NOW, interrupted_deploy="release 000002, started 2026-11-28T11:00Z")
    assert decision.due and decision.code == d.INTERRUPTED_DEPLOY and "000002" in decision.reason


def test_force():
    decision = d.decide(leaf(1, 90), WWW, now=NOW, force=True)
    assert decision.due and decision.code == d.FORCED and "valid until" in decision.reason


@pytest.mark.parametrize("fraction,days", [(0, None), (1, None), (1.5, None), (0.33, 0), (0.33, -3)])
def test_nonsense_thresholds_are_refused_by_name(fraction, days):
    with pytest.raises(InputError) as error:
        d.check_renewal_options(fraction, days)
    assert ("renew_at_fraction" if days is None else "renew_before_days") in error.value.msg


def spki():
    return spki_sha256(ec.generate_private_key(ec.SECP256R1()).public_key())


def test_key_none_staged():
    choice = d.choose_key(WWW, live_spki=spki())
    assert not choice.reuse_staged and choice.code == d.KEY_NEW and not choice.discard_staged


def test_key_staged_current_is_reused_and_its_order_resumed():
    choice = d.choose_key(WWW, staged_domains=WWW, staged_spki=spki(), live_spki=spki())
    assert choice.reuse_staged and choice.code == d.KEY_STAGED_CURRENT and choice.resume_order


def test_key_staged_stale_is_discarded_never_reused():
    """The round-1 bug: a staged key equal to the live key resumed the old valid order forever."""
    live = spki()
    choice = d.choose_key(WWW, staged_domains=WWW, staged_spki=live, live_spki=live)
    assert not choice.reuse_staged and choice.code == d.KEY_STAGED_STALE and choice.discard_staged
    assert not choice.resume_order


def test_key_staged_for_other_names_is_replaced():
    choice = d.choose_key(WWW, staged_domains=["old.example.org"], staged_spki=spki(), live_spki=spki())
    assert not choice.reuse_staged and choice.code == d.KEY_STAGED_OTHER_NAMES


def test_key_shared_by_backends():
    shared = spki()
    assert d.choose_key(WWW, staged_domains=WWW, staged_spki=shared, shared_spki=shared).reuse_staged
    other = d.choose_key(WWW, staged_domains=WWW, staged_spki=spki(), shared_spki=shared)
    assert not other.reuse_staged and other.code == d.KEY_SHARED


def test_decide_over_tls_sends_only_due_or_unprobed_hosts_to_ssh():
    fresh, old = leaf(1, 90), leaf(80, 90)
    served = {("10.0.0.1", "www.example.org"): (fresh, None), ("10.0.0.2", "www.example.org"): (old, None),
              ("10.0.0.3", "www.example.org"): (None, "TLS connection failed: refused")}
    targets = [{"host": "web%d" % i, "address": "10.0.0.%d" % i, "port": 443,
                "requests": [{"name": "www", "domains": WWW, "dir": "/ssl/www"}]} for i in (1, 2, 3)]
    targets.append({"host": "web4", "address": "10.0.0.4", "requests": [], "error": "certificate_requests[0] has no dir"})
    hosts = d.decide_over_tls(targets, lambda address, port, sni: served[(address, sni)], renew_at_fraction=0.33)
    assert [h for h in sorted(hosts) if hosts[h]["ssh"]] == ["web2", "web3", "web4"]
    assert hosts["web1"]["certificates"][0]["code"] == d.VALID and not hosts["web1"]["certificates"][0]["due"]
    assert hosts["web2"]["certificates"][0]["code"] == d.LIFETIME_FRACTION
    assert "refused" in hosts["web3"]["reason"] and "no dir" in hosts["web4"]["reason"]


def test_a_valid_certificate_is_due_when_the_store_key_is_not_the_deployed_one():
    valid = d.decide(leaf(1, 90), WWW, now=NOW)
    assert d.key_changed(valid, "pinA", "pinA") == valid
    moved = d.key_changed(valid, "pinA", "pinB")
    assert moved.due and moved.code == d.KEY_CHANGED and "pinB" in moved.reason
    adopt = d.key_changed(valid, "pinA", None)
    assert adopt.due and adopt.code == d.KEY_CHANGED and "holds no key" in adopt.reason
    due = d.decide(None, WWW, now=NOW)
    assert d.key_changed(due, None, "pinB") == due


def test_the_decision_does_not_import_the_acme_network_stack():
    """The decide step imports decision in every forked worker, once per host and run: requests and acme (0.09 s)
    must load only when ARI fetches (renewal imports .network inside the functions that use it)."""
    import subprocess
    import sys
    code = ("import sys; import ansible_collections.certfleet.tls.plugins.module_utils._acme.decision; "
            "print(sorted(m for m in ('requests', 'acme', 'ansible_collections.certfleet.tls.plugins.module_utils."
            "_acme.network') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": ":".join(sys.path)}).stdout.strip()
    assert loaded == "[]", "imported at decision import time: %s" % loaded
