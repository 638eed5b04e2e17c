"""CAA (RFC 8659, RFC 8657) as a CA decides it, and the climb to the parent names. The decision is a pure function;
the climb runs against a small in-memory name server (the network is faked, the lookup logic is not)."""

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import pytest

from ansible_collections.certfleet.tls.plugins.module_utils._dns import caa
from ansible_collections.certfleet.tls.plugins.module_utils._dns.client import DnsError
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError

LE = ("letsencrypt.org",)


class ZoneServer:
    """Answers from a dict {(name, TYPE): [values]} like a recursive resolver would: CNAMEs chased inside the
    answer (unless ``chase`` is off), NXDOMAIN for names that own nothing, ``fail`` names answer SERVFAIL."""

    def __init__(self, data, chase=True, fail=()):
        self.data = {(dns.name.from_text(n), t): v for (n, t), v in data.items()}
        self.chase, self.fail = chase, set(dns.name.from_text(n) for n in fail)
        self.label = "fake-resolver:53"
        self.asked = []

    def query(self, name, rdtype):
        name = dns.name.from_text(name.to_text()) if isinstance(name, dns.name.Name) else dns.name.from_text(name)
        rdtype = dns.rdatatype.to_text(rdtype) if not isinstance(rdtype, str) else rdtype
        self.asked.append((name.to_text(), rdtype))
        response = dns.message.make_response(dns.message.make_query(name, rdtype))
        response.flags |= dns.flags.AA
        if name in self.fail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        current = name
        for _hop in range(8):
            if (current, rdtype) in self.data:
                response.answer.append(dns.rrset.from_text_list(current, 300, "IN", rdtype, self.data[(current, rdtype)]))
                return response
            if (current, "CNAME") in self.data:
                target = self.data[(current, "CNAME")][0]
                response.answer.append(dns.rrset.from_text_list(current, 300, "IN", "CNAME", [target]))
                current = dns.name.from_text(target)
                if not self.chase:
                    return response
                continue
            break
        if not any(n == current for n, _t in self.data):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


def records(*texts):
    return [dns.rdata.from_text("IN", "CAA", t) for t in texts]


def decide(domain, texts, identities=LE, **kw):
    return caa.decide(domain, dns.name.from_text("example.org"), records(*texts), identities, **kw)


# -- the decision (RFC 8659 §4) ---------------------------------------------------------------------------------
def test_no_caa_record_does_not_restrict():
    result = caa.decide("www.example.org", None, [], LE)
    assert result["allowed"] and result["caa_owner"] is None and "does not restrict" in result["reason"]


def test_issue_naming_the_ca_allows_and_names_the_record():
    result = decide("www.example.org", ['0 issue "other-ca.example"', '0 issue "LetsEncrypt.org."'])
    assert result["allowed"] and result["matched"] == '0 issue "LetsEncrypt.org."'  # issuer names: case-insensitive


def test_issue_naming_another_ca_forbids_and_names_record_and_identities():
    result = decide("www.example.org", ['0 issue "other-ca.example"', '0 iodef "mailto:ops@example.org"'])
    assert not result["allowed"] and result["property"] == "issue"
    assert '0 issue "other-ca.example"' in result["reason"] and "letsencrypt.org" in result["reason"]
    assert "example.org" in result["reason"]


def test_empty_issuer_forbids_every_ca():
    assert not decide("www.example.org", ['0 issue ";"'])["allowed"]


def test_only_iodef_does_not_restrict():
    result = decide("www.example.org", ['0 iodef "mailto:ops@example.org"'])
    assert result["allowed"] and result["property"] is None


def test_issuewild_replaces_issue_for_a_wildcard_and_is_ignored_otherwise():
    texts = ['0 issue "letsencrypt.org"', '0 issuewild ";"']
    assert not decide("*.example.org", texts)["allowed"]
    assert decide("www.example.org", texts)["allowed"]
    # a wildcard without issuewild falls back to issue
    assert decide("*.example.org", ['0 issue "letsencrypt.org"'])["allowed"]
    assert decide("*.example.org", ['0 issue ";"', '0 issuewild "letsencrypt.org"'])["allowed"]


def test_unknown_critical_tag_forbids_and_unknown_plain_tag_is_ignored():
    result = decide("www.example.org", ['128 tbs "unknown"', '0 issue "letsencrypt.org"'])
    assert not result["allowed"] and "critical" in result["reason"] and "tbs" in result["reason"]
    assert decide("www.example.org", ['0 tbs "unknown"', '0 issue "letsencrypt.org"'])["allowed"]


def test_validationmethods_parameter_is_matched_against_the_challenge_type():
    texts = ['0 issue "letsencrypt.org; validationmethods=dns-01"']
    assert decide("www.example.org", texts, challenge_type="dns-01")["allowed"]
    refused = decide("www.example.org", texts, challenge_type="http-01")
    assert not refused["allowed"] and "dns-01" in refused["reason"] and "http-01" in refused["reason"]
    assert decide("www.example.org", texts)["allowed"]  # challenge type unknown: not checked


def test_accounturi_parameter_is_matched_against_the_account():
    texts = ['0 issue "letsencrypt.org; accounturi=https://acme.example/acct/1"']
    assert decide("www.example.org", texts, account_uri="https://acme.example/acct/1")["allowed"]
    assert not decide("www.example.org", texts, account_uri="https://acme.example/acct/2")["allowed"]


def test_issue_value_parsing():
    assert caa.parse_issue_value(" ca.example ; accounturi = https://x/1 ;validationmethods=dns-01 ") == (
        "ca.example", {"accounturi": "https://x/1", "validationmethods": "dns-01"})
    assert caa.parse_issue_value(";") == ("", {})


# -- the climb (RFC 8659 §3) ------------------------------------------------------------------------------------
def test_the_relevant_rrset_is_found_at_the_nearest_parent_and_the_root_is_never_asked():
    server = ZoneServer({("example.org", "CAA"): ['0 issue "other-ca.example"'], ("www.example.org", "A"): ["192.0.2.1"]})
    owner, found = caa.relevant_rrset(server, "deep.www.example.org")
    assert owner.to_text() == "example.org." and [r.to_text() for r in found] == ['0 issue "other-ca.example"']
    assert [n for n, _t in server.asked] == ["deep.www.example.org.", "www.example.org.", "example.org."]
    none = ZoneServer({})
    assert caa.relevant_rrset(none, "a.b.example") == (None, [])
    assert "." not in [n for n, _t in none.asked] and "example." in [n for n, _t in none.asked]


def test_a_wildcard_is_looked_up_at_its_base_name():
    server = ZoneServer({("example.org", "CAA"): ['0 issuewild ";"']})
    result = caa.check_caa(server, ["*.example.org"], LE)[0]
    assert not result["allowed"] and result["caa_owner"] == "example.org"
    assert server.asked[0] == ("example.org.", "CAA")


def test_cname_is_followed_even_when_the_server_does_not_chase_it():
    data = {("www.example.org", "CNAME"): ["cdn.provider.example."],
            ("cdn.provider.example", "CAA"): ['0 issue "letsencrypt.org"'],
            ("example.org", "CAA"): ['0 issue ";"']}
    for chase in (True, False):
        result = caa.check_caa(ZoneServer(data, chase=chase), ["www.example.org"], LE)[0]
        assert result["allowed"] and result["records"] == ['0 issue "letsencrypt.org"'], chase


def test_a_failed_lookup_is_an_error_not_a_yes():
    with pytest.raises(DnsError, match="SERVFAIL.*RFC 8659"):
        caa.check_caa(ZoneServer({}, fail=["www.example.org"]), ["www.example.org"], LE)


def test_no_identity_is_an_input_error_that_says_which_option_to_set():
    with pytest.raises(InputError, match="caa_identities"):
        caa.check_caa(ZoneServer({}), ["www.example.org"], [])


def test_forbidden_message_names_each_name_record_and_ca():
    results = caa.check_caa(ZoneServer({("example.org", "CAA"): ['0 issue "other-ca.example"']}),
                            ["www.example.org", "example.org"], ["pebble.letsencrypt.org"])
    msg = caa.forbidden_message(results, "the CA at https://ca.example/dir")
    assert msg.startswith("CAA forbids the CA at https://ca.example/dir to issue for www.example.org, example.org")
    assert '0 issue "other-ca.example"' in msg and "pebble.letsencrypt.org" in msg
