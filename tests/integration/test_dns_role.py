"""dns-01 through the certificate role (certfleet.tls.issue) on the rig: BIND 9 holds the zones, Pebble validates
against it, and the hosts' web servers serve what the role deployed.

Every claim is checked from outside the role: dnspython queries from the control node to BIND (what the zone holds
now), BIND's own log (what was updated), Pebble's log (what was ordered and how it was validated) and TLS handshakes
verified against Pebble's root (what the web server serves). Names are fresh per run: BIND keeps records until named
restarts.

Five playbook runs, under 50 s in all: wildcard + apex, then the same run again (nothing due); a name whose address has no port-80
listener, through CNAME delegation, under a CAA record that allows the CA; a split-horizon delegation that the CA
cannot see (a failed validation); a bad TSIG key and a CAA record that forbids the CA (both before any order).
"""

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.request
import uuid

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import rig as rigmod
from rigtools import BASE, run_playbook, served_certificate

PEBBLE_CAA_IDENTITY = "pebble.letsencrypt.org"  # Pebble's directory lists no caaIdentities (docs/dns-01.md)
CHALLTESTSRV = ("127.0.0.1", 8053, "http://127.0.0.1:8055")  # the rig's mock DNS: here, an internal resolver
NO_PORT_80 = "127.0.2.2"  # a loopback address where host2's nginx listens on 443 only


def unique(label):
    return "%s-%s.test" % (label, uuid.uuid4().hex[:8])


def host_path(host, *parts):
    return os.path.join(BASE, "hosts", host, *parts)


def nginx(host, *args):
    prefix = host_path(host, "nginx") + "/"
    return ["/usr/sbin/nginx", "-p", prefix, "-c", "conf/nginx.conf", "-e", prefix + "logs/error.log"] + list(args)


def placeholder(directory, common_name):
    """A self-signed pair in <directory>/placeholder and live -> placeholder: what a web role installs first."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    os.makedirs(os.path.join(directory, "placeholder"))
    with open(os.path.join(directory, "placeholder", "fullchain.pem"), "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(os.path.join(directory, "placeholder", "privkey.pem"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.symlink("placeholder", os.path.join(directory, "live"))


def serve(host, conf_name, listen, server_name, directory):
    """An nginx TLS server block in the host's conf.d for `directory`/live, and a reload (reset_hosts removes it)."""
    block = ("server {\n  listen %s ssl;\n  server_name %s;\n  ssl_certificate %s/live/fullchain.pem;\n"
             "  ssl_certificate_key %s/live/privkey.pem;\n"
             "  location / { default_type text/plain; return 200 \"%s\\n\"; }\n}\n"
             % (listen, server_name, directory, directory, conf_name))
    with open(host_path(host, "nginx", "conf.d", conf_name + ".conf"), "w") as handle:
        handle.write(block)
    subprocess.run(nginx(host, "-s", "reload"), check=True, capture_output=True)


@pytest.fixture
def certs_dir(fresh_rig):
    """A scratch directory for the certificates of this test, on every host (all hosts share the machine)."""
    directory = os.path.join(BASE, "dns-role-certs")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    yield directory
    rigmod.reset_hosts(base=BASE)  # drops the conf.d blocks before their certificate files go
    shutil.rmtree(directory, ignore_errors=True)


# -- what BIND holds and logs --------------------------------------------------------------------------------------
def dig(name, rtype, server=("127.0.0.1", 5053), recursion=False):
    """What a DNS server answers for name/type (values as text, TXT joined). recursion=True asks as Pebble does."""
    query = dns.message.make_query(name.rstrip(".") + ".", rtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    response = dns.query.tcp(query, server[0], port=server[1], timeout=5)
    values = []
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rtype):
            values += [b"".join(r.strings).decode() if rtype == "TXT" else r.to_text() for r in rrset]
    return sorted(values)


class NamedLog:
    """BIND's log since the mark: `updates` the RRs it changed, `queries` what it was asked."""

    def __init__(self):
        self.offset = rigmod.named_log_mark(base=BASE)["offset"]

    def lines(self):
        return rigmod.named_log_since(self.offset, base=BASE).splitlines()

    def updates(self):
        """[(client, key, zone, 'adding'|'deleting', owner, rest)]; client is the UDP/TCP source of one message."""
        out = []
        for line in self.lines():
            match = re.search(r"client @\S+ (\S+)/key (\S+): updating zone '([^/]+)/IN': (adding|deleting) an RR "
                              r"at '?([^' ]+)'? (.*)$", line)
            if match:
                out.append(match.groups())
        return out

    def queries(self):
        return [line for line in self.lines() if " query: " in line]


def added(updates, owner):
    return [u for u in updates if u[3] == "adding" and u[4] == owner and "certfleet-probe-" not in u[5]]


def pebble_validations(text):
    """(names Pebble validated, names it dialled over HTTP for http-01) in Pebble's log text."""
    identifiers = re.findall(r'Identifier:acme\.Identifier\{Type:"dns", Value:"([^"]+)"\}', text)
    http = re.findall(r"Attempting to validate w/ HTTP: http://([^:/]+)", text)
    return identifiers, http


def failure(run, host):
    """The message of the host's last failed task (Ansible's `fatal: [host]: FAILED! => {...}` line)."""
    found = re.findall(r"^fatal: \[%s\]: FAILED! => (\{.*\})$" % re.escape(host), run.out, re.M)
    assert found, run
    return json.loads(found[-1])["msg"]


def order_count(log):
    return len([r for r in log.requests() if r[1].startswith("/order-plz")])


# -- running the role ----------------------------------------------------------------------------------------------
def dns_vars(delegated=False):
    """The role's dns-01 variables, taken from the rig's inventory (rig_dns_*)."""
    prefix = "rig_dns_delegated_" if delegated else "rig_dns_"
    return {"certificate_dns_server": "{{ rig_dns_server }}", "certificate_dns_port": "{{ rig_dns_port }}",
            "certificate_dns_tsig_key_file": "{{ %stsig_key_file }}" % prefix,
            "certificate_dns_tsig_key_name": "{{ %stsig_key_name }}" % prefix,
            "certificate_dns_resolver": "{{ rig_dns_server }}", "certificate_dns_resolver_port": "{{ rig_dns_port }}",
            "certificate_caa_identities": [PEBBLE_CAA_IDENTITY]}


def issue(requests, limit, **extra):
    variables = dict(dns_vars(), certificate_requests=requests)
    variables.update(extra)
    return run_playbook("certfleet.tls.issue", "-e", json.dumps(variables), limit=limit)


def live_certificate(directory):
    with open(os.path.join(directory, "live", "cert.pem"), "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def sans(cert):
    return sorted(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                  .get_values_for_type(x509.DNSName))


# -- the tests -----------------------------------------------------------------------------------------------------
def test_wildcard_and_apex_by_dns01_served_for_any_name_then_a_quiet_second_run(fresh_rig, certs_dir, pebble_log):
    root = fresh_rig["pebble_root"]
    apex = unique("wild")
    record = "_acme-challenge." + apex
    directory = os.path.join(certs_dir, "wild")
    placeholder(directory, apex)
    serve("host1", "dns-wild", "127.0.1.1:443", "." + apex, directory)  # ".apex": the apex and every name below it
    request = [{"domains": ["*." + apex, apex], "dir": directory, "challenge": "dns-01"}]

    named, log = NamedLog(), pebble_log()
    first = issue(request, "host1")
    assert first.rc == 0, first
    assert order_count(log) == 1, log.requests()
    identifiers, http = pebble_validations(rigmod.pebble_log_since(log.offset, base=BASE))
    assert identifiers == [apex, apex] and http == [], (identifiers, http)  # two authorizations, no HTTP at all
    # both digests at one name, in one UPDATE message (one client), then removed, by the role's key
    updates = named.updates()
    placed = added(updates, record)
    assert len(placed) == 2 and len(set(u[0] for u in placed)) == 1, updates
    assert set(u[1:3] for u in placed) == {("certfleet-test", "test")}
    assert [u for u in updates if u[3] == "deleting" and u[4] == record], updates
    assert dig(record, "TXT") == [] and dig(record, "TXT", recursion=True) == []

    # deployed, and served with Pebble's chain for a name nobody ever asked for, and for the apex
    random_name = "%s.%s" % (uuid.uuid4().hex[:12], apex)
    served = served_certificate("127.0.1.1", random_name, cafile=root)  # chain and hostname verified
    assert sans(served) == sorted(["*." + apex, apex])
    assert served.serial_number == live_certificate(directory).serial_number
    assert served_certificate("127.0.1.1", apex, cafile=root).serial_number == served.serial_number
    assert os.readlink(os.path.join(directory, "live")).startswith("releases/")
    assert re.search(r"host1 \*\.%s,%s serial=%x .*renewed" % (re.escape(apex), re.escape(apex), served.serial_number),
                     first.out), first.out[-3000:]  # the run's report line

    named, log = NamedLog(), pebble_log()
    second = issue(request, "host1")
    assert second.rc == 0 and second.recap["host1"]["changed"] == 0, second
    assert log.requests() == [], "nothing due: no request to the CA"
    assert named.updates() == [] and named.queries() == [], "nothing due: nothing sent to BIND"
    assert served_certificate("127.0.1.1", random_name, cafile=root).serial_number == served.serial_number


def test_cname_delegated_dns01_for_a_name_without_port_80_under_a_caa_that_allows_the_ca(fresh_rig, certs_dir,
                                                                                         pebble_log):
    """internal-*.test has its A record at an address where nothing listens on port 80 (host2's nginx has a TLS-only
    server there); its _acme-challenge is a CNAME into acme-delegated.test, and the role holds that zone's key only.
    Its CAA names two issuers, Pebble among them."""
    root = fresh_rig["pebble_root"]
    name = unique("internal")
    rigmod.set_dns(name, [NO_PORT_80], base=BASE)
    rigmod.set_dns_records(name, "CAA", ['0 issue "letsencrypt.org"', '0 issue "%s"' % PEBBLE_CAA_IDENTITY], base=BASE)
    delegation = rigmod.delegate_acme_challenge(name, base=BASE)
    directory = os.path.join(certs_dir, "internal")
    placeholder(directory, name)
    serve("host2", "dns-internal", NO_PORT_80 + ":443", name, directory)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dig(name, "A")[0], 80), timeout=2)  # what the CA would dial for http-01

    named, log = NamedLog(), pebble_log()
    run = issue([{"domains": [name], "dir": directory, "challenge": "dns-01"}], "host2",
                certificate_address=NO_PORT_80, **dns_vars(delegated=True))
    assert run.rc == 0, run
    assert order_count(log) == 1, log.requests()
    identifiers, http = pebble_validations(rigmod.pebble_log_since(log.offset, base=BASE))
    assert identifiers == [name] and http == [], (identifiers, http)
    assert [q for q in named.queries() if "query: %s IN CAA" % name in q], "the role read the CAA record"
    # the digest went to the end of the CNAME chain, in the delegated zone, with its key; the main zone untouched
    updates = named.updates()
    placed = added(updates, delegation["target"])
    assert len(placed) == 1 and placed[0][1:3] == ("certfleet-acme-delegated", "acme-delegated.test"), updates
    assert [u for u in updates if u[2] == "test"] == [], updates
    assert dig(delegation["target"], "TXT") == [] and dig(delegation["record"], "TXT", recursion=True) == []
    assert dig(delegation["record"], "CNAME") == [delegation["target"] + "."]  # the delegation stays

    served = served_certificate(NO_PORT_80, name, cafile=root)
    assert sans(served) == [name] and served.serial_number == live_certificate(directory).serial_number
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((NO_PORT_80, 80), timeout=2)


def challtestsrv(path, body):
    request = urllib.request.Request(CHALLTESTSRV[2] + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as response:
        assert response.status == 200


def test_a_validation_the_ca_fails_still_removes_the_txt_records(fresh_rig, certs_dir, pebble_log):
    """Split horizon: the control node's resolver (challtestsrv, an internal view) has the _acme-challenge CNAME into
    acme-delegated.test, the public zone in BIND (what Pebble reads) has none. The preflight passes (the delegated
    zone takes the probe and answers it); the CA finds no TXT record at the name and the validation fails. The TXT
    record the role placed must be gone all the same."""
    name = unique("split")
    record = "_acme-challenge." + name
    target = record + "." + fresh_rig["dns"]["delegated_zone"]
    challtestsrv("/set-cname", {"host": record + ".", "target": target + "."})
    internal_view = dns_vars(delegated=True)
    internal_view.update(certificate_dns_resolver=CHALLTESTSRV[0], certificate_dns_resolver_port=CHALLTESTSRV[1])
    try:
        assert dig(record, "CNAME", server=CHALLTESTSRV[:2]) == [target + "."] and dig(record, "CNAME") == []
        named, log = NamedLog(), pebble_log()
        run = issue([{"domains": [name], "dir": os.path.join(certs_dir, "split"), "challenge": "dns-01"}], "host1",
                    **internal_view)
    finally:
        challtestsrv("/clear-cname", {"host": record + "."})
    assert run.rc != 0, run
    assert order_count(log) == 1, log.requests()
    # the host fails naming the certificate, and the CA's own words: no TXT record where it looked
    message = failure(run, "host1")
    assert message.startswith("certificate %s: the CA could not validate %s" % (name, name)), message
    assert "TXT records for DNS challenge" in message and record in message, message
    updates = named.updates()
    placed = added(updates, target)
    assert len(placed) == 1 and placed[0][2] == "acme-delegated.test", updates
    assert [u for u in updates if u[3] == "deleting" and u[4] == target], "removed after the failed validation"
    assert dig(target, "TXT") == [] and dig(record, "TXT", recursion=True) == []
    assert not os.path.lexists(os.path.join(certs_dir, "split", "live")), "nothing deployed"


def test_a_bad_tsig_key_and_a_caa_that_forbids_the_ca_stop_before_any_order(certs_dir, pebble_log):
    """Two certificates of one run: an http-01 one whose parent name's CAA names another CA, and a dns-01 one for
    which the role holds a key with the right name and the wrong secret. Each fails by name, neither is ordered."""
    forbidden_apex, dns_name = unique("caa"), unique("badkey")
    forbidden = "www." + forbidden_apex
    rigmod.set_dns_records(forbidden_apex, "CAA", ['0 issue "letsencrypt.org"'], base=BASE)
    requests = [{"name": "forbidden", "domains": [forbidden], "dir": os.path.join(certs_dir, "forbidden"),
                 "webroot": host_path("host1", "webroot")},
                {"name": "badkey", "domains": [dns_name], "dir": os.path.join(certs_dir, "badkey"),
                 "challenge": "dns-01"}]
    named, log = NamedLog(), pebble_log()
    run = issue(requests, "host1", certificate_dns_tsig_key_file="", certificate_dns_tsig_key_name="certfleet-test",
                certificate_dns_tsig_key_secret="bm90IHRoZSBzZWNyZXQgQklORCBob2xkcyBmb3IgdGhpcyBrZXk=")
    assert run.rc != 0, run
    assert [r for r in log.requests() if r[0] == "POST"] == [], log.requests()  # no order, no account call
    caa, bad = failure(run, "host1").split("; ")
    assert caa == ('certificate forbidden: CAA check before any order: CAA issue records at %s (0 issue '
                   '"letsencrypt.org") name no issuer of this CA (%s)' % (forbidden_apex, PEBBLE_CAA_IDENTITY)), caa
    assert bad.startswith("certificate badkey: dns-01 preflight before any order: DNS server 127.0.0.1:5053 "
                          "rejected the signature of TSIG key 'certfleet-test' (BADSIG"), bad
    assert named.updates() == [] and dig("_acme-challenge." + dns_name, "TXT") == []
    assert not os.path.lexists(os.path.join(certs_dir, "badkey", "live"))
