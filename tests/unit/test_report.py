"""The fleet report document, its jmespath queries, its Prometheus textfile and its HTML page (plain Python).

The served facts are what tls_verify returns for real certificates made here (x509info.certificate_facts);
only the TLS connection is left out.
"""

import base64
import datetime
import html.parser
import os
import re

import pytest

from certutil import make_ca, make_leaf, pem
from ansible_collections.certfleet.tls.plugins.module_utils._acme.decision import lifetime_rule
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info
from ansible_collections.certfleet.tls.plugins.plugin_utils import report
from ansible_collections.certfleet.tls.plugins.filter.fleet_targets import fleet_targets

UTC = datetime.timezone.utc
BACKUP_PIN = base64.b64encode(b"b" * 32).decode()
OTHER_PIN = base64.b64encode(b"o" * 32).decode()
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CA = make_ca("Test Intermediate")
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs",
                    "report.md")


def leaf(name, days_ago, lifetime=90):
    return make_leaf(CA, [name], NOW - datetime.timedelta(days=days_ago), lifetime)


def served(target, cert, verified=True, error=None):
    """A tls_verify result entry for ``target`` serving ``cert`` (None: the connection failed)."""
    facts = {"name": target["name"], "address": target["address"], "port": target["port"],
             "server_name": target["server_name"], "verified": verified, "chain_verified": verified, "error": error}
    if cert is not None:
        facts.update(x509info.certificate_facts(cert))
    return facts


def slurped(name, directory, cert):
    return {"item": {"name": name, "dir": directory}, "content": base64.b64encode(pem(cert).encode()).decode(),
            "encoding": "base64"}


@pytest.fixture
def fleet():
    """web1 renewed long ago (5 days left), web2 fresh, web3 serving nothing, web4 serving an old pair it replaced."""
    hostvars = {
        "web1": {"ansible_host": "192.0.2.1", "certificate_domains": ["www.example.org"]},
        "web2": {"ansible_host": "192.0.2.2", "certificate_domains": ["api.example.org"],
                 "certificate_renew_before_days": 20, "certificate_acme_profile": "shortlived"},
        "web3": {"ansible_host": "192.0.2.3", "certificate_domains": ["down.example.org"]},
        "web4": {"ansible_host": "192.0.2.4", "certificate_domains": ["stale.example.org"]},
    }
    certs = {"web1": leaf("www.example.org", 85), "web2": leaf("api.example.org", 1), "web3": None,
             "web4": leaf("stale.example.org", 70)}
    deployed_web4 = leaf("stale.example.org", 0)  # on disk, never reloaded
    read = slurped("stale.example.org", "/etc/ssl/stale", deployed_web4)
    hostvars["web4"][report.DEPLOYED_READ_VAR] = {"results": [read]}
    # web1's keys are in the key store (from the certificate role's results): it serves the active one.
    # web2's store (read by the report playbook) holds two keys, neither of them the served one.
    hostvars["web1"]["certificate_results"] = [{"name": "www.example.org", "serial": "%x" % certs["web1"].serial_number,
                                                "pins": {"active": x509info.certificate_facts(certs["web1"])["spki_sha256"],
                                                         "backup": BACKUP_PIN}}]
    store_pins = {"api.example.org": {"active": OTHER_PIN, "backup": BACKUP_PIN},
                  "stale.example.org": {"active": OTHER_PIN, "backup": x509info.certificate_facts(certs["web4"])["spki_sha256"]}}
    targets = fleet_targets(sorted(hostvars), hostvars)
    results = [served(t, certs[t["name"]]) if certs[t["name"]] else
               served(t, None, verified=False, error="TLS connection to 192.0.2.3:443 failed: refused")
               for t in targets]
    document = report.fleet_report(results, targets, hostvars, now=NOW, pins=store_pins)
    return dict(document=document, certs=certs, deployed_web4=deployed_web4, hostvars=hostvars,
                entries={e["host"]: e for e in document["certificates"]})


def test_one_entry_per_host_and_certificate_with_what_is_served(fleet):
    entries, web1 = fleet["entries"], fleet["certs"]["web1"]
    assert sorted(entries) == ["web1", "web2", "web3", "web4"]
    one = entries["web1"]
    assert one["certificate"] == "www.example.org" and one["server_name"] == "www.example.org"
    assert one["serial"] == "%x" % web1.serial_number and one["issuer"] == "Test Intermediate"
    assert one["not_after"] == web1.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert one["days_left"] == 5.0 and one["verified"] is True and one["error"] is None
    assert one["spki_sha256"] == x509info.certificate_facts(web1)["spki_sha256"] and len(one["tlsa_3_1_1"]) == 64
    assert one["sct_count"] == 0 and one["ocsp_responders"] == [] and one["ocsp_status"] == "no_responder"
    assert fleet["document"]["summary"] == {"certificates": 4, "verified": 3, "failed": 1, "pin_mismatches": 1,
                                            "earliest_not_after": one["not_after"]}
    assert fleet["document"]["issuers"] == [{"issuer": "Test Intermediate", "certificates": 3}]


def test_a_host_serving_nothing_is_reported_with_its_error(fleet):
    down = fleet["entries"]["web3"]
    assert down["verified"] is False and "192.0.2.3:443 failed" in down["error"]
    assert down["serial"] is None and down["days_left"] is None and down["next_renewal"] is None


def test_next_renewal_follows_the_hosts_own_rule(fleet):
    web1, web2 = fleet["certs"]["web1"], fleet["certs"]["web2"]
    _due, code, _reason, renew_at = lifetime_rule(web1, NOW, 0.33, None)  # the role's default fraction
    assert fleet["entries"]["web1"]["next_renewal"] == renew_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fleet["entries"]["web1"]["next_renewal_rule"] == code == "lifetime_fraction"
    renew_at = web2.not_valid_after_utc - datetime.timedelta(days=20)
    assert fleet["entries"]["web2"]["next_renewal"] == renew_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fleet["entries"]["web2"]["next_renewal_rule"] == "lifetime_days"
    assert fleet["entries"]["web2"]["profile"] == "shortlived" and fleet["entries"]["web1"]["profile"] is None


def test_profile_of_a_request_item_named_by_its_domains():
    hostvars = {"web1": {"certificate_domains": ["www.example.org"], "certificate_acme_profile": "classic",
                         "certificate_requests": [{"domains": ["WWW.example.org"], "dir": "/etc/ssl/www",
                                                   "profile": "tlsserver"}]}}
    targets = fleet_targets(["web1"], hostvars)
    entry = report.fleet_report([served(targets[0], leaf("www.example.org", 1))], targets, hostvars,
                                now=NOW)["certificates"][0]
    assert entry["profile"] == "tlsserver"


def test_deployed_serial_from_the_hosts_read_and_from_certificate_results(fleet):
    stale = fleet["entries"]["web4"]
    assert stale["deployed_serial"] == "%x" % fleet["deployed_web4"].serial_number
    assert stale["deployed_source"] == "host_read" and stale["serial_matches_deployed"] is False
    one = fleet["entries"]["web1"]
    assert one["deployed_source"] == "certificate_results" and one["serial_matches_deployed"] is True
    assert fleet["entries"]["web2"]["deployed_serial"] is None and fleet["entries"]["web2"]["deployed_source"] is None


def test_an_unreadable_deployed_certificate_is_an_error_naming_the_file():
    hostvars = {"web1": {"certificate_domains": ["www.example.org"], report.DEPLOYED_READ_VAR: {"results": [
        {"item": {"name": "www.example.org", "dir": "/etc/ssl/www"}, "failed": True,
         "msg": "file not found: /etc/ssl/www/live/fullchain.pem"}]}}}
    targets = fleet_targets(["web1"], hostvars)
    entry = report.fleet_report([served(targets[0], leaf("www.example.org", 1))], targets, hostvars,
                                now=NOW)["certificates"][0]
    assert entry["deployed_serial"] is None and "/etc/ssl/www/live/fullchain.pem" in entry["deployed_error"]


def test_results_that_do_not_match_the_targets_are_refused():
    hostvars = {"web1": {"certificate_domains": ["a.example.org"]}, "web2": {"certificate_domains": ["b.example.org"]}}
    targets = fleet_targets(["web1", "web2"], hostvars)
    with pytest.raises(report.ReportError, match="1 results for 2 targets"):
        report.fleet_report([served(targets[0], None)], targets, hostvars)
    with pytest.raises(report.ReportError, match="not in the same order"):
        report.fleet_report([served(targets[1], None), served(targets[0], None)], targets, hostvars)


# The examples of docs/report.md, run against the report: each must be in the docs word for word.
EXPIRING = "certificates[?days_left != null && days_left < `14`].{host: host, name: certificate, not_after: not_after}"
SERIAL_DIFFERS = "certificates[?deployed_serial != null && serial != deployed_serial].host"
ISSUERS = "issuers[].issuer"


def test_documented_queries(fleet):
    docs = open(DOCS).read()
    for expression in (EXPIRING, SERIAL_DIFFERS, ISSUERS):
        assert expression in docs, "docs/report.md lost the example %s" % expression
    document = fleet["document"]
    assert report.report_query(document, EXPIRING) == [
        {"host": "web1", "name": "www.example.org", "not_after": fleet["entries"]["web1"]["not_after"]}]
    assert report.report_query(document, SERIAL_DIFFERS) == ["web4"]
    assert report.report_query(document, ISSUERS) == ["Test Intermediate"]


def test_a_bad_query_names_the_expression(fleet):
    with pytest.raises(report.ReportError, match=r"'certificates\[\?' is not a valid jmespath"):
        report.report_query(fleet["document"], "certificates[?")
    with pytest.raises(report.ReportError, match="non-empty string"):
        report.report_query(fleet["document"], "  ")


# An independent reader of the Prometheus text format 0.0.4, strict about what node_exporter would reject.
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)\{(%s(?:,%s)*)\} (-?[0-9.e+]+)$" % (METRIC_NAME, LABEL, LABEL))


def parse_exposition(text):
    assert text.endswith("\n")
    helps, types, samples = {}, {}, []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _space, doc = line[7:].partition(" ")
            assert name not in helps and doc, line
            helps[name] = doc
        elif line.startswith("# TYPE "):
            name, _space, kind = line[7:].partition(" ")
            assert name not in types and kind == "gauge", line
            types[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, "not a valid sample line: %r" % line
            name = match.group(1)
            assert name in types and name in helps, "sample before its HELP/TYPE: %r" % line
            labels = dict((k, v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\"))
                          for k, v in re.findall(LABEL, match.group(2)))
            samples.append((name, labels, float(match.group(len(match.groups())))))
    keys = [(name, tuple(sorted(labels.items()))) for name, labels, _value in samples]
    assert len(keys) == len(set(keys)), "duplicate series"
    return helps, types, samples


def test_prometheus_textfile_is_valid_exposition_format(fleet):
    helps, types, samples = parse_exposition(report.prometheus_textfile(fleet["document"]))
    assert set(types) == {"certfleet_certificate_not_after_seconds", "certfleet_certificate_verified",
                          "certfleet_certificate_pin_mismatch"}
    mismatch = {labels["host"]: (labels["pin_role"], value) for name, labels, value in samples
                if name == "certfleet_certificate_pin_mismatch"}
    assert mismatch == {"web1": ("active", 0), "web2": ("neither", 1), "web4": ("backup", 0)}
    verified = {labels["host"]: value for name, labels, value in samples if name == "certfleet_certificate_verified"}
    assert verified == {"web1": 1, "web2": 1, "web3": 0, "web4": 1}
    expiry = {labels["host"]: value for name, labels, value in samples
              if name == "certfleet_certificate_not_after_seconds"}
    assert expiry == {host: fleet["certs"][host].not_valid_after_utc.timestamp() for host in ("web1", "web2", "web4")}
    assert all(labels["name"] and labels["server_name"] for _n, labels, _v in samples)


def test_prometheus_label_values_are_escaped():
    weird = 'we"b\\1\nx'
    document = {"certificates": [{"host": weird, "certificate": "a,b", "server_name": "a", "verified": False,
                                  "not_after": "2027-01-01T00:00:00Z"}]}
    text = report.prometheus_textfile(document)
    _helps, _types, samples = parse_exposition(text)
    assert {labels["host"] for _n, labels, _v in samples} == {weird}
    assert samples[0][2] == datetime.datetime(2027, 1, 1, tzinfo=UTC).timestamp()


class PageReader(html.parser.HTMLParser):
    """Rows of the table, bars of the timeline, and every attribute that would make a browser fetch something."""

    def __init__(self):
        super().__init__()
        self.rows, self.bars, self.fetches, self.tags, self._row, self._cell = [], [], [], [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.fetches += [(tag, k, v) for k, v in attrs.items() if k in ("src", "href", "srcset", "data", "action")]
        if tag == "tr" and "data-host" in attrs:
            self._row = {"host": attrs["data-host"], "cells": [], "classes": []}
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = []
            self._row["cells"].append(self._cell)
            self._row["classes"].append(attrs.get("class") or "")
        elif tag in ("rect", "text") and "data-host" in attrs:
            self.bars.append((attrs["data-host"], attrs.get("class"), attrs.get("fill")))

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_page(text):
    reader = PageReader()
    reader.feed(text)
    return reader


def test_html_page_is_self_contained_and_shows_every_host(fleet):
    page = report.report_html(fleet["document"])
    reader = read_page(page)
    assert reader.fetches == [] and "url(" not in page and "@import" not in page
    assert "script" not in reader.tags and "link" not in reader.tags and "img" not in reader.tags
    assert [row["host"] for row in reader.rows] == ["web1", "web2", "web3", "web4"]
    bands = {row["host"]: [c for c in row["classes"] if c.startswith("days")][0] for row in reader.rows}
    assert bands == {"web1": "days critical", "web2": "days ok", "web3": "days unknown", "web4": "days soon"}
    assert {(host, band) for host, band, _fill in reader.bars} == {
        ("web1", "bar critical"), ("web2", "bar ok"), ("web3", "bar unknown"), ("web4", "bar soon")}
    web3 = [row for row in reader.rows if row["host"] == "web3"][0]
    assert any("FAILED: TLS connection to 192.0.2.3:443 failed" in "".join(cell) for cell in web3["cells"])


def test_html_escapes_what_hosts_and_certificates_say():
    document = {"generated_at": "2026-12-01T12:00:00Z", "certificates": [
        {"host": "<script>alert(1)</script>", "certificate": "x", "verified": False, "error": "<img src=x>",
         "days_left": None}]}
    page = report.report_html(document)
    reader = read_page(page)
    assert "script" not in reader.tags and "img" not in reader.tags and reader.fetches == []
    assert reader.rows[0]["host"] == "<script>alert(1)</script>"


@pytest.mark.parametrize("days_left, band", [(-1, "expired"), (0.5, "critical"), (13.9, "critical"), (14, "soon"),
                                             (29.9, "soon"), (30, "ok"), (None, "unknown")])
def test_days_bands(days_left, band):
    assert report.days_band(days_left)[0] == band


def test_which_key_of_the_store_each_host_serves(fleet):
    """Issue 9 point 7: the served pin is the active one, the backup (a rotation not deployed yet) or neither (flagged);
    a certificate without keys in a store, or a host serving nothing, has no role."""
    entries = fleet["entries"]
    assert (entries["web1"]["pin_role"], entries["web1"]["pin_mismatch"]) == ("active", False)
    assert (entries["web2"]["pin_role"], entries["web2"]["pin_mismatch"]) == ("neither", True)
    assert entries["web4"]["pin_role"] == "backup"
    assert entries["web3"]["pin_role"] is None and entries["web3"]["pin_mismatch"] is False
    assert entries["web2"]["store_pins"] == {"active": OTHER_PIN, "backup": BACKUP_PIN}
    page = report.report_html(fleet["document"])
    assert "NEITHER active nor backup" in page and page.count("NEITHER") == 1


def test_a_registered_key_store_result_stands_for_the_pins(fleet):
    """The report playbook passes key_store's registered results (active_pin, backup_pin) as they are."""
    hostvars, web2 = fleet["hostvars"], fleet["certs"]["web2"]
    targets = [t for t in fleet_targets(sorted(hostvars), hostvars) if t["name"] == "web2"]
    pins = {"api.example.org": {"changed": False, "active_pin": OTHER_PIN,
                                "backup_pin": x509info.certificate_facts(web2)["spki_sha256"], "item": {}}}
    entry = report.fleet_report([served(targets[0], web2)], targets, hostvars, now=NOW, pins=pins)["certificates"][0]
    assert entry["pin_role"] == "backup" and entry["pin_mismatch"] is False
