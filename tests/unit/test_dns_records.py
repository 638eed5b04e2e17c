"""The pure half of dns_record: record values, TSIG keys, and the plan (what one update adds and deletes) for every
state, from what the primary holds. No network: the plan is computed from given RRsets."""

import base64

import dns.rdatatype
import pytest

from ansible_collections.certfleet.tls.plugins.module_utils._dns import client, records, update
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError

SECRET = base64.b64encode(b"k" * 32).decode()


def rd(rtype, value):
    return records.make_rdata(rtype, value)


# -- values ------------------------------------------------------------------------------------------------------
def test_txt_value_is_the_text_and_long_values_are_split_into_255_byte_strings():
    long_value = "a" * 300
    rdata = rd("TXT", long_value)
    assert [len(s) for s in rdata.strings] == [255, 45]  # RFC 1035 §3.3.14
    assert records.value_text(rdata) == long_value
    # the same text split otherwise is the same record: a server may hand it back in other pieces
    other = dns.rdata.from_text("IN", "TXT", '"%s" "%s"' % ("a" * 100, "a" * 200))
    assert records.rdata_key(other) == records.rdata_key(rdata)


def test_quotes_and_spaces_in_a_txt_value_are_data_not_syntax():
    rdata = rd("TXT", 'v=spf1 "quoted"')
    assert records.value_text(rdata) == 'v=spf1 "quoted"'
    assert rdata.strings == (b'v=spf1 "quoted"',)


def test_tlsa_and_caa_compare_by_meaning_not_by_spelling():
    assert records.rdata_key(rd("TLSA", "3 1 1 " + "AB" * 32)) == records.rdata_key(rd("TLSA", "3 1 1 " + "ab" * 32))
    assert records.rdata_key(rd("TLSA", "3 1 1 " + "ab" * 32)) != records.rdata_key(rd("TLSA", "3 0 1 " + "ab" * 32))
    caa = rd("CAA", '0 issue "letsencrypt.org"')
    assert (caa.flags, caa.tag, caa.value) == (0, b"issue", b"letsencrypt.org")


def test_cname_target_is_absolute_even_without_its_final_dot():
    rdata = rd("CNAME", "_acme-challenge.www.acme.example.net")
    assert rdata.target.to_text() == "_acme-challenge.www.acme.example.net."
    assert records.value_text(rdata) == "_acme-challenge.www.acme.example.net"


@pytest.mark.parametrize("rtype, value, fragment", [
    ("TLSA", "3 1 1 not-hex", "TLSA"),
    ("TLSA", "3 1 1 abcd", "TLSA"),  # a SHA-256 is 32 bytes
    ("A", "300.1.2.3", "A"),
    ("CAA", "issue letsencrypt.org", "CAA"),
])
def test_a_bad_value_names_the_record_and_the_value(rtype, value, fragment):
    with pytest.raises(InputError) as info:
        records.RecordRequest("www.example.org", rtype, [value])
    assert value in info.value.msg and "www.example.org" in info.value.msg and fragment in info.value.msg


def test_unsupported_type_and_two_cname_targets_are_refused():
    with pytest.raises(InputError, match="MX"):
        records.RecordRequest("example.org", "MX", ["10 mail.example.org"])
    with pytest.raises(InputError, match="at most one CNAME"):
        records.RecordRequest("www.example.org", "CNAME", ["a.example.org", "b.example.org"])


def test_wildcard_and_apex_values_at_one_name_merge_into_one_rrset():
    merged = records.merge_requests([
        records.RecordRequest("_acme-challenge.example.org", "TXT", ["apex-digest"]),
        records.RecordRequest("_acme-challenge.example.org.", "txt", ["wildcard-digest", "apex-digest"]),
        records.RecordRequest("_acme-challenge.www.example.org", "TXT", ["www-digest"]),
    ])
    assert [(m.record, [records.value_text(v) for v in m.values]) for m in merged] == [
        ("_acme-challenge.example.org", ["apex-digest", "wildcard-digest"]),
        ("_acme-challenge.www.example.org", ["www-digest"]),
    ]


def test_records_items_are_checked_by_index():
    with pytest.raises(InputError, match=r"records\[1\] has unknown keys value"):
        update.requests_from([{"record": "a.example.org", "type": "TXT", "values": ["x"]},
                              {"record": "b.example.org", "type": "TXT", "value": "x"}])


# -- TSIG keys ---------------------------------------------------------------------------------------------------
def test_tsig_key_never_shows_its_secret():
    key = client.TsigKey("acme-update", SECRET)
    assert SECRET not in repr(key) and "acme-update" in repr(key)
    assert key.dns_key.algorithm.to_text() == "hmac-sha256."


def test_a_secret_that_is_not_base64_is_refused_without_echoing_it():
    with pytest.raises(InputError) as info:
        client.TsigKey("acme-update", "not base64 at all!")
    assert "acme-update" in info.value.msg and "not base64 at all" not in info.value.msg


def test_bind_key_file_as_tsig_keygen_writes_it():
    text = 'key "acme-update" {\n\talgorithm hmac-sha512;\n\tsecret "%s";\n};\n' % SECRET
    assert client.parse_bind_key_file(text, "/k") == ("acme-update", SECRET, "hmac-sha512")
    two = text + 'key "other" { algorithm hmac-sha256; secret "%s"; };\n' % SECRET
    with pytest.raises(InputError, match="several keys"):
        client.parse_bind_key_file(two, "/k")
    assert client.parse_bind_key_file(two, "/k", "other")[0] == "other"
    with pytest.raises(InputError, match="no BIND key statement named 'missing'"):
        client.parse_bind_key_file(two, "/k", "missing")


# -- the plan ----------------------------------------------------------------------------------------------------
def plan(state, values, before=(), before_ttl=None, ttl=None, exclusive=False, rtype="TXT"):
    request = records.RecordRequest("_acme-challenge.example.org", rtype, list(values), ttl)
    result = update.RecordPlan(request, state, exclusive)
    result.compute(before_ttl if before else None, [rd(rtype, v) for v in before])
    return result


def texts(rdatas):
    return sorted(records.value_text(r) for r in rdatas)


def test_present_adds_only_the_missing_value_and_keeps_others_with_their_ttl():
    p = plan("present", ["new"], before=["other-challenge"], before_ttl=60)
    assert p.changed and texts(p.adds) == ["new"] and not p.deletes and not p.delete_rrset
    assert p.ttl == 60 and texts(p.after) == ["new", "other-challenge"]
    assert p.expectation() == ("contains", {records.rdata_key(rd("TXT", "new"))})


def test_present_when_already_there_changes_nothing():
    p = plan("present", ["v"], before=["v", "w"], before_ttl=60)
    assert not p.changed and texts(p.after) == ["v", "w"]


def test_a_new_rrset_gets_the_default_ttl_and_an_explicit_ttl_replaces_the_whole_rrset():
    assert plan("present", ["v"]).ttl == records.DEFAULT_TTL
    p = plan("present", ["v"], before=["v", "w"], before_ttl=3600, ttl=60)
    assert p.changed and p.delete_rrset and p.ttl == 60 and texts(p.adds) == ["v", "w"]  # RFC 2181 §5.2


def test_exclusive_makes_the_rrset_exactly_the_values():
    new, old = "3 1 1 " + "aa" * 32, "3 1 1 " + "bb" * 32
    p = plan("present", [new], before=[old], before_ttl=300, exclusive=True, rtype="TLSA")
    assert p.changed and p.delete_rrset and texts(p.adds) == [new] and texts(p.after) == [new]
    same = plan("present", [new.upper()], before=[new], before_ttl=300, exclusive=True, rtype="TLSA")
    assert not same.changed and same.expectation()[0] == "equals"


def test_absent_removes_only_the_given_values_or_the_whole_rrset():
    p = plan("absent", ["mine"], before=["mine", "someone-else"], before_ttl=60)
    assert texts(p.deletes) == ["mine"] and not p.delete_rrset and texts(p.after) == ["someone-else"]
    assert p.expectation()[0] == "excludes"
    whole = plan("absent", [], before=["a", "b"], before_ttl=60)
    assert whole.delete_rrset and whole.after == [] and whole.expectation() == ("empty", set())
    assert not plan("absent", ["gone"]).changed


def test_present_without_values_is_refused():
    with pytest.raises(InputError, match="needs values"):
        plan("present", [])


def test_a_cname_is_always_exclusive():
    p = plan("present", ["new.example.net"], before=["old.example.net"], before_ttl=300, rtype="CNAME")
    assert p.exclusive and p.delete_rrset and texts(p.adds) == ["new.example.net"]


def test_the_update_message_carries_the_plan():
    import dns.update
    p = plan("present", ["v2"], before=["v1"], before_ttl=3600, ttl=60)
    message = dns.update.UpdateMessage("example.org")
    p.add_to(message)
    text = message.to_text()
    assert "\n_acme-challenge.example.org. ANY TXT\n" in text  # delete the RRset (RFC 2136 §2.5.2)
    assert '_acme-challenge.example.org. 60 IN TXT "v1"' in text and '_acme-challenge.example.org. 60 IN TXT "v2"' in text


def test_diff_shows_zone_file_lines_before_and_after():
    p = plan("present", ["new"], before=["old"], before_ttl=60)
    p.zone = dns.name.from_text("example.org.")
    shown = update.diff([p])
    assert shown["before"] == '_acme-challenge.example.org. 60 IN TXT "old"\n'
    assert shown["after"].splitlines() == ['_acme-challenge.example.org. 60 IN TXT "old"',
                                           '_acme-challenge.example.org. 60 IN TXT "new"']
    assert "example.org" in shown["before_header"]


def test_rdatatype_names_are_the_supported_ones():
    for rtype in records.SUPPORTED_TYPES:
        dns.rdatatype.from_text(rtype)


# -- the module's local checks (before any DNS traffic) ---------------------------------------------------------
def test_module_refuses_a_bad_secret_by_key_name_and_never_prints_it(module_runner):
    result = module_runner("dns_record", dict(server="192.0.2.1", record="x.example.org", type="TXT", values=["v"],
                                              tsig_key_name="acme-update", tsig_key_secret="%%secret%%"))
    assert result["failed"] and "the secret of TSIG key 'acme-update' is not base64" in result["msg"], result
    assert "%%secret%%" not in str(result)


def test_module_refuses_an_unreadable_key_file_by_path(module_runner, tmp_path):
    result = module_runner("dns_record", dict(server="192.0.2.1", record="x.example.org", type="TXT", values=["v"],
                                              tsig_key_file=str(tmp_path / "missing.key")))
    assert result["failed"] and "tsig_key_file %s cannot be read" % (tmp_path / "missing.key") in result["msg"]
