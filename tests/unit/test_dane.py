"""The TLSA records the certificate role publishes (plugins/plugin_utils/dane.py), from certificate_results."""

import base64
import hashlib
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.certfleet.tls.plugins.plugin_utils import dane


def new_key():
    """(pin-sha256, the key's public half in PEM)."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode(), pem


ACTIVE, ACTIVE_PEM = new_key()
BACKUP = new_key()[0]
OLD = new_key()[0]


def hexof(pin):
    return base64.b64decode(pin).hex()


def entry(name, domains, served, pins=True, **extra):
    result = {"name": name, "domains": domains, "spki_sha256": served, "managed": True}
    if pins:
        result["pins"] = {"active": ACTIVE, "backup": BACKUP}
    result.update(extra)
    return result


def hostvars_of(**hosts):
    return dict((host, {"certificate_results": results}) for host, results in hosts.items())


def test_active_and_backup_records_for_every_name_and_no_served_extra_when_the_active_key_is_live():
    hostvars = hostvars_of(web1=[entry("www.example.org", ["www.example.org", "example.org"], ACTIVE)])
    out = dane.tlsa_publication(["web1"], hostvars, ttl=600)
    assert [r["record"] for r in out["records"]] == ["_443._tcp.www.example.org.", "_443._tcp.example.org."]
    for record in out["records"]:
        assert record["type"] == "TLSA" and record["ttl"] == 600
        assert record["values"] == ["3 1 1 %s" % hexof(ACTIVE), "3 1 1 %s" % hexof(BACKUP)]
    assert out["certificates"] == [{"name": "www.example.org", "pins": {"active": ACTIVE, "backup": BACKUP},
                                    "owners": ["_443._tcp.www.example.org.", "_443._tcp.example.org."],
                                    "hosts": ["web1"]}]
    assert out["zone_lines"][0] == "_443._tcp.www.example.org. 600 IN TLSA 3 1 1 %s" % hexof(ACTIVE)


def test_the_data_is_the_sha256_of_the_spki_as_openssl_computes_it():
    """Independent computation: openssl pkey -pubin -outform der | sha256."""
    hostvars = hostvars_of(web1=[entry("a.example.org", ["a.example.org"], ACTIVE)])
    record = dane.tlsa_publication(["web1"], hostvars)["records"][0]
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=ACTIVE_PEM, capture_output=True,
                         check=True).stdout
    assert record["values"][0] == "3 1 1 " + hashlib.sha256(der).hexdigest()


def test_a_key_still_served_after_a_rotation_stays_published_until_the_new_key_is_live():
    hostvars = hostvars_of(web1=[entry("a.example.org", ["a.example.org"], OLD)])
    out = dane.tlsa_publication(["web1"], hostvars)
    assert out["records"][0]["values"] == ["3 1 1 %s" % hexof(pin) for pin in (ACTIVE, BACKUP, OLD)]
    # the store is told about its own keys only: the served old key is not one of them
    assert out["certificates"][0]["pins"] == {"active": ACTIVE, "backup": BACKUP}
    assert out["certificates"][0]["served_outside_store"] == [{"host": "web1", "pin": OLD}]


def test_backends_of_one_name_give_one_rrset_the_union_of_what_they_serve():
    hostvars = hostvars_of(web1=[entry("lb.example.org", ["lb.example.org"], ACTIVE)],
                           web2=[entry("lb.example.org", ["lb.example.org"], OLD)])
    out = dane.tlsa_publication(["web1", "web2"], hostvars)
    assert len(out["records"]) == 1
    assert out["records"][0]["values"] == ["3 1 1 %s" % hexof(pin) for pin in (ACTIVE, BACKUP, OLD)]
    assert out["certificates"][0]["hosts"] == ["web1", "web2"]


def test_no_records_for_keys_made_at_each_issue_nor_wildcards_nor_unmanaged_entries():
    hostvars = hostvars_of(web1=[entry("fresh.example.org", ["fresh.example.org"], OLD, pins=False),
                                 entry("wild", ["*.example.org"], ACTIVE),
                                 entry("gone.example.org", ["gone.example.org"], ACTIVE, managed=False)])
    out = dane.tlsa_publication(["web1"], hostvars)
    assert out["records"] == [] and out["zone_lines"] == []
    assert out["certificates"] == []  # nothing published: the store must not start a pin-safety clock


def test_per_certificate_ports_win_over_the_hosts_default():
    hostvars = {"mx1": {"certificate_results": [entry("mx.example.org", ["mx.example.org"], ACTIVE),
                                                entry("web.example.org", ["web.example.org"], ACTIVE)],
                        "certificate_requests": [{"domains": ["mx.example.org"], "dir": "/etc/mx", "tlsa_ports": [25, 465]},
                                                 {"domains": ["web.example.org"], "dir": "/etc/web"}],
                        "certificate_tlsa_ports": [443, 8443]}}
    owners = [r["record"] for r in dane.tlsa_publication(["mx1"], hostvars)["records"]]
    assert owners == ["_25._tcp.mx.example.org.", "_465._tcp.mx.example.org.",
                      "_443._tcp.web.example.org.", "_8443._tcp.web.example.org."]


@pytest.mark.parametrize("ports,message", [([], "non-empty list"), ([0], "1-65535"), (["443"], "1-65535"),
                                           ("443", "non-empty list")])
def test_bad_ports_name_the_host_and_the_certificate(ports, message):
    hostvars = {"web1": {"certificate_results": [entry("a.example.org", ["a.example.org"], ACTIVE)],
                         "certificate_tlsa_ports": ports}}
    with pytest.raises(dane.DaneError) as error:
        dane.tlsa_publication(["web1"], hostvars)
    assert "host web1, certificate a.example.org" in str(error.value) and message in str(error.value)


def test_a_bad_pin_or_ttl_is_refused_by_name():
    bad = entry("a.example.org", ["a.example.org"], ACTIVE)
    bad["pins"] = {"active": "not-a-pin", "backup": BACKUP}
    with pytest.raises(dane.DaneError, match="certificate a.example.org, active key: 'not-a-pin'"):
        dane.tlsa_publication(["web1"], hostvars_of(web1=[bad]))
    with pytest.raises(dane.DaneError, match="certificate_tlsa_ttl"):
        dane.tlsa_publication(["web1"], hostvars_of(web1=[]), ttl=-1)


@pytest.mark.parametrize("served,expected", [(ACTIVE, "active"), (BACKUP, "backup"), (OLD, "neither"), (None, None)])
def test_pin_role(served, expected):
    assert dane.pin_role(served, {"active": ACTIVE, "backup": BACKUP}) == expected
    assert dane.pin_role(served, {}) is None


def test_this_runs_outcomes_win_over_the_results_of_an_earlier_play():
    """The role publishes before the task that sets certificate_results (and may fail the host): a host's new
    results come from the play's fleet_outcomes; a host outside them (another batch) keeps its certificate_results."""
    hostvars = hostvars_of(web1=[entry("a.example.org", ["a.example.org"], OLD)],
                           web2=[entry("b.example.org", ["b.example.org"], OLD)])
    outcomes = {"web1": {"results": [entry("a.example.org", ["a.example.org"], ACTIVE)], "failures": []}}
    out = dane.tlsa_publication(["web1", "web2"], hostvars, outcomes=outcomes)
    by_owner = dict((r["record"], r["values"]) for r in out["records"])
    assert by_owner["_443._tcp.a.example.org."] == ["3 1 1 %s" % hexof(pin) for pin in (ACTIVE, BACKUP)]
    assert by_owner["_443._tcp.b.example.org."] == ["3 1 1 %s" % hexof(pin) for pin in (ACTIVE, BACKUP, OLD)]
