"""Shared helpers of the host-SDK proofs of the API fakes: each provider's
`tests/sdk/prove.py` imports this module (the kit puts this folder on PYTHONPATH), runs its
checks with `check`, and ends with `finish()`, which exits non-zero with one line per failed
check.
"""

import json
import os
import sys
import traceback

FAILED = []


def check(name, fn):
    try:
        fn()
        print(f"ok   {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        FAILED.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        traceback.print_exc(limit=3)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_raises(exc, fn, contains=None):
    try:
        fn()
    except exc as e:
        text = str(e) + " " + json.dumps(getattr(e, "body", None), default=str)
        if contains is not None and contains not in text:
            raise AssertionError(f"{exc.__name__} without {contains!r}: {text}") from e
        return e
    raise AssertionError(f"expected {exc.__name__}")


def finish():
    if FAILED:
        print(f"{len(FAILED)} check(s) failed: {', '.join(FAILED)}")
        sys.exit(1)
    print("all checks passed")
