"""Stage SLAs and jeopardy alerts: telling staff before a promise breaks (DESIGN flow 4)."""
