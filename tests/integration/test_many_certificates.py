"""Several certificates on one host (certificate_requests): one batch, served per SNI, a list that changes.

host1's nginx gets three extra TLS server blocks (a, b, c) that point at three certificate directories; each starts
from a self-signed placeholder, as a web role would leave it. The run issues all three in one batch, each is served
for its own SNI with Pebble's chain, a second run changes nothing, and a certificate removed from the list keeps its
files and is reported as unmanaged.
"""

import datetime
import json
import os
import shutil
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import rig as rigmod
from rigtools import BASE, run_playbook, served_certificate

HOST = os.path.join(BASE, "hosts", "host1")
CERTS = os.path.join(HOST, "certs")
CONF = os.path.join(HOST, "nginx", "conf.d", "many.conf")
NGINX = ["/usr/sbin/nginx", "-p", HOST + "/nginx/", "-c", "conf/nginx.conf", "-e", HOST + "/nginx/logs/error.log"]


def placeholder(name):
    """A self-signed pair in <certs>/<name>/placeholder with live -> placeholder (what a web role installs first)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s.host1.test" % name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    directory = os.path.join(CERTS, name, "placeholder")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "fullchain.pem"), "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(os.path.join(directory, "privkey.pem"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.symlink("placeholder", os.path.join(CERTS, name, "live"))


def serve(names):
    blocks = ["server {\n  listen 127.0.1.1:443 ssl;\n  server_name %s.host1.test;\n"
              "  ssl_certificate %s/%s/live/fullchain.pem;\n  ssl_certificate_key %s/%s/live/privkey.pem;\n"
              "  location / { return 200 \"%s\\n\"; }\n}\n" % (n, CERTS, n, CERTS, n, n) for n in names]
    with open(CONF, "w") as handle:
        handle.write("".join(blocks))
    subprocess.run(NGINX + ["-s", "reload"], check=True)


def requests(names):
    return [{"domains": ["%s.host1.test" % n], "dir": os.path.join(CERTS, n), "webroot": os.path.join(HOST, "webroot")}
            for n in names]


def issue(names):
    return run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_requests": requests(names)}),
                        limit="host1")


def test_three_certificates_on_one_host_then_the_list_changes(fresh_rig, pebble_log):
    root = fresh_rig["pebble_root"]
    for name in ("a", "b", "c", "d"):
        rigmod.set_dns("%s.host1.test" % name, ["127.0.1.1"], base=BASE)
    shutil.rmtree(CERTS, ignore_errors=True)
    try:
        for name in ("a", "b", "c", "d"):
            placeholder(name)
        serve(["a", "b", "c", "d"])
        log = pebble_log()
        first = issue(["a", "b", "c"])
        assert first.rc == 0, first
        assert first.out.count("TASK [certfleet.tls.certificate : Check inputs and host") == 1
        orders = [r for r in log.requests() if r[1].startswith("/order-plz")]
        assert len(orders) == 3, log.requests()
        serials = {}
        for name in ("a", "b", "c"):
            cert = served_certificate("127.0.1.1", "%s.host1.test" % name, cafile=root)  # chain and name verified
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert sans.get_values_for_type(x509.DNSName) == ["%s.host1.test" % name]
            serials[name] = cert.serial_number
            assert "a.host1.test" not in first.out or "serial=%x" % cert.serial_number in first.out
        assert len(set(serials.values())) == 3

        log = pebble_log()
        second = issue(["a", "b", "c"])
        assert second.rc == 0 and second.recap["host1"]["changed"] == 0, second
        assert log.requests() == []

        third = issue(["a", "b", "d"])  # c removed, d added
        assert third.rc == 0, third
        assert served_certificate("127.0.1.1", "d.host1.test", cafile=root)
        assert served_certificate("127.0.1.1", "a.host1.test", cafile=root).serial_number == serials["a"]
        assert "UNMANAGED %s" % os.path.join(CERTS, "c") in third.out, third.out
        assert os.path.islink(os.path.join(CERTS, "c", "live")), "a removed request keeps its files"
        assert served_certificate("127.0.1.1", "c.host1.test", cafile=root).serial_number == serials["c"]
    finally:
        if os.path.exists(CONF):
            os.unlink(CONF)
        subprocess.run(NGINX + ["-s", "reload"], check=False)
        shutil.rmtree(CERTS, ignore_errors=True)


def test_same_name_in_different_case_is_one_certificate_with_one_key(fresh_rig, pebble_log):
    """Backends are grouped by normalized names: WWW-style case differences share the key, not just the order."""
    rigmod.set_dns("case.test", ["127.0.1.1", "127.0.1.2"], base=BASE)
    inventory = {"host1": ["CASE.test"], "host2": ["case.test"]}
    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_domains": "{{ __case_domains }}"}),
                       "-e", json.dumps({"__case_domains_map": inventory}),
                       "-e", "__case_domains={{ __case_domains_map[inventory_hostname] }}", limit="host1,host2")
    assert run.rc == 0, run
    assert len([r for r in log.requests() if r[1].startswith("/order-plz")]) == 1, log.requests()
    keys = [open(os.path.join(BASE, "hosts", h, "ssl", "live", "privkey.pem")).read() for h in ("host1", "host2")]
    assert keys[0] == keys[1]
