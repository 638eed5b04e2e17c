"""dns-01, DNS records and CAA against the rig's real BIND 9 (and Pebble, which resolves through it).

Every check of what DNS holds is a dnspython query from the control node to BIND, independent of the module under
test; BIND's own log (queries and updates) says what was sent to it. The rig changes records with nsupdate, the
collection with its dnspython core: two clients that must agree.
"""

import uuid

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.update
import pytest

import rig as rigmod
from rigtools import BASE
from ansible_collections.certfleet.tls.plugins.module_utils._acme import orders
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils._dns import client, update
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys
from ansible_collections.certfleet.tls.plugins.module_utils._tls.x509info import load_certificate, split_pem_chain
from ansible_collections.certfleet.tls.plugins.module_utils.errors import ValidationFailed

PEBBLE_CAA_IDENTITY = "pebble.letsencrypt.org"  # Pebble's directory lists no caaIdentities: the option says who it is
TLSA_1 = "3 1 1 " + "a1" * 32
TLSA_2 = "3 1 1 " + "b2" * 32


@pytest.fixture(scope="module")
def dns_rig(rig):
    return rig["dns"]


def unique(label):
    """A fresh name per test run: BIND keeps records until named restarts."""
    return "%s-%s.test" % (label, uuid.uuid4().hex[:8])


def dig(info, name, rtype, recursion=False):
    """What BIND answers for name/type: values as text (TXT joined). recursion=True asks like Pebble's resolver."""
    query = dns.message.make_query(name.rstrip(".") + ".", rtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    response = dns.query.tcp(query, info["server"], port=info["port"], timeout=5)
    values = []
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rtype):
            values += [b"".join(r.strings).decode() if rtype == "TXT" else r.to_text() for r in rrset]
    return sorted(values)


def updates_since(mark):
    """BIND's log of the updates it applied since `mark`."""
    return [line for line in rigmod.named_log_since(mark, base=BASE).splitlines() if "updating zone" in line]


def record_args(info, delegated=False, **args):
    out = dict(server=info["server"], port=info["port"], timeout=5,
               tsig_key_file=info["delegated_tsig_key_file" if delegated else "tsig_key_file"])
    out.update(args)
    return out


# -- dns_record: idempotence, check mode and diff ----------------------------------------------------------------
@pytest.mark.parametrize("rtype, first, second, shown", [
    ("TXT", "dns-01 digest", "another challenge", '"dns-01 digest"'),
    ("TLSA", TLSA_1, TLSA_2, TLSA_1),
    ("CAA", '0 issue "letsencrypt.org"', '0 issuewild ";"', '0 issue "letsencrypt.org"'),
])
def test_dns_record_is_idempotent_with_check_mode_and_diff(module_runner, dns_rig, rtype, first, second, shown):
    name = unique(rtype.lower())
    if rtype == "TLSA":
        name = "_443._tcp." + name
    args = record_args(dns_rig, record=name, type=rtype, values=[first])
    mark = rigmod.named_log_mark(base=BASE)["offset"]

    checked = module_runner("dns_record", args, check_mode=True, diff=True)
    assert checked["changed"] and checked["updates"] == [], checked
    assert checked["diff"]["before"] == "" and "%s. 300 IN %s %s" % (name, rtype, shown) in checked["diff"]["after"]
    assert dig(dns_rig, name, rtype) == [] and updates_since(mark) == []  # check mode sent nothing

    placed = module_runner("dns_record", args, diff=True)
    assert placed["changed"] and placed["updates"] == [{"zone": "test", "server": "127.0.0.1:5053", "records": 1}]
    assert placed["records"][0]["zone"] == "test" and placed["records"][0]["after"] == [first]
    assert dig(dns_rig, name, rtype) == [first]

    mark = rigmod.named_log_mark(base=BASE)["offset"]
    again = module_runner("dns_record", args, diff=True)
    assert not again["changed"] and again["updates"] == [] and again["diff"]["before"] == again["diff"]["after"]
    assert not module_runner("dns_record", args, check_mode=True)["changed"]
    assert updates_since(mark) == []  # idempotent: nothing sent

    # a second value: added beside the first (a concurrent challenge), or replacing it with exclusive
    more = module_runner("dns_record", dict(args, values=[second]), diff=True)
    assert more["changed"] and dig(dns_rig, name, rtype) == sorted([first, second])
    only = module_runner("dns_record", dict(args, values=[second], exclusive=True), diff=True)
    assert only["changed"] and dig(dns_rig, name, rtype) == [second]
    assert shown in only["diff"]["before"] and shown not in only["diff"]["after"]

    gone_check = module_runner("dns_record", dict(args, state="absent", values=None), check_mode=True)
    assert gone_check["changed"] and dig(dns_rig, name, rtype) == [second]
    gone = module_runner("dns_record", dict(args, state="absent", values=None))
    assert gone["changed"] and dig(dns_rig, name, rtype) == []
    assert not module_runner("dns_record", dict(args, state="absent", values=None))["changed"]


# -- TSIG errors ------------------------------------------------------------------------------------------------
def test_a_bad_tsig_key_is_a_clear_error_and_changes_nothing(module_runner, dns_rig, tmp_path):
    name = unique("badkey")
    base = dict(server=dns_rig["server"], port=dns_rig["port"], timeout=5, record=name, type="TXT", values=["v"])
    wrong = module_runner("dns_record", dict(base, tsig_key_name="certfleet-test",
                                             tsig_key_secret="c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBzZXJ2ZXIncw=="))
    assert wrong["failed"] and "BADSIG" in wrong["msg"] and "'certfleet-test'" in wrong["msg"], wrong
    assert "127.0.0.1:5053" in wrong["msg"] and not wrong.get("changed")
    unknown = module_runner("dns_record", dict(base, tsig_key_name="nobody",
                                               tsig_key_secret="c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBzZXJ2ZXIncw=="))
    assert unknown["failed"] and "does not know TSIG key 'nobody' (BADKEY" in unknown["msg"], unknown
    # the delegated zone's key may update that zone only (BIND's update-policy)
    refused = module_runner("dns_record", dict(base, tsig_key_file=dns_rig["delegated_tsig_key_file"]))
    assert refused["failed"] and "REFUSED" in refused["msg"] and "zone test" in refused["msg"], refused
    assert "'certfleet-acme-delegated'" in refused["msg"]
    assert dig(dns_rig, name, "TXT") == []


# -- CNAME delegation ------------------------------------------------------------------------------------------
def test_cname_delegated_txt_goes_to_the_delegated_zone_with_its_own_key(module_runner, dns_rig):
    domain = unique("deleg")
    delegation = rigmod.delegate_acme_challenge(domain, base=BASE)
    record = "_acme-challenge." + domain
    args = record_args(dns_rig, delegated=True, record=record, type="TXT", values=["delegated digest"], wait=True)
    placed = module_runner("dns_record", args)
    assert placed["changed"], placed
    result = placed["records"][0]
    assert result["name"] == delegation["target"] and result["zone"] == "acme-delegated.test"
    assert result["cname_chain"] == [record, delegation["target"]]
    assert placed["propagation"]["servers"] == ["ns1.test (127.0.0.1:5053)"]
    # what the CA's resolver sees: the CNAME, followed into the delegated zone
    assert dig(dns_rig, record, "TXT", recursion=True) == ["delegated digest"]
    assert dig(dns_rig, delegation["target"], "TXT") == ["delegated digest"]
    assert dig(dns_rig, record, "CNAME") == [delegation["target"] + "."]  # the main zone only holds the CNAME
    refused = module_runner("dns_record", dict(args, follow_cname=False))
    assert refused["failed"] and "is a CNAME to" in refused["msg"] and "follow_cname" in refused["msg"]
    assert not module_runner("dns_record", args)["changed"]
    removed = module_runner("dns_record", dict(args, state="absent"))
    assert removed["changed"] and dig(dns_rig, record, "TXT", recursion=True) == []


def lag_ns(info, action):
    """Add or delete the NS ns-lag.test. of the delegated zone (one RR: deleting a zone's whole NS RRset is
    ignored by the server, RFC 2136 §3.4.2.4)."""
    primary, key = core_dns(info, delegated=True)
    message = dns.update.UpdateMessage(info["delegated_zone"], keyring=key.dns_key)
    if action == "add":
        message.add(info["delegated_zone"] + ".", 30, "NS", "ns-lag.test.")
    else:
        message.delete(info["delegated_zone"] + ".", "NS", "ns-lag.test.")
    primary.send_update(message, dns.name.from_text(info["delegated_zone"]), key.name)


def test_wait_names_the_server_that_lags(module_runner, dns_rig):
    """A second NS for the delegated zone at an address where no server listens: the wait must name it."""
    zone = dns_rig["delegated_zone"]
    rigmod.set_dns_records("ns-lag.test", "A", ["127.0.0.9"], base=BASE)
    lag_ns(dns_rig, "add")
    record = "lag-%s.%s" % (uuid.uuid4().hex[:8], zone)
    try:
        args = record_args(dns_rig, delegated=True, record=record, type="TXT", values=["v"], wait=True,
                           wait_timeout=2, timeout=0.3)
        lagging = module_runner("dns_record", args)
        assert lagging["failed"] and lagging["changed"], lagging  # the update went out: changed, even on failure
        assert "1 of 2 authoritative servers still lag after 2 s" in lagging["msg"]
        assert "ns-lag.test (127.0.0.9:5053)" in lagging["msg"] and lagging["lagging"] == ["ns-lag.test (127.0.0.9:5053)"]
        assert dig(dns_rig, record, "TXT") == ["v"]
    finally:
        lag_ns(dns_rig, "delete")
        rigmod.set_dns_records("ns-lag.test", "A", [], base=BASE)
        rigmod.set_dns_records(record, "TXT", [], base=BASE)


# -- dns-01 preflight --------------------------------------------------------------------------------------------
def test_probe_proves_key_and_servers_then_leaves_nothing(module_runner, dns_rig):
    domain = unique("probe")
    record = "_acme-challenge." + domain
    rigmod.delegate_acme_challenge(domain, base=BASE)
    mark = rigmod.named_log_mark(base=BASE)["offset"]
    probed = module_runner("dns_record", record_args(dns_rig, delegated=True, records=[{"record": record}],
                                                     state="probe"))
    assert not probed["changed"] and probed["probe"]["servers"] == ["ns1.test (127.0.0.1:5053)"], probed
    assert probed["probe"]["records"][0]["zone"] == "acme-delegated.test"
    value = probed["probe"]["value"]
    applied = updates_since(mark)
    assert len([u for u in applied if "adding an RR" in u and value in u]) == 1
    target = probed["probe"]["records"][0]["name"]
    assert len([u for u in applied if "deleting an RR at %s TXT" % target in u]) == 1  # BIND logs no value here
    assert dig(dns_rig, record, "TXT", recursion=True) == []
    # the main zone's key cannot write there: the probe fails before any order, naming zone and key
    refused = module_runner("dns_record", record_args(dns_rig, records=[{"record": record}], state="probe"))
    assert refused["failed"] and "REFUSED" in refused["msg"] and "acme-delegated.test" in refused["msg"], refused


# -- CAA preflight ---------------------------------------------------------------------------------------------
def caa_args(rig_info, domains, **extra):
    args = dict(domains=domains, acme_directory=rig_info["pebble_directory"], acme_ca_bundle=rig_info["pebble_ca"],
                caa_identities=[PEBBLE_CAA_IDENTITY], resolver=rig_info["dns"]["server"],
                resolver_port=rig_info["dns"]["port"], timeout=5)
    args.update(extra)
    return args


def test_caa_forbidding_the_ca_fails_naming_record_and_ca_and_allowing_passes(module_runner, rig):
    apex = unique("caa")
    rigmod.set_dns_records(apex, "CAA", ['0 issue "letsencrypt.org"'], base=BASE)
    forbidden = module_runner("caa_check", caa_args(rig, ["www." + apex, apex]))
    assert forbidden["failed"] and forbidden["forbidden"] == ["www." + apex, apex], forbidden
    assert '0 issue "letsencrypt.org"' in forbidden["msg"] and "https://127.0.0.1:14000/dir" in forbidden["msg"]
    assert PEBBLE_CAA_IDENTITY in forbidden["msg"] and forbidden["identities_source"] == "option"
    assert forbidden["results"][0]["caa_owner"] == apex  # found by climbing from www.<apex>

    rigmod.set_dns_records(apex, "CAA", ['0 issue "%s"' % PEBBLE_CAA_IDENTITY, '0 issuewild ";"'], base=BASE)
    allowed = module_runner("caa_check", caa_args(rig, ["www." + apex, "*." + apex], fail_on_forbidden=False))
    assert not allowed.get("failed") and allowed["forbidden"] == ["*." + apex], allowed  # issuewild ";" forbids *.
    assert allowed["results"][0]["allowed"] and allowed["results"][0]["matched"] == '0 issue "%s"' % PEBBLE_CAA_IDENTITY
    free = module_runner("caa_check", caa_args(rig, [unique("nocaa")]))
    assert free["allowed"] and free["results"][0]["caa_owner"] is None


# -- dns-01 against Pebble + BIND --------------------------------------------------------------------------------
def test_acme_order_issues_a_wildcard_and_its_apex_by_dns01(module_runner, rig, tmp_path):
    info = rig["dns"]
    apex = unique("wild")
    key_path = tmp_path / "wild.key"
    key_path.write_bytes(keys.private_key_to_pem(keys.generate_private_key()))
    order_args = dict(acme_directory=rig["pebble_directory"], acme_ca_bundle=rig["pebble_ca"],
                      account_key_path=rig["account_key"], acme_terms_agreed=True, acme_timeout=60,
                      challenge_type="dns-01", private_key_path=str(key_path), domains=["*." + apex, apex])
    first = module_runner("acme_order", order_args)
    assert not first.get("failed"), first
    assert sorted(c["record"] for c in first["challenges"]) == ["_acme-challenge." + apex] * 2
    assert first["dns_records"] == [{"record": "_acme-challenge." + apex, "type": "TXT",
                                     "values": [c["value"] for c in first["challenges"]]}]
    placed = module_runner("dns_record", record_args(info, records=first["dns_records"], wait=True))
    assert placed["changed"] and len(placed["updates"]) == 1, placed  # both values in one update
    try:
        issued = module_runner("acme_order", dict(order_args, order_url=first["order_url"],
                                                  challenges=first["challenges"], account_uri=first["account_uri"]))
    finally:
        removed = module_runner("dns_record", record_args(info, records=first["dns_records"], state="absent"))
    assert not issued.get("failed"), issued
    assert sorted(issued["facts"]["domains"]) == sorted(["*." + apex, apex])
    assert removed["changed"] and dig(info, "_acme-challenge." + apex, "TXT") == []


def core_dns(info, delegated=False):
    key_file = info["delegated_tsig_key_file" if delegated else "tsig_key_file"]
    with open(key_file) as handle:
        key = client.TsigKey(*client.parse_bind_key_file(handle.read(), key_file))
    return client.Nameserver(info["server"], info["port"], timeout=5), key


def pebble_session(rig_info):
    with open(rig_info["account_key"], "rb") as handle:
        account_key = handle.read()
    sess = AcmeSession(rig_info["pebble_directory"], account_key, ca_bundle=rig_info["pebble_ca"],
                       policy=RetryPolicy(timeout=60))
    sess.ensure_account(contact="ops@example.org", terms_agreed=True)
    return sess


def issue_by_dns01(rig_info, names, delegated=False, wrong_value=False):
    """The dns-01 flow at the core level: order, place the TXT records (one update per zone, waited for),
    validate and finalize, and remove the records whatever happened. Returns (result or error, records)."""
    sess = pebble_session(rig_info)
    primary, key = core_dns(rig_info["dns"], delegated)
    csr = keys.make_csr(keys.generate_private_key(), names).decode()
    created = orders.create_order(sess, dict(name=names[0], csr_pem=csr), "dns-01")
    wanted = [dict(r, values=["not-the-digest"]) if wrong_value else r for r in created["dns_records"]]
    requests = update.requests_from(wanted)
    try:
        update.ensure_records(primary, key, requests, "present", wait=True, wait_timeout=20)
        try:
            return orders.finalize_order(sess, dict(created, csr_pem=csr), poll=orders.PollPolicy(first=0.02)), wanted
        except ValidationFailed as error:
            return error, wanted
    finally:
        update.ensure_records(primary, key, update.requests_from(wanted), "absent")


@pytest.mark.parametrize("delegated", [False, True], ids=["in-zone", "cname-delegated"])
def test_core_dns01_issues_and_the_txt_records_are_gone_afterwards(rig, delegated):
    domain = unique("core")
    if delegated:
        rigmod.delegate_acme_challenge(domain, base=BASE)
    result, wanted = issue_by_dns01(rig, [domain], delegated=delegated)
    assert isinstance(result, dict) and result["facts"]["domains"] == [domain], result
    leaf = load_certificate(split_pem_chain(result["fullchain"])[0])
    assert leaf.serial_number == int(result["facts"]["serial"], 16)
    assert [w["record"] for w in wanted] == ["_acme-challenge." + domain]
    assert dig(rig["dns"], "_acme-challenge." + domain, "TXT", recursion=True) == []


def test_core_dns01_failed_validation_also_removes_the_txt_records(rig):
    domain = unique("fail")
    result, wanted = issue_by_dns01(rig, [domain], wrong_value=True)
    assert isinstance(result, ValidationFailed), result
    assert domain in result.msg and result.details["subproblems"]
    assert wanted[0]["values"] == ["not-the-digest"]
    assert dig(rig["dns"], "_acme-challenge." + domain, "TXT", recursion=True) == []
