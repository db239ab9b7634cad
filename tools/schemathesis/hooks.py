"""Schemathesis hooks for aplomb's contract run.

An Idempotency-Key makes a repeated request return its first answer, and the same key sent
with a different body is refused (422), as the IETF draft on the header asks. Generated
requests reuse short keys across different bodies, so each valid key is made unique just
before the call: the header is still sent, and a refusal means a real fault. A key that is
invalid on purpose (a negative test) is left as generated.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    # A case sent without credentials on purpose is left whole: it tests the 401.
    if "Authorization" in headers and isinstance(key, str) and VALID_KEY.match(key):
        case.headers = {**case.headers, "Idempotency-Key": uuid.uuid4().hex}
