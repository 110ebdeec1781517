"""`make reliability`: faults and hostile input against real processes (issue 6 §2).

One module per scenario; each says what it tried and what it found, and fails on any broken
invariant. The invariant checks take a `Client` (harness.py), so the fast subset in
tests/reliability/ runs the very same checks in-process at a small scale.
"""
