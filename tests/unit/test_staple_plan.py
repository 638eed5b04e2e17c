"""The web roles' staple decisions (plugins/plugin_utils/staples.py): the refresh table, the outcomes of a fetch,
and the staples attached to the certificate role's deploy items. Responses are built with cryptography."""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp as x509_ocsp

from ansible_collections.certfleet.tls.plugins.plugin_utils import staples

from test_ocsp import DAY, HOUR, ISSUER, LEAF, NOW, OTHER_LEAF, issue, make_ca, response

PEM = serialization.Encoding.PEM
FULLCHAIN = (LEAF.public_bytes(PEM) + ISSUER[1].public_bytes(PEM)).decode()
SITE = {"name": "www", "dir": "/srv/www", "ocsp_stapling": True}


def read(fullchain=FULLCHAIN, der=None):
    return [{"certificate_dir": "/srv/www", "fullchain": fullchain,
             "response": base64.b64encode(der).decode() if der is not None else None}]


def plan(der=None, fullchain=FULLCHAIN, now=NOW):
    plans = staples.plan_staples([SITE, {"name": "plain", "dir": "/srv/plain", "ocsp_stapling": False}],
                                 read(fullchain, der), now=now)
    assert [p["name"] for p in plans] == ["www"]  # sites without ocsp_stapling are not judged
    return plans[0]


# -- the refresh table: keep / fetch / off -----------------------------------------------------------------------

def test_fresh_staple_is_kept_and_no_responder_is_asked():
    entry = plan(response(this_update=NOW - HOUR, next_update=NOW + DAY))
    assert (entry["action"], entry["code"]) == ("keep", "fresh") and entry["staple_valid"], entry
    assert entry["serial"] == "%x" % LEAF.serial_number and entry["responder_url"] == "http://ocsp.test/"


def test_staple_past_half_of_its_validity_is_fetched_again():
    # valid 24 h from 13 h ago: past the half (12 h), still valid - kept through a responder outage
    entry = plan(response(this_update=NOW - 13 * HOUR, next_update=NOW + 11 * HOUR))
    assert (entry["action"], entry["code"]) == ("fetch", "refresh_due") and entry["staple_valid"], entry
    # just before the half: kept
    assert plan(response(this_update=NOW - 11 * HOUR, next_update=NOW + 13 * HOUR))["action"] == "keep"


def test_missing_staple_is_fetched():
    entry = plan(None)
    assert (entry["action"], entry["code"], entry["has_staple"]) == ("fetch", "missing", False), entry


def test_staple_of_the_previous_certificate_is_never_kept():
    entry = plan(response(cert=OTHER_LEAF))
    assert (entry["action"], entry["code"], entry["staple_valid"]) == ("fetch", "not_valid", False), entry
    assert "certID mismatch" in entry["reason"]


def test_expired_or_badly_signed_or_revoked_staple_is_fetched_again():
    assert plan(response(this_update=NOW - 3 * DAY, next_update=NOW - DAY))["code"] == "not_valid"
    assert plan(response(signer=make_ca("Test OCSP Root")))["code"] == "not_valid"  # the issuer's name, another key
    revoked = plan(response(status=x509_ocsp.OCSPCertStatus.REVOKED, revocation_time=NOW - HOUR))
    assert (revoked["code"], revoked["staple_valid"]) == ("not_valid", False)
    assert plan(b"\x30\x03\x0a\x01\x03")["code"] == "not_valid"  # tryLater: an OCSP error status


def test_no_ocsp_url_turns_stapling_off():
    key, leaf = issue(ISSUER, "le.example.org", ocsp_url=None)
    entry = plan(None, fullchain=(leaf.public_bytes(PEM) + ISSUER[1].public_bytes(PEM)).decode())
    assert (entry["action"], entry["code"]) == ("off", "no_responder") and "names no OCSP responder" in entry["reason"]


def test_placeholder_missing_certificate_and_missing_issuer_turn_stapling_off():
    placeholder = make_ca("www.example.org")[1]  # self-signed, like the web roles' placeholder
    assert plan(None, fullchain=placeholder.public_bytes(PEM).decode())["code"] == "self_signed"
    assert plan(None, fullchain=None)["code"] == "no_certificate"
    assert plan(None, fullchain="not a certificate")["code"] == "no_certificate"
    assert plan(None, fullchain=LEAF.public_bytes(PEM).decode())["code"] == "no_issuer"


# -- outcomes of a fetch -----------------------------------------------------------------------------------------

def fetched(plan_entry, **result):
    return [dict(result, item=plan_entry)]


def test_good_answer_is_written():
    entry = plan(None)
    der = base64.b64encode(response()).decode()
    out = staples.staple_outcomes([entry], fetched(entry, supported=True, status="good", response=der,
                                                   next_update="2026-12-01T00:00:00Z", changed=False))[0]
    assert (out["action"], out["response"], out["stapled"], out["failure"]) == ("write", der, True, None)


def test_fresh_staple_needs_no_answer():
    out = staples.staple_outcomes([plan(response())], [])[0]
    assert (out["action"], out["stapled"], out["status"], out["failure"]) == ("none", True, "good", None)


def test_revoked_is_removed_and_fails_naming_the_site():
    entry = plan(response(this_update=NOW - 13 * HOUR, next_update=NOW + 11 * HOUR))  # a good staple deployed
    out = staples.staple_outcomes([entry], fetched(
        entry, supported=True, status="revoked", revocation_time="2026-11-30T10:00:00Z",
        revocation_reason="keyCompromise", certificate="cert_content (CN=www.example.org, serial 1)",
        responder_url="http://ocsp.test/", response="MAo="))[0]
    assert (out["action"], out["stapled"], out["status"]) == ("remove", False, "revoked")
    assert out["failure"].startswith("site www: cert_content (CN=www.example.org, serial 1) is REVOKED since "
                                     "2026-11-30T10:00:00Z (keyCompromise)"), out


def test_unknown_is_never_stapled():
    entry = plan(None)
    out = staples.staple_outcomes([entry], fetched(entry, supported=True, status="unknown", response="MAo="))[0]
    assert (out["action"], out["stapled"]) == ("none", False) and "UNKNOWN" in out["failure"]


def test_responder_outage_keeps_a_valid_staple_and_says_so():
    entry = plan(response(this_update=NOW - 13 * HOUR, next_update=NOW + 11 * HOUR))
    out = staples.staple_outcomes([entry], fetched(entry, msg="cannot reach OCSP responder http://ocsp.test/",
                                                   changed=False, failed=False))[0]
    assert (out["action"], out["stapled"], out["status"]) == ("none", True, "good")
    assert "cannot reach" in out["failure"] and "stays served until its next_update" in out["failure"]


def test_responder_outage_without_a_valid_staple_removes_the_invalid_one():
    entry = plan(response(cert=OTHER_LEAF))
    out = staples.staple_outcomes([entry], fetched(entry, msg="cannot reach OCSP responder", failed=True))[0]
    assert (out["action"], out["stapled"]) == ("remove", False) and "not stapled" in out["failure"]


def test_no_responder_removes_a_left_over_staple_with_a_notice_not_a_failure():
    key, leaf = issue(ISSUER, "le.example.org", ocsp_url=None)
    entry = staples.plan_staples([SITE], read((leaf.public_bytes(PEM) + ISSUER[1].public_bytes(PEM)).decode(),
                                              response()))[0]
    out = staples.staple_outcomes([entry], [])[0]
    assert (out["action"], out["failure"]) == ("remove", None) and "names no OCSP responder" in out["notice"]


# -- the certificate role: each deploy item gets its own certificate's good staple, or none -------------------

def test_attach_staples_matches_the_certificate_and_skips_anything_but_good():
    new_pem, other_pem = LEAF.public_bytes(PEM).decode(), OTHER_LEAF.public_bytes(PEM).decode()
    items = [{"certificate_dir": "/a", "cert": new_pem}, {"certificate_dir": "/b", "cert": other_pem},
             {"certificate_dir": "/c", "cert": "x"}]
    results = [{"item": {"name": "a", "cert": new_pem + "\n"}, "supported": True, "status": "good", "response": "QQ=="},
               {"item": {"name": "b", "cert": other_pem}, "supported": True, "status": "revoked", "response": "Qg=="},
               {"item": {"name": "c", "cert": "x"}, "failed": True, "msg": "unreachable"},
               {"item": {"name": "d"}, "skipped": True}]
    attached = staples.attach_staples(items, results)
    assert attached[0]["ocsp_response"] == "QQ==" and "ocsp_response" not in attached[1]
    assert "ocsp_response" not in attached[2] and "ocsp_response" not in items[0]  # the input is not changed
    assert staples.attach_staples(items, []) == items
