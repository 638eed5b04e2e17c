"""DANE through the certificate role (certificate_tlsa_publish) on the rig: the TLSA records of a pinned
certificate reach BIND by RFC 2136, follow a planned rotation, and a DNS failure fails the host by name.

Checked from outside the role: dnspython queries to BIND (what the zone holds), BIND's log (what was updated), the
key store's state.json (what it records as published), TLS handshakes (which key host1 serves). host1's own
certificate (host1.test, http-01) with key_policy pinned; its records live at _443._tcp.host1.test in the rig's
`test.` zone, which BIND keeps until it restarts: the test clears them before and after.

Five playbook runs on one host, about a minute: issue, the same run again, a run with a bad TSIG key while the
records need a change, a planned rotation, the report.
"""

import base64
import json
import os

import pytest

import rig as rigmod
from rigtools import BASE, run_playbook
from test_dns_role import NamedLog, dig, dns_vars
from test_rotation import served_pin, store_state

OWNER = "_443._tcp.host1.test"


def tlsa(*pins):
    return sorted("3 1 1 %s" % base64.b64decode(pin).hex() for pin in pins)


def run(playbook, store, tmp_path, **extra):
    variables = dict(dns_vars(), certificate_key_store=store, certificate_key_policy="pinned",
                     certificate_tlsa_publish=True, certificate_tlsa_ttl=300)
    variables.update(extra)
    return run_playbook("certfleet.tls.%s" % playbook, "-e", json.dumps(variables), limit="host1")


@pytest.fixture
def clean_tlsa(fresh_rig):
    rigmod.set_dns_records(OWNER, "TLSA", [], base=BASE)
    yield
    rigmod.set_dns_records(OWNER, "TLSA", [], base=BASE)


def test_tlsa_records_follow_the_keys_quietly_and_a_dns_failure_is_loud(fresh_rig, clean_tlsa, tmp_path):
    store = str(tmp_path / "keys")

    named = NamedLog()
    first = run("issue", store, tmp_path)
    assert first.rc == 0, first
    dummy, state = store_state(store, "host1.test")
    active, backup = state["active"]["pin"], state["backup"]["pin"]
    assert served_pin(1) == active
    assert dig(OWNER, "TLSA") == tlsa(active, backup)
    assert [u for u in named.updates() if u[4] == OWNER + "." or u[4] == OWNER], named.updates()
    # the store's pin-safety clock starts only now that every authoritative server answers both records
    assert set(state["published"]) >= {active, backup}, state["published"]

    named = NamedLog()
    second = run("issue", store, tmp_path)
    assert second.rc == 0 and second.recap["host1"]["changed"] == 0, second
    assert named.updates() == [], "records already right: no update sent"
    assert store_state(store, "host1.test")[1]["published"] == state["published"], "the first publication counts"

    # A record someone changed by hand, and a TSIG key the server does not know: the host fails, naming the
    # records and the DNS error; its certificate stays served.
    rigmod.set_dns_records(OWNER, "TLSA", ["3 1 1 " + "00" * 32], base=BASE)
    bad_key = tmp_path / "bad.key"
    bad_key.write_text('key "certfleet-test" {\n\talgorithm hmac-sha256;\n\tsecret "%s";\n};\n'
                       % base64.b64encode(b"\x01" * 32).decode())
    os.chmod(str(bad_key), 0o600)
    failed = run("issue", store, tmp_path, certificate_dns_tsig_key_file=str(bad_key))
    assert failed.rc != 0, failed
    assert "TLSA records not published (%s.)" % OWNER in failed.out, failed.out[-3000:]
    assert served_pin(1) == active
    assert dig(OWNER, "TLSA") == ["3 1 1 " + "00" * 32]

    # A planned rotation (no wait: max_age and TTL 0) republishes: the old backup is active, a new backup is
    # published, the old active key is gone from DNS and the record someone wrote by hand is replaced.
    rotated = run("rotate", store, tmp_path, rotate_max_age=0, rotate_tlsa_ttl=0)
    assert rotated.rc == 0, rotated
    dummy, state = store_state(store, "host1.test")
    assert state["active"]["pin"] == backup and state["backup"]["pin"] not in (active, backup)
    assert served_pin(1) == backup
    assert dig(OWNER, "TLSA") == tlsa(backup, state["backup"]["pin"])
    assert state["backup"]["pin"] in state["published"]

    # The report says which of the store's keys the host serves (issue 9): the new active one.
    report_path = tmp_path / "report.json"
    before = store_state(store, "host1.test")[1]
    report = run("report", store, tmp_path, report_json_path=str(report_path))
    assert report.rc == 0, report
    entry = [e for e in json.loads(report_path.read_text())["certificates"] if e["host"] == "host1"][0]
    assert (entry["pin_role"], entry["pin_mismatch"]) == ("active", False), entry
    assert entry["store_pins"] == {"active": backup, "backup": state["backup"]["pin"]}
    assert store_state(store, "host1.test")[1] == before, "the report only read the store"
