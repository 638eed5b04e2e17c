"""The wait for every authoritative server, and the dns-01 pieces of the ACME core (RFC 8555 §8.4). Name servers
are small in-memory fakes with a fake clock: the wait's own logic (who lags, when to give up) is what runs."""

import dns.flags
import dns.message
import dns.name
import dns.rrset
import josepy as jose
import pytest
from acme import challenges as acme_challenges
from acme import messages

from ansible_collections.certfleet.tls.plugins.module_utils._acme import challenges, orders
from ansible_collections.certfleet.tls.plugins.module_utils._dns import preflight, propagation, records, update
from ansible_collections.certfleet.tls.plugins.module_utils._dns.client import DnsError, PropagationTimeout
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError

ZONE = dns.name.from_text("example.org.")
NAME = "_acme-challenge.example.org"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Server:
    """An authoritative server that answers `values` for NAME TXT, after `lag` seconds of the fake clock (before:
    `old`); `error` makes every query fail with that DnsError."""

    def __init__(self, label, clock, values, lag=0.0, old=(), error=None):
        self.label, self.clock, self.values, self.lag, self.old, self.error = label, clock, values, lag, old, error
        self.queries = 0

    def query(self, name, rdtype):
        self.queries += 1
        if self.error:
            raise self.error
        response = dns.message.make_response(dns.message.make_query(name, rdtype))
        response.flags |= dns.flags.AA
        values = self.values if self.clock() >= self.lag else self.old
        if values:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", "TXT", ['"%s"' % v for v in values]))
        return response


def plan(state="present", values=("digest",)):
    request = records.RecordRequest(NAME, "TXT", list(values))
    result = update.RecordPlan(request, state, False)
    result.compute(None, [])
    result.zone = ZONE
    return result


def test_waits_until_a_lagging_secondary_has_the_record():
    clock = Clock()
    primary = Server("ns1 (192.0.2.1:53)", clock, ["digest"])
    secondary = Server("ns2 (192.0.2.2:53)", clock, ["digest"], lag=3.0)
    waited = propagation.wait_until_served({ZONE: [("ns1", primary), ("ns2", secondary)]}, [plan()], timeout=30,
                                           clock=clock, sleep=clock.sleep)
    assert waited["servers"] == ["ns1 (192.0.2.1:53)", "ns2 (192.0.2.2:53)"]
    assert 3.0 <= waited["seconds"] < 6.0
    assert primary.queries == 1 and secondary.queries > 1  # a server in sync is not asked again


def test_timeout_names_the_servers_that_lag_and_what_they_answer():
    clock = Clock()
    servers = [("ns1", Server("ns1 (192.0.2.1:53)", clock, ["digest"])),
               ("ns2", Server("ns2 (192.0.2.2:53)", clock, ["digest"], lag=999, old=["stale"])),
               ("ns3", Server("ns3 (192.0.2.3:53)", clock, [], error=DnsError("DNS server ns3 did not answer")))]
    with pytest.raises(PropagationTimeout) as info:
        propagation.wait_until_served({ZONE: servers}, [plan()], timeout=10, clock=clock, sleep=clock.sleep)
    msg = info.value.msg
    assert msg.startswith("2 of 3 authoritative servers still lag after 10 s")
    assert "ns2 (192.0.2.2:53) answers _acme-challenge.example.org TXT: ['stale']" in msg
    assert "ns3 (192.0.2.3:53) DNS server ns3 did not answer" in msg and "ns1" not in msg.split(":", 1)[1]
    assert info.value.details["lagging"] == ["ns2 (192.0.2.2:53)", "ns3 (192.0.2.3:53)"]
    assert 10.0 - 2.0 <= clock.now <= 10.0  # bounded


def test_an_address_family_this_node_cannot_reach_is_reported_not_waited_for():
    import errno
    clock = Clock()
    v6 = Server("ns1 ([2001:db8::1]:53)", clock, [], error=DnsError("unreachable", errno=errno.ENETUNREACH))
    v4 = Server("ns1 (192.0.2.1:53)", clock, ["digest"])
    waited = propagation.wait_until_served({ZONE: [("ns1", v6), ("ns1", v4)]}, [plan()], timeout=10, clock=clock,
                                           sleep=clock.sleep)
    assert waited["servers"] == ["ns1 (192.0.2.1:53)"] and waited["unchecked"] == ["ns1 ([2001:db8::1]:53): unreachable"]
    with pytest.raises(PropagationTimeout, match="no authoritative server could be reached"):
        propagation.wait_until_served({ZONE: [("ns1", v6)]}, [plan()], timeout=10, clock=clock, sleep=clock.sleep)


def test_a_name_server_without_address_is_named():
    with pytest.raises(PropagationTimeout, match="ns9.example.net .zone example.org.: its address cannot be found"):
        propagation.wait_until_served({ZONE: [("ns9.example.net", None)]}, [plan()], timeout=1)


def test_removal_is_waited_for_too():
    clock = Clock()
    server = Server("ns1", clock, ["other"], lag=1.0, old=["digest", "other"])
    waited = propagation.wait_until_served({ZONE: [("ns1", server)]}, [plan("absent")], timeout=10, clock=clock,
                                           sleep=clock.sleep)
    assert waited["servers"] == ["ns1"] and clock.now >= 1.0


def test_explicit_nameservers_with_ports():
    parsed = propagation.explicit_nameservers(["192.0.2.1", "192.0.2.2:5353", "[2001:db8::1]:53"], 53)
    assert [(s.address, s.port) for _n, s in parsed] == [("192.0.2.1", 53), ("192.0.2.2", 5353), ("2001:db8::1", 53)]
    with pytest.raises(InputError, match="port 'x'"):
        propagation.explicit_nameservers(["192.0.2.1:x"], 53)


# -- dns-01 in the ACME core ------------------------------------------------------------------------------------
ACCOUNT_KEY = keys.generate_private_key()
JWK = jose.JWKEC(key=ACCOUNT_KEY)
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"  # RFC 8555 §8.4's example token


def challenge_body():
    return messages.ChallengeBody.from_json({"type": "dns-01", "url": "https://ca.example/chall/1", "status": "pending",
                                             "token": TOKEN})


def test_txt_value_is_the_base64url_sha256_of_the_key_authorization():
    described = challenges.get_challenge_type("dns-01").describe(challenge_body(), JWK, "example.org", "authz")
    assert described["key_authorization"] == TOKEN + "." + jose.b64encode(JWK.thumbprint()).decode()
    # an independent implementation: certbot's acme library
    assert described["value"] == acme_challenges.DNS01(token=jose.b64decode(TOKEN)).validation(JWK)
    assert len(described["value"]) == 43 and "=" not in described["value"]  # 32 bytes, base64url unpadded
    assert described["record"] == "_acme-challenge.example.org" and described["type"] == "dns-01"


def test_a_wildcard_and_its_apex_share_one_record_with_two_values():
    apex = {"type": "dns-01", "record": "_acme-challenge.example.org", "value": "A"}
    wildcard = {"type": "dns-01", "record": "_acme-challenge.example.org", "value": "B"}
    www = {"type": "dns-01", "record": "_acme-challenge.www.example.org", "value": "C"}
    http = {"type": "http-01", "token": "t", "path": ".well-known/acme-challenge/t"}
    assert challenges.dns_records([apex, wildcard, www, http, dict(apex)]) == [
        {"record": "_acme-challenge.example.org", "type": "TXT", "values": ["A", "B"]},
        {"record": "_acme-challenge.www.example.org", "type": "TXT", "values": ["C"]},
    ]
    assert challenges.dns01_record_name("*.example.org") == preflight.challenge_record("*.example.org.")


def test_wildcards_need_dns01_and_an_unknown_type_is_a_local_error():
    csr = keys.make_csr(keys.generate_private_key(), ["*.example.org", "example.org"]).decode()
    assert orders.prepare_request("w", csr, None, "dns-01") == ["*.example.org", "example.org"]
    with pytest.raises(InputError, match="wildcards need dns-01, not http-01"):
        orders.prepare_request("w", csr, None, "http-01")
    with pytest.raises(InputError, match="challenge_type 'tls-alpn-01' is not supported; use one of dns-01, http-01"):
        orders.prepare_request("w", csr, None, "tls-alpn-01")
