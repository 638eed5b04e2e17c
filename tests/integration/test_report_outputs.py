"""certfleet.tls.report's outputs on the rig: the JSON, report_query, the Prometheus textfile, the HTML page.

host1 and host2 get real Pebble certificates; host2's live/ is then switched back to its placeholder without a
reload (deployed, never loaded: the served serial differs from the deployed one); host3 keeps serving its
self-signed placeholder. Every fact of the report is checked against what an independent TLS client sees. The HTML
page is rendered by headless Chromium (Debian `chromium`, installed by the rig's package list); its screenshot is
kept under the test's tmp dir and /tmp/certfleet/artifacts.
"""

import base64
import datetime
import hashlib
import html.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from rigtools import BASE, Run, ansible_env, run_playbook, served_certificate, served_unverified

ARTIFACTS = os.environ.get("CERTFLEET_ARTIFACTS", "/tmp/certfleet/artifacts")
UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "test_report.py")
SERIAL_DIFFERS = "certificates[?deployed_serial != null && serial != deployed_serial].host"


def unit_helpers():
    """The independent exposition-format reader and the documented queries of tests/unit/test_report.py."""
    spec = importlib.util.spec_from_file_location("certfleet_unit_test_report", UNIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host_path(name, *parts):
    return os.path.join(BASE, "hosts", name, *parts)


def placeholder(name):
    with open(host_path(name, "ssl", "placeholder", "fullchain.pem"), "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def independent_facts(cert):
    """What the report must say about a certificate, computed here from the certificate itself."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    except x509.ExtensionNotFound:
        ocsp = []
    try:
        scts = len(cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value)
    except x509.ExtensionNotFound:
        scts = 0
    return {"serial": "%x" % cert.serial_number,
            "issuer": cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "spki_sha256": base64.b64encode(hashlib.sha256(spki).digest()).decode(),
            "tlsa_3_1_1": hashlib.sha256(spki).hexdigest(), "ocsp_responders": ocsp, "sct_count": scts}


class DomReader(html.parser.HTMLParser):
    """Hosts of the table rows and of the timeline bars, and the text of each row, from Chromium's DOM."""

    def __init__(self):
        super().__init__()
        self.rows, self.bars, self._row = {}, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("data-host"):
            self._row = attrs["data-host"]
            self.rows[self._row] = ""
        elif tag in ("rect", "text") and attrs.get("data-host"):
            self.bars[attrs["data-host"]] = attrs.get("class")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row:
            self.rows[self._row] += data + " "


def render(page, workdir):
    """Headless Chromium: the DOM after loading the page, and a screenshot."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `rig.py up` installs it (tests/rig/certfleet_rig/packages.py)"
    screenshot = os.path.join(workdir, "report.png")
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           "--user-data-dir=%s" % os.path.join(workdir, "chromium-profile"),
                           "--window-size=1400,900", "--screenshot=%s" % screenshot, "--dump-dom",
                           "file://%s" % page],
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, "chromium failed (rc=%s): %s" % (proc.returncode, proc.stderr[-2000:])
    return proc.stdout, screenshot


def test_report_outputs_tell_what_is_served_and_deployed(fresh_rig, tmp_path):
    root = fresh_rig["pebble_root"]
    issued = run_playbook("certfleet.tls.issue", limit="host1,host2")
    assert issued.rc == 0, issued

    served = {"host1": served_certificate("127.0.1.1", "host1.test", cafile=root),
              "host2": served_certificate("127.0.1.2", "host2.test", cafile=root),
              "host3": served_unverified("127.0.1.3", "host3.test")}
    assert served["host3"].serial_number == placeholder("host3").serial_number
    # host2: the placeholder deployed again on disk, never loaded by nginx (the served serial stays the issued one)
    live2 = host_path("host2", "ssl", "live")
    release2 = os.readlink(live2)
    os.symlink("placeholder", live2 + ".report-test")
    os.replace(live2 + ".report-test", live2)

    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    prom = textfiles / "certfleet.prom"
    prom.write_text("# stale\n")
    os.link(prom, tmp_path / "stale-inode")  # still the old file after the run if it was replaced, not rewritten
    outputs = {"report_json_path": str(tmp_path / "report.json"), "report_html_path": str(tmp_path / "report.html"),
               "report_prometheus_path": str(prom), "report_read_deployed": True, "report_query": SERIAL_DIFFERS}
    try:
        started = datetime.datetime.now(datetime.timezone.utc)
        run = run_playbook("certfleet.tls.report", "-e", json.dumps(outputs))
    finally:
        os.symlink(release2, live2 + ".report-test")
        os.replace(live2 + ".report-test", live2)
    assert run.rc == 0, run
    assert run.out.count("tls=verified") == 2, run  # today's lines stay
    for name in ("host1", "host2"):
        assert "%s %s.test serial=%x" % (name, name, served[name].serial_number) in run.out

    # report_query: its result is printed
    printed = re.search(r"TASK \[Print the result of report_query.*?\n(ok: .*?\n\})", run.out, re.S)
    assert printed and json.loads(printed.group(1).split("=>", 1)[1])["msg"] == ["host2"], run

    # JSON: every fact as an independent client sees it
    document = json.loads((tmp_path / "report.json").read_text())
    entries = {entry["host"]: entry for entry in document["certificates"]}
    assert sorted(entries) == ["host1", "host2", "host3"]
    for name, cert in served.items():
        entry = entries[name]
        for key, value in independent_facts(cert).items():
            assert entry[key] == value, (name, key, entry[key], value)
        expected_days = (cert.not_valid_after_utc - started).total_seconds() / 86400
        assert abs(entry["days_left"] - expected_days) < 0.1, (name, entry["days_left"], expected_days)
        assert entry["certificate"] == entry["server_name"] == "%s.test" % name
        assert entry["next_renewal"] and entry["next_renewal_rule"] == "lifetime_fraction"
    assert entries["host1"]["verified"] and entries["host2"]["verified"]
    assert not entries["host3"]["verified"] and "self-signed" in entries["host3"]["error"]
    assert entries["host1"]["deployed_serial"] == entries["host1"]["serial"]
    assert entries["host1"]["deployed_source"] == "host_read" and entries["host1"]["serial_matches_deployed"] is True
    assert entries["host2"]["deployed_serial"] == "%x" % placeholder("host2").serial_number
    assert entries["host2"]["serial_matches_deployed"] is False
    assert entries["host3"]["serial_matches_deployed"] is True
    assert document["summary"]["verified"] == 2 and document["summary"]["failed"] == 1

    # Prometheus: valid exposition, the right values, replaced in one rename, nothing staged left behind
    helpers = unit_helpers()
    text = prom.read_text()
    _helps, types, samples = helpers.parse_exposition(text)
    assert set(types) == {"certfleet_certificate_not_after_seconds", "certfleet_certificate_verified"}
    verified = {labels["host"]: value for metric, labels, value in samples if metric == "certfleet_certificate_verified"}
    assert verified == {"host1": 1, "host2": 1, "host3": 0}
    expiry = {labels["host"]: value for metric, labels, value in samples
              if metric == "certfleet_certificate_not_after_seconds"}
    assert expiry == {name: cert.not_valid_after_utc.timestamp() for name, cert in served.items()}
    assert os.listdir(textfiles) == ["certfleet.prom"]
    assert (tmp_path / "stale-inode").read_text() == "# stale\n", "the textfile was rewritten in place"
    assert oct(os.stat(prom).st_mode & 0o777) == "0o644"

    # HTML: rendered by a real browser, every host in the table and on the timeline
    dom, screenshot = render(str(tmp_path / "report.html"), str(tmp_path))
    reader = DomReader()
    reader.feed(dom)
    assert sorted(reader.rows) == ["host1", "host2", "host3"], dom[:3000]
    assert sorted(reader.bars) == ["host1", "host2", "host3"]
    for name in ("host1", "host2", "host3"):
        assert "%x" % served[name].serial_number in reader.rows[name].replace(" ", "")
    assert "FAILED" in reader.rows["host3"] and "FAILED" not in reader.rows["host1"]
    with open(screenshot, "rb") as handle:
        png = handle.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, "no real screenshot (%d bytes)" % len(png)
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copy(screenshot, os.path.join(ARTIFACTS, "report.png"))


def test_report_after_the_role_in_the_same_run_takes_the_deployed_serial_from_certificate_results(rig, tmp_path):
    path = tmp_path / "report.json"
    # two playbooks in one run (run_playbook takes one): certificate_results set by the role stay for the report
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "certfleet.tls.issue",
               "certfleet.tls.report", "--limit", "host1", "-e", json.dumps({"report_json_path": str(path)})]
    run = Run(subprocess.run(command, capture_output=True, text=True, env=ansible_env(), timeout=600, check=False))
    assert run.rc == 0, run
    entry = json.loads(path.read_text())["certificates"][0]
    assert entry["host"] == "host1" and entry["deployed_source"] == "certificate_results"
    assert entry["deployed_serial"] == "%x" % served_unverified("127.0.1.1", "host1.test").serial_number
