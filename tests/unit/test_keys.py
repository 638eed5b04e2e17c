import pytest

from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys


def test_normalize_domain_lowercases_and_idna_encodes():
    assert keys.normalize_domain("WWW.Example.ORG.") == "www.example.org"
    assert keys.normalize_domain("bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize("name, fragment", [
    ("*.example.org", "wildcard"),
    ("exa mple.org", "not a valid DNS name"),
    ("localhost", "not a valid DNS name"),
    ("-bad.example.org", "not a valid DNS name"),
    ("", "empty"),
])
def test_normalize_domain_rejects_with_the_name(name, fragment):
    with pytest.raises(InputError) as info:
        keys.normalize_domain(name)
    assert fragment in info.value.msg
    assert repr(name) in info.value.msg or name == ""


def test_wildcard_is_fine_for_dns01():
    assert keys.normalize_domain("*.example.org", "dns-01") == "*.example.org"


def test_duplicate_names_are_refused():
    with pytest.raises(InputError, match="listed twice"):
        keys.normalize_domains(["a.example.org", "A.example.org"])


@pytest.mark.parametrize("key_type", ["ec256", "ec384", "rsa2048"])
def test_csr_round_trip_keeps_names_and_signature(key_type):
    key = keys.generate_private_key(key_type)
    pem = keys.make_csr(key, ["www.example.org", "example.org"])
    csr, names = keys.csr_domains(pem)
    assert names == ["www.example.org", "example.org"]
    assert csr.is_signature_valid
    assert keys.private_key_to_pem(key).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_csr_with_broken_signature_is_refused():
    pem = keys.make_csr(keys.generate_private_key(), ["www.example.org"])
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # flip bits inside the signature
    import base64
    tampered = b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)) + \
        b"-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(InputError, match="invalid signature"):
        keys.csr_domains(tampered, what="operator CSR")


def test_csr_names_must_match_requested_domains():
    with pytest.raises(InputError, match=r"names \['a.example.org'\] but domains asks for \['b.example.org'\]"):
        keys.check_csr_matches(["a.example.org"], ["b.example.org"])


def test_not_a_csr_is_named():
    with pytest.raises(InputError, match="my.csr is not a PEM"):
        keys.csr_domains("hello", what="my.csr")


def test_unknown_key_type_lists_choices():
    with pytest.raises(InputError, match="ec256, ec384"):
        keys.generate_private_key("dsa1024")


def test_spki_pin_is_stable_and_differs_between_keys():
    a, b = keys.generate_private_key(), keys.generate_private_key()
    assert keys.spki_sha256(a.public_key()) == keys.spki_sha256(a.public_key())
    assert keys.spki_sha256(a.public_key()) != keys.spki_sha256(b.public_key())
    assert len(keys.spki_sha256(a.public_key())) == 44  # base64 of 32 bytes


def test_private_key_load_error_never_shows_content():
    with pytest.raises(InputError) as info:
        keys.load_private_key("-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----\n",
                              what="account key")
    assert "SECRETSTUFF" not in info.value.msg
    assert "account key" in info.value.msg


def test_tlsa_and_pin_describe_the_same_key():
    import base64
    key = keys.generate_private_key()
    pin = base64.b64decode(keys.spki_sha256(key.public_key())).hex()
    assert keys.tlsa_3_1_1(key.public_key()) == pin and len(pin) == 64
