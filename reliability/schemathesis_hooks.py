"""schemathesis hooks for hostile_input (loaded by `st` through SCHEMATHESIS_HOOKS).

`GET /api/v1/availability/?sku=…` takes an array, and schemathesis' dictionaries hold only
strings and numbers, so they cannot name real SKUs there: without this hook every generated
availability request named unknown SKUs and met a 400. Here half of the well-formed queries
ask for real SKUs instead (those in HOSTILE_SKUS, comma-separated).
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import strategies as st

SKUS = [code for code in os.environ.get("HOSTILE_SKUS", "").split(",") if code]


@schemathesis.hook.apply_to(path="/api/v1/availability/")
def flatmap_query(context, query):
    codes = query.get("sku") if isinstance(query, dict) else None
    well_formed = isinstance(codes, list) and codes and all(isinstance(c, str) for c in codes)
    if not SKUS or not well_formed:
        return st.just(query)  # negative cases stay as generated
    real = st.lists(st.sampled_from(SKUS), min_size=1, max_size=len(SKUS))
    return st.one_of(st.just(query), real.map(lambda chosen: {**query, "sku": chosen}))
