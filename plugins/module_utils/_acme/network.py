# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport for the ``acme`` library: bounded retries, one deadline, and a request counter.

The library signs JWS and parses messages; we only decide *when to try again*:
- badNonce (RFC 8555 §6.5): the library retries once, Pebble rejects 5 % of nonces by default;
- connection errors, 5xx and 429, honouring Retry-After (RFC 9110 §10.2.3) for as long as the call's
  acme_timeout budget allows; a Retry-After beyond that budget fails at once, naming both;
- never a TLS certificate verification failure: it cannot heal by waiting, and it is a trust question
  (acme_ca_bundle), not an unreachable CA;
- a CA that omits Replay-Nonce on a successful answer: take a fresh nonce next time instead of failing
  a request that already succeeded (retrying a successful newOrder would create a second order).
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time

try:
    import requests
    from acme import errors as acme_errors
    from acme import messages
    HAS_ACME = True
except ImportError:  # pragma: no cover - reported by the glue with the missing library's name
    HAS_ACME = False

from ..errors import AcmeProblem, AcmeTimeout, AcmeUnavailable
from .acme_internals import LibraryNetwork

TRANSIENT_PROBLEMS = ("badNonce", "rateLimited", "serverInternal")


class RetryPolicy:
    """How long and how often to insist. ``timeout`` is the whole budget for one module call."""

    def __init__(self, attempts=8, first_delay=0.1, max_delay=8.0, timeout=300.0, request_timeout=30.0,
                 sleep=time.sleep, clock=time.monotonic, bad_nonce_attempts=20):
        self.attempts = attempts
        # badNonce costs one round trip and no pause, and some CAs reject nonces at random: it gets its own,
        # larger budget (still bounded by the deadline).
        self.bad_nonce_attempts = bad_nonce_attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.request_timeout = request_timeout
        self.sleep = sleep
        self.clock = clock
        self.deadline = clock() + timeout

    def remaining(self):
        return self.deadline - self.clock()

    def backoff(self, attempt):
        """Exponential backoff with jitter: 0.1, 0.2, 0.4 … capped; jitter spreads a fleet's retries."""
        delay = min(self.max_delay, self.first_delay * (2 ** attempt))
        return delay * (0.5 + random.random() / 2)


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date, RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def problem_from_error(error, url=None, status=None):
    """Turn ``acme.messages.Error`` into our AcmeProblem, keeping type, detail and subproblems."""
    subproblems = []
    for sub in (getattr(error, "subproblems", None) or ()):
        ident = getattr(sub, "identifier", None)
        subproblems.append({
            "type": sub.typ,
            "detail": sub.detail,
            "identifier": getattr(ident, "value", None),
        })
    # e.code is None for types the library does not know (for example invalidProfile): keep e.typ.
    msg = "ACME problem %s from %s: %s" % (error.typ, url or "the CA", error.detail or "(no detail)")
    for sub in subproblems:
        msg += "; %s: %s (%s)" % (sub["identifier"], sub["detail"], sub["type"])
    return AcmeProblem(msg, problem_type=error.typ, detail=error.detail, subproblems=subproblems,
                       status=status, url=url)


class ResilientNetwork(LibraryNetwork):
    """The library's network (through acme_internals) with our retry policy and a per-call request count."""

    def __init__(self, key, alg, verify_ssl=True, policy=None, user_agent="certfleet.tls"):
        policy = policy or RetryPolicy()
        super().__init__(key=key, alg=alg, verify_ssl=verify_ssl, user_agent=user_agent,
                         timeout=int(policy.request_timeout))
        self.policy = policy
        self.request_count = 0
        self.requests_by_method = {}
        self.count_lock = threading.Lock()
        self.per_thread = threading.local()
        self.nonce_ready = threading.Condition()
        self.posts_in_flight = 0
        # Orders run in threads: let them share connections instead of re-handshaking.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    # -- counting and per-request timeout ---------------------------------------------------
    def send_request(self, method, url, *args, **kwargs):
        remaining = self.policy.remaining()
        if remaining <= 0:
            raise AcmeTimeout("no final answer from the CA within %.0f s (acme_timeout); last URL %s"
                              % (self.policy.timeout, url), url=url)
        kwargs["timeout"] = min(self.policy.request_timeout, max(remaining, 0.5))
        with self.count_lock:
            self.request_count += 1
            self.requests_by_method[method] = self.requests_by_method.get(method, 0) + 1
        response = super().send_request(method, url, *args, **kwargs)
        self.per_thread.last_response = response
        return response

    # -- nonces: every answer carries the next one (RFC 8555 §6.5) ----------------------------
    def take_nonce(self, url, new_nonce_url, wait=2.0):
        """Prefer a nonce recycled from an answer in flight over a HEAD to newNonce.

        Threads of a batch start together with an empty pool; without this each would HEAD newNonce.
        Waiting for an answer already on its way costs less than one more request, and a HEAD to the same busy CA
        would not come back sooner: 0.5 s was too short on a loaded rig (7 extra HEADs in a run of 100 orders,
        docs/benchmarks.md), so a thread waits up to 2 s while another request is in flight.
        """
        with self.nonce_ready:
            give_up = time.monotonic() + wait
            while not self.nonce_pool and self.posts_in_flight and time.monotonic() < give_up:
                self.nonce_ready.wait(timeout=max(0.0, give_up - time.monotonic()))
            # Counted from the moment a nonce is handed out: signing takes time, and a thread that
            # holds a nonce will bring a fresh one back with its answer.
            self.posts_in_flight += 1
            if self.nonce_pool:
                return self.nonce_pool.pop()
        try:
            return super().take_nonce(url, new_nonce_url)
        except BaseException:
            with self.nonce_ready:
                self.posts_in_flight -= 1
            raise

    def store_nonce(self, response):
        with self.nonce_ready:
            super().store_nonce(response)
            self.nonce_ready.notify()

    def add_nonces(self, nonces):
        """Nonces handed over by an earlier call of the same run (decoded bytes)."""
        with self.nonce_ready:
            self.nonce_pool.update(nonces)
            self.nonce_ready.notify_all()

    def take_all_nonces(self):
        """Empty the pool and return what it held: nonces handed to the next call are never used twice."""
        with self.nonce_ready:
            nonces = list(self.nonce_pool)
            self.nonce_pool.clear()
        return nonces

    # -- RFC 8555 §6.5: an error response carries a fresh nonce; keep it for the retry ---------
    def post_once(self, url, obj, content_type=None, **kwargs):
        content_type = content_type or self.JOSE_CONTENT_TYPE
        new_nonce_url = kwargs.pop("new_nonce_url", None)
        nonce = self.take_nonce(url, new_nonce_url)
        try:
            data = self.sign(obj, nonce, url)
            kwargs.setdefault("headers", {"Content-Type": content_type})
            response = self.send_request("POST", url, data=data, **kwargs)
        finally:
            with self.nonce_ready:
                self.posts_in_flight -= 1
        try:
            self.store_nonce(response)
        except acme_errors.MissingNonce:
            pass  # the next POST fetches one from newNonce
        except acme_errors.BadNonce:
            pass
        return self.check_response(response, content_type=content_type)

    def get(self, url, content_type=None, **kwargs):
        content_type = content_type or self.JSON_CONTENT_TYPE
        parent = super()
        return self.with_retries(lambda: parent.get(url, content_type=content_type, **kwargs), url)

    def post(self, *args, **kwargs):
        url = args[0] if args else kwargs.get("url")
        return self.with_retries(lambda: self.post_once(*args, **kwargs), url)

    def retry_after_seconds(self):
        response = getattr(self.per_thread, "last_response", None)
        if response is None:
            return None
        return parse_retry_after(response.headers.get("Retry-After"))

    def with_retries(self, call, url):
        policy = self.policy
        last = None
        attempt = bad_nonces = 0
        while attempt < policy.attempts and bad_nonces < policy.bad_nonce_attempts:
            wait = retry_after = None
            pause = True  # every transient failure but badNonce waits before the next attempt
            try:
                return call()
            except messages.Error as error:
                status = getattr(getattr(self.per_thread, "last_response", None), "status_code", None)
                if error.code not in TRANSIENT_PROBLEMS and not (status and status >= 500):
                    raise problem_from_error(error, url, status)
                last = problem_from_error(error, url, status)
                if error.code == "badNonce":  # a bad nonce needs no pause, only the fresh nonce
                    bad_nonces += 1
                    attempt -= 1
                    pause = False
                else:
                    retry_after = self.retry_after_seconds()
            except acme_errors.ConflictError:
                # The library turns every 409 into ConflictError and drops the problem document
                # (for example RFC 9773 alreadyReplaced): read it back from the response.
                response = getattr(self.per_thread, "last_response", None)
                try:
                    body = response.json()
                except (ValueError, AttributeError):
                    body = {}
                raise AcmeProblem("ACME problem %s from %s: %s" % (body.get("type"), url, body.get("detail")),
                                  problem_type=body.get("type"), detail=body.get("detail"), status=409, url=url)
            except acme_errors.ClientError as error:  # non-JSON error body (HTML 502 page, empty 503)
                response = getattr(self.per_thread, "last_response", None)
                status = getattr(response, "status_code", None)
                if not status or (status < 500 and status != 429):
                    raise AcmeUnavailable("unexpected answer from %s: HTTP %s %s"
                                          % (url, status, _short(response)), url=url, status=status)
                last = AcmeUnavailable("HTTP %s from %s: %s" % (status, url, _short(response)),
                                       url=url, status=status)
                retry_after = self.retry_after_seconds()
            except requests.exceptions.SSLError as error:
                verify_failure = _verify_failure(error)
                if verify_failure:
                    raise self.untrusted_ca(url, verify_failure)
                # Other TLS errors (a reset during the handshake) may be transient: retried like a connection error.
                last = AcmeUnavailable("cannot reach the CA at %s: TLS error: %s" % (url, _reason(error)), url=url)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                last = AcmeUnavailable("cannot reach the CA at %s: %s" % (url, _reason(error)), url=url)
            attempt += 1
            if retry_after is not None:
                remaining = policy.remaining()
                if retry_after >= remaining:
                    # Waiting would outlast the budget and then fail anyway: say so now, with both figures.
                    raise _giving_up(last, "the CA asks to retry after %.0f s (Retry-After), more than the %.0f s "
                                           "left of acme_timeout=%.0f s; not waiting. Run again later, or raise "
                                           "acme_timeout" % (retry_after, max(remaining, 0), policy.timeout))
                wait = retry_after
            elif pause:
                wait = policy.backoff(attempt - 1)
            if wait and attempt < policy.attempts:
                if wait >= policy.remaining():
                    break
                policy.sleep(wait)
        if isinstance(last, AcmeProblem):
            raise _giving_up(last, "gave up after %d attempts" % (attempt + bad_nonces))
        raise AcmeUnavailable("%s (gave up after retries within acme_timeout=%.0f s)"
                              % (last.msg if last else "no answer from %s" % url, policy.timeout),
                              url=url)

    def untrusted_ca(self, url, reason):
        """The error for a CA whose HTTPS certificate the control node does not trust: never retried."""
        if isinstance(self.verify_ssl, str):
            hint = ("the CA bundle %s (acme_ca_bundle) does not hold the CA that signed the server's certificate; "
                    "point acme_ca_bundle at the right PEM file" % self.verify_ssl)
        else:
            hint = ("the control node's trust store does not hold the CA that signed the server's certificate; "
                    "for a private or test CA (such as Pebble) set acme_ca_bundle to its PEM file")
        return AcmeUnavailable("TLS certificate verification failed for %s: %s. %s (or check for an intercepting "
                               "proxy). Not retried: waiting cannot fix trust" % (url, reason, hint),
                               url=url, reason="certificate_verify_failed")


def _giving_up(last, note):
    """``last`` (the error of the last attempt) with why we stopped appended to its message."""
    last.msg = "%s (%s)" % (last.msg, note)
    last.args = (last.msg,)
    return last


def _verify_failure(error):
    """The reason of a certificate verification failure in a requests SSLError, or None for another TLS error."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" not in text and "certificate verify failed" not in text:
        return None
    found = re.search(r"certificate verify failed: ([^(')\]]+)", text)
    return "certificate verify failed: %s" % found.group(1).strip() if found else "certificate verify failed"


def _short(response):
    if response is None:
        return ""
    text = (response.text or "").strip().replace("\n", " ")
    return text[:200]


def _reason(error):
    # requests nests the useful part (Connection refused, timed out) a few levels deep.
    text = str(error)
    for marker in ("Connection refused", "timed out", "Name or service not known", "CERTIFICATE_VERIFY_FAILED"):
        if marker in text:
            return marker
    return text[:200]
