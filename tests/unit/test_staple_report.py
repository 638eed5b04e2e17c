"""The served staple in the report: JSON fields, the summary line and the HTML cell.

The results are tls_verify entries whose ``staple`` comes from staple_facts on responses built by cryptography
(test_staple.py's CA), so the report reads exactly what the module returns.
"""

import html.parser

import pytest

from cryptography import x509
from cryptography.x509 import ocsp as x509_ocsp

from ansible_collections.certfleet.tls.plugins.filter.served_summary import served_summary
from ansible_collections.certfleet.tls.plugins.module_utils._tls import staple, x509info
from ansible_collections.certfleet.tls.plugins.plugin_utils import report
from test_staple import DAY, HOUR, IMPOSTOR, LEAF, NOW, SERVED, response  # pylint: disable=wrong-import-order

ISO = "%Y-%m-%dT%H:%M:%SZ"
URL = "http://ocsp.test/"


def result(name, staple_facts=None, responders=(URL,)):
    """A tls_verify result for LEAF served by ``name``, with ``staple`` when given."""
    entry = {"name": name, "address": "192.0.2.1", "port": 443, "server_name": "www.example.org",
             "verified": True, "chain_verified": True, "error": None}
    entry.update(x509info.certificate_facts(LEAF))
    entry["ocsp_responders"] = list(responders)
    if staple_facts is not None:
        entry["staple"] = staple_facts
    return entry


CASES = {
    "good": staple.staple_facts(response(), SERVED, now=NOW),
    "revoked": staple.staple_facts(response(status=x509_ocsp.OCSPCertStatus.REVOKED, revocation_time=NOW - HOUR,
                                            reason=x509.ReasonFlags.superseded),
                                   SERVED, now=NOW),
    "stale": staple.staple_facts(response(this_update=NOW - 3 * DAY, next_update=NOW - DAY), SERVED, now=NOW),
    "wrong_key": staple.staple_facts(response(signer=IMPOSTOR, by=x509_ocsp.OCSPResponderEncoding.NAME), SERVED,
                                     now=NOW),
    "none": staple.staple_facts(b"", SERVED, now=NOW),
}


@pytest.fixture
def document():
    results = [result(name, facts) for name, facts in CASES.items()]
    results.append(result("nourl", staple.served_staple({"serial": "1", "ocsp_responders": []},
                                                        {"address": "192.0.2.1", "server_name": "x"}), responders=()))
    results.append(result("unchecked"))  # check_staple=false: no staple entry
    targets = [{"name": r["name"], "server_name": r["server_name"], "address": r["address"], "port": 443,
                "certificate": "www.example.org"} for r in results]
    return report.fleet_report(results, targets, {}, now=NOW)


def entries(document):
    return {entry["host"]: entry for entry in document["certificates"]}


def test_json_has_the_staple_status_and_next_update(document):
    by_host = entries(document)
    assert by_host["good"]["ocsp_status"] == "good"
    assert by_host["good"]["ocsp_next_update"] == (NOW + DAY).strftime(ISO) and by_host["good"]["ocsp_error"] is None
    assert by_host["revoked"]["ocsp_status"] == "revoked" and by_host["revoked"]["ocsp_revocation_reason"] == "superseded"
    assert by_host["stale"]["ocsp_status"] == "stale" and by_host["stale"]["ocsp_next_update"] == (NOW - DAY).strftime(ISO)
    assert by_host["wrong_key"]["ocsp_status"] == "invalid" and "bad signature" in by_host["wrong_key"]["ocsp_error"]
    assert by_host["wrong_key"]["ocsp_next_update"] is None
    assert by_host["none"]["ocsp_status"] == "not_stapled" and by_host["none"]["ocsp_error"] is None
    assert by_host["nourl"]["ocsp_status"] == "no_responder" and by_host["nourl"]["ocsp_next_update"] is None
    assert by_host["unchecked"]["ocsp_status"] == "not_checked"


def test_a_jmespath_query_finds_the_sites_whose_staple_is_not_good(document):
    query = "certificates[?ocsp_responders && ocsp_status != 'good'].host"
    assert report.report_query(document, query) == ["revoked", "stale", "wrong_key", "none", "unchecked"]


def test_summary_lines_end_with_the_staple():
    lines = {name: served_summary(result(name, facts)) for name, facts in CASES.items()}
    assert lines["good"].endswith(" ocsp=%s staple=good next_update=%s" % (URL, (NOW + DAY).strftime(ISO)))
    assert lines["revoked"].endswith(" staple=revoked (superseded) next_update=%s" % (NOW + DAY).strftime(ISO))
    assert " staple=stale next_update=%s (the staple served for" % (NOW - DAY).strftime(ISO) in lines["stale"]
    assert " staple=invalid (the staple served for" in lines["wrong_key"] and "bad signature" in lines["wrong_key"]
    assert lines["none"].endswith(" ocsp=%s staple=not_stapled" % URL)
    # nothing to staple, or not checked: the line is what it was before staples were read
    assert served_summary(result("nourl", {"outcome": "no_responder"}, responders=())).endswith(
        "ocsp=none (the issuer runs no OCSP responder)")
    assert served_summary(result("unchecked")).endswith(" ocsp=%s" % URL)


class Cells(html.parser.HTMLParser):
    """The OCSP cell (12th column) and its class, per row of the certificates table."""

    def __init__(self):
        super().__init__()
        self.cells, self._host, self._column, self._class = {}, None, 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and attrs.get("data-host"):
            self._host, self._column = attrs["data-host"], 0
        elif tag == "td" and self._host:
            self._column += 1
            self._class = attrs.get("class")

    def handle_endtag(self, tag):
        if tag == "tr":
            self._host = None

    def handle_data(self, data):
        if self._host and self._column == 12:
            self.cells[self._host] = (data, self._class)


def test_html_cell_shows_the_staple_and_marks_a_bad_one(document):
    page = report.report_html(document)
    parser = Cells()
    parser.feed(page)
    cells = parser.cells
    assert cells["good"] == ("%s; staple good, next update %s" % (URL, (NOW + DAY).strftime(ISO)), None)
    assert cells["revoked"][0].startswith("%s; staple REVOKED (superseded), next update" % URL)
    assert cells["revoked"][1] == "failed" and cells["stale"][1] == "failed" and cells["wrong_key"][1] == "failed"
    assert cells["stale"][0].startswith("%s; staple STALE, next update %s: the staple served for" % (
        URL, (NOW - DAY).strftime(ISO)))
    assert cells["none"] == ("%s; staple not_stapled" % URL, None)
    assert cells["nourl"] == ("none (no_responder)", None)
    assert cells["unchecked"] == ("%s; staple not_checked" % URL, None)
