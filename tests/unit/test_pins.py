"""SPKI pins, the HPKP header and TLSA data, checked against the real openssl binary (an independent computation)."""

import shutil
import subprocess

import pytest

from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys, pins

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is the independent reference")

# How each kind of input is turned into DER SubjectPublicKeyInfo by openssl, then hashed the HPKP way.
PIPELINES = {
    "certificate": "openssl x509 -in {path} -pubkey -noout | openssl pkey -pubin -outform der",
    "public_key": "openssl pkey -pubin -in {path} -outform der",
    "private_key": "openssl pkey -in {path} -pubout -outform der",
    "csr": "openssl req -in {path} -pubkey -noout | openssl pkey -pubin -outform der",
}
PIN_TAIL = " | openssl dgst -sha256 -binary | base64"
TLSA_TAIL = " | sha256sum | cut -d' ' -f1"


def sh(command):
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, capture_output=True).stdout


def openssl_pin(kind, path):
    return sh(PIPELINES[kind].format(path=path) + PIN_TAIL).decode().strip()


def openssl_tlsa(kind, path):
    return sh(PIPELINES[kind].format(path=path) + TLSA_TAIL).decode().strip()


# Key generation by openssl itself, in the formats operators meet: traditional EC (after EC PARAMETERS),
# traditional RSA, and PKCS#8 for both.
KEYGEN = {
    "ec256-traditional": "openssl ecparam -name prime256v1 -genkey -out {key}",
    "ec256-pkcs8": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {key}",
    "rsa2048-traditional": "openssl genrsa -traditional -out {key} 2048",
    "rsa2048-pkcs8": "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {key}",
}


@pytest.fixture(params=sorted(KEYGEN), scope="module")
def material(request, tmp_path_factory):
    """One key made by openssl, with its certificate, public key and CSR, all as files."""
    base = tmp_path_factory.mktemp(request.param)
    names = (("private_key", "key.pem"), ("certificate", "cert.pem"), ("public_key", "pub.pem"), ("csr", "req.pem"))
    files = {kind: base / name for kind, name in names}
    sh(KEYGEN[request.param].format(key=files["private_key"]))
    sh("openssl req -new -x509 -key {k} -subj /CN=www.example.org -days 2 -out {c}".format(
        k=files["private_key"], c=files["certificate"]))
    sh("openssl pkey -in {k} -pubout -out {p}".format(k=files["private_key"], p=files["public_key"]))
    sh("openssl req -new -key {k} -subj /CN=www.example.org -out {r}".format(k=files["private_key"], r=files["csr"]))
    files["key_type"] = request.param
    return files


def _der(kind, path):
    convert = {"certificate": "openssl x509 -in {p} -outform der", "public_key": "openssl pkey -pubin -in {p} -outform der",
               "private_key": "openssl pkey -in {p} -outform der", "csr": "openssl req -in {p} -outform der"}
    return sh(convert[kind].format(p=path))


@needs_openssl
@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_pin_matches_the_openssl_pipeline(material, kind):
    expected = openssl_pin(kind, material[kind])
    assert len(expected) == 44
    pem = material[kind].read_bytes()
    assert pins.spki_pin(pins.load_public_key_from_any(pem)) == expected
    assert pins.spki_pin(pins.load_public_key_from_any(pem.decode())) == expected  # str input too
    assert pins.spki_pin(pins.load_public_key_from_any(_der(kind, material[kind]))) == expected
    # The certificate's own pipeline from the contract, whatever the input kind: one key, one pin.
    assert expected == openssl_pin("certificate", material["certificate"])


@needs_openssl
def test_pin_reuses_keys_helper_and_accepts_objects(material):
    private_key = keys.load_private_key(material["private_key"].read_bytes())
    assert pins.spki_pin(private_key) == keys.spki_sha256(private_key.public_key())
    assert pins.spki_pin(private_key) == openssl_pin("private_key", material["private_key"])


@needs_openssl
def test_source_describes_without_content(material):
    kind = pins.load_key_material(material["certificate"].read_bytes())
    assert kind.kind == "certificate" and kind.label.startswith("certificate CN=www.example.org, ")
    key_label = pins.load_key_material(material["private_key"].read_bytes()).label
    expected_type = "EC P-256 key" if material["key_type"].startswith("ec") else "RSA 2048 key"
    assert key_label == "private key, " + expected_type
    assert pins.load_key_material(material["csr"].read_bytes()).label.startswith("CSR CN=www.example.org")


@needs_openssl
def test_tlsa_3_1_1_matches_sha256sum_of_openssl_der(material):
    expected = openssl_tlsa("certificate", material["certificate"])
    key = pins.load_public_key_from_any(material["private_key"].read_bytes())
    records = pins.tlsa_records({"active": key}, ["www.example.org"])
    assert records == [{"name": "_443._tcp.www.example.org.", "usage": 3, "selector": 1, "matching_type": 1,
                        "data": expected, "role": "active"}]
    assert pins.tlsa_zone_lines(records) == ["_443._tcp.www.example.org. IN TLSA 3 1 1 " + expected]


@needs_openssl
def test_tlsa_issuer_2_1_1_and_mail_service(tmp_path):
    ca_key, ca_cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {k} -subj /CN=Test-CA "
       "-days 2 -out {c}".format(k=ca_key, c=ca_cert))
    active = keys.generate_private_key("ec256")
    backup = keys.generate_private_key("rsa2048")
    records = pins.tlsa_records({"active": [active], "backup": [backup.public_key()]},
                                ["www.example.org", "Mail.Example.org"], ports=(443, 25),
                                issuer_cert=ca_cert.read_bytes())
    issuer_hex = openssl_tlsa("certificate", ca_cert)
    assert [(r["name"], r["usage"], r["role"]) for r in records[:3]] == [
        ("_443._tcp.www.example.org.", 3, "active"), ("_443._tcp.www.example.org.", 3, "backup"),
        ("_443._tcp.www.example.org.", 2, "issuer")]
    assert records[2]["data"] == issuer_hex
    assert records[1]["data"] == keys.tlsa_3_1_1(backup.public_key())
    assert {r["name"] for r in records} == {
        "_443._tcp.www.example.org.", "_25._tcp.www.example.org.", "_443._tcp.mail.example.org.",
        "_25._tcp.mail.example.org."}
    assert len(records) == 12
    lines = pins.tlsa_zone_lines(records, ttl=300)
    assert lines[2] == "_443._tcp.www.example.org. 300 IN TLSA 2 1 1 " + issuer_hex


def test_tlsa_dedupes_a_backup_equal_to_active_and_refuses_bad_input():
    key = keys.generate_private_key()
    records = pins.tlsa_records({"active": key, "backup": [key.public_key()]}, "www.example.org")
    assert [r["role"] for r in records] == ["active"]
    with pytest.raises(InputError, match="wildcard"):
        pins.tlsa_records({"active": key}, ["*.example.org"])
    with pytest.raises(InputError, match="port 0"):
        pins.tlsa_records({"active": key}, ["www.example.org"], ports=[0])
    with pytest.raises(InputError, match="no active key"):
        pins.tlsa_records({"backup": key}, ["www.example.org"])
    with pytest.raises(InputError, match="only active and backup"):
        pins.tlsa_records({"active": key, "spare": key}, ["www.example.org"])
    with pytest.raises(InputError, match="not a certificate"):
        pins.tlsa_records({"active": key}, ["www.example.org"], issuer_cert=keys.private_key_to_pem(key))


ACTIVE = keys.generate_private_key("ec256")
BACKUP = keys.generate_private_key("ec256")
ACTIVE_PIN = pins.spki_pin(ACTIVE)
BACKUP_PIN = pins.spki_pin(BACKUP)


def test_header_value_order_and_directives():
    name, value = pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN, ACTIVE_PIN, BACKUP_PIN], max_age=600,
                                   include_subdomains=True, report_uri="https://r.example.org/hpkp")
    assert name == "Public-Key-Pins-Report-Only"
    assert value == ('pin-sha256="%s"; pin-sha256="%s"; max-age=600; includeSubDomains; '
                     'report-uri="https://r.example.org/hpkp"' % (ACTIVE_PIN, BACKUP_PIN))
    assert pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN])[1].endswith("; max-age=5184000")


def test_report_only_switches_the_header_name():
    assert pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN], report_only=False)[0] == "Public-Key-Pins"
    assert pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN], report_only=True)[0] == "Public-Key-Pins-Report-Only"


@pytest.mark.parametrize("backup", [[], [ACTIVE_PIN]])
def test_header_refused_without_a_differing_backup_pin(backup):
    with pytest.raises(InputError, match=r"no backup pin differs.*RFC 7469 §4.3"):
        pins.hpkp_header([ACTIVE_PIN], backup)


def test_result_refused_when_the_backup_is_the_active_key():
    with pytest.raises(InputError, match="no backup pin differs"):
        pins.hpkp_result([keys.private_key_to_pem(ACTIVE).decode()], [ACTIVE_PIN])


@pytest.mark.parametrize("max_age", [-1, None, "60"])
def test_negative_or_non_integer_max_age_refused(max_age):
    with pytest.raises(InputError, match="max_age"):
        pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN], max_age=max_age)


def test_max_age_zero_is_allowed():
    # RFC 7469 §2.1.2: max-age=0 tells a UA to forget the pins, the way out of a pin set.
    assert "max-age=0" in pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN], max_age=0)[1]


@pytest.mark.parametrize("uri", ['https://x.example/"', "ftp://x.example/", "/relative", "https://x.example/a b"])
def test_unusable_report_uri_refused(uri):
    with pytest.raises(InputError, match="report_uri"):
        pins.hpkp_header([ACTIVE_PIN], [BACKUP_PIN], report_uri=uri)


def test_result_lists_pins_with_roles_and_sources_without_content(tmp_path):
    key_pem = keys.private_key_to_pem(ACTIVE).decode()
    backup_file = tmp_path / "backup.csr"
    backup_file.write_bytes(keys.make_csr(BACKUP, ["www.example.org"]))
    result = pins.hpkp_result([key_pem, key_pem], [str(backup_file), BACKUP_PIN])
    assert result["pins"] == [
        {"sha256": ACTIVE_PIN, "role": "active",
         "source": "active[0]: private key, EC P-256 key, PEM content (also active[1])"},
        {"sha256": BACKUP_PIN, "role": "backup",
         "source": "backup[0]: CSR CN=www.example.org, EC P-256 key, file %s (also backup[1])" % backup_file},
    ]
    assert result["header_value"].count("pin-sha256=") == 2
    assert "Chrome 72" in result["warnings"][0] and "Firefox 72" in result["warnings"][0]
    assert "sha256//" + ACTIVE_PIN in result["warnings"][0] and "DANE" in result["warnings"][0]
    body = key_pem.splitlines()[1]
    assert body not in repr(result)


def test_backup_equal_to_an_active_key_is_noted():
    other = pins.spki_pin(keys.generate_private_key())
    result = pins.hpkp_result([keys.private_key_to_pem(ACTIVE).decode()], [ACTIVE_PIN, other])
    assert any("backup[0] has the same pin as an active input (active[0])" in w for w in result["warnings"])


GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nTk9UQUtFWVNFQ1JFVA==\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("bad, fragment", [
    (GARBAGE_PEM, "backup[1] has a PEM CERTIFICATE block that cannot be parsed"),
    ("-----BEGIN PRIVATE KEY-----\nTk9UQUtFWVNFQ1JFVA==\n", "backup[1] has a PEM header without a matching END"),
    ("-----BEGIN PKCS7-----\nTk9UQUtFWVNFQ1JFVA==\n-----END PKCS7-----\n", "backup[1] holds PEM PKCS7 but not"),
    ("/nonexistent/backup.pem", "backup[1]: file /nonexistent/backup.pem cannot be read"),
    ("not-a-pin=", "backup[1]: file not-a-pin= cannot be read"),
    ("x" * 80, "backup[1] is not PEM, a pin-sha256 value or a file path"),
])
def test_unparsable_input_is_named_and_not_shown(bad, fragment):
    with pytest.raises(InputError) as info:
        pins.hpkp_result([keys.private_key_to_pem(ACTIVE).decode()], [BACKUP_PIN, bad])
    assert fragment in info.value.msg
    assert "Tk9UQUtFWVNFQ1JFVA" not in info.value.msg and "x" * 80 not in info.value.msg


def test_unparsable_file_is_named_with_its_path(tmp_path):
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"\x30\x03\x02\x01\x05")
    with pytest.raises(InputError, match=r"active\[0\] \(file %s\) is not a certificate" % junk):
        pins.hpkp_result([str(junk)], [BACKUP_PIN])


def test_encrypted_private_key_refused_with_advice():
    encrypted = ACTIVE.private_bytes(
        pins.serialization.Encoding.PEM, pins.serialization.PrivateFormat.PKCS8,
        pins.serialization.BestAvailableEncryption(b"secret")).decode()
    with pytest.raises(InputError, match=r"active\[0\] is an encrypted private key; give its certificate"):
        pins.hpkp_result([encrypted], [BACKUP_PIN])


def test_raw_pin_only_as_backup():
    with pytest.raises(InputError, match=r"active\[0\] looks like a pin-sha256 value"):
        pins.hpkp_result([ACTIVE_PIN], [BACKUP_PIN])
    with pytest.raises(InputError, match="is not a pin-sha256 value"):
        pins.parse_pin("abc=", "backup[0]")


@pytest.mark.parametrize("item, allow_pin, kind", [
    (GARBAGE_PEM, True, "pem"),
    (BACKUP_PIN, True, "pin"),
    (BACKUP_PIN, False, "path"),
    ("/srv/pki/cert.pem", True, "path"),
    ("~/pki/cert.pem", False, "path"),
    ("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRETSECRETSECRET", True, "unknown"),
    ("line one\nline two", False, "unknown"),
    ("", False, "unknown"),
])
def test_input_kind_tells_public_entries_from_possible_secrets(item, allow_pin, kind):
    assert pins.input_kind(item, allow_pin) == kind
