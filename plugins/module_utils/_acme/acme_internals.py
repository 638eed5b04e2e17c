# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one door to the ``acme`` library's private API.

We need three things the library does not offer publicly: to count and bound every HTTP request
(``ClientNetwork._send_request``), to share one nonce pool between threads and between the two steps of an
order (``_nonces``, ``_get_nonce``, ``_add_nonce``), and to sign and check a POST ourselves so that the nonce
an *error* answer carries is kept for the retry (``_wrap_in_jws``, ``_check_response``, RFC 8555 §6.5).

Every use of a private member of an ``acme`` object is in this file and nowhere else. ``PRIVATE_API`` lists
them with the parameter names we pass; tests/unit/test_acme_internals.py fails when a new ``acme`` release
renames or reshapes one of them. meta/ee-requirements.txt pins the release range those tests ran with.
Everything else (network.py, session.py, orders.py, account.py) uses the public names defined here.
"""

from __future__ import annotations

try:
    from acme import client as acme_client
    HAS_ACME = True
    _ClientNetwork = acme_client.ClientNetwork
except ImportError:  # pragma: no cover - reported by the glue with the missing library's name
    HAS_ACME = False
    _ClientNetwork = object

# (class name in acme.client, member, parameter names we pass, in order). Checked by the unit test.
PRIVATE_API = (
    ("ClientNetwork", "_send_request", ("self", "method", "url")),
    ("ClientNetwork", "_get_nonce", ("self", "url", "new_nonce_url")),
    ("ClientNetwork", "_add_nonce", ("self", "response")),
    ("ClientNetwork", "_wrap_in_jws", ("self", "obj", "nonce", "url")),
    ("ClientNetwork", "_check_response", ("response", "content_type")),  # a classmethod
)
# Instance attributes of ClientNetwork that we read or write, with their type.
PRIVATE_ATTRIBUTES = (("_nonces", set),)


class LibraryNetwork(_ClientNetwork):
    """``acme.client.ClientNetwork`` with its private hooks renamed to public ones.

    The library calls ``_send_request`` (from get, head and its own POST path) and ``_add_nonce`` /
    ``_get_nonce`` (nonce handling); each is routed here to a public method that a subclass may override:
    ``send_request``, ``store_nonce`` and ``take_nonce``. The library's behaviour stays the default.
    """

    # -- hooks the library calls: route them to the public names ------------------------------
    def _send_request(self, method, url, *args, **kwargs):
        return self.send_request(method, url, *args, **kwargs)

    def _add_nonce(self, response):
        self.store_nonce(response)

    def _get_nonce(self, url, new_nonce_url):
        return self.take_nonce(url, new_nonce_url)

    # -- the library's behaviour, under public names ------------------------------------------
    def send_request(self, method, url, *args, **kwargs):
        """One HTTP request (verify_ssl, user agent, timeout applied by the library)."""
        return _ClientNetwork._send_request(self, method, url, *args, **kwargs)

    def store_nonce(self, response):
        """Keep the Replay-Nonce of an answer (RFC 8555 §6.5); MissingNonce/BadNonce when it has none."""
        _ClientNetwork._add_nonce(self, response)

    def take_nonce(self, url, new_nonce_url):
        """A nonce from the pool, or from a HEAD to newNonce when the pool is empty (RFC 8555 §7.2)."""
        return _ClientNetwork._get_nonce(self, url, new_nonce_url)

    def sign(self, obj, nonce, url):
        """The flattened JWS of ``obj`` (None: POST-as-GET, empty payload) with kid or jwk (RFC 8555 §6.2)."""
        return self._wrap_in_jws(obj, nonce, url)

    def check_response(self, response, content_type=None):
        """The library's answer check: messages.Error for a problem document, ClientError otherwise."""
        return self._check_response(response, content_type=content_type)

    @property
    def nonce_pool(self):
        """The set of unused nonces (decoded bytes), shared by every thread of this network."""
        return self._nonces
