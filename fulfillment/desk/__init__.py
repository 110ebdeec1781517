"""The call-center desk: server-rendered screens under /desk/ (Django templates + htmx).

It lives in fulfillment because its order screens need delivery options and order changes, and
a workflow spanning apps lives in the highest app it touches. Views are thin: reads go through
`selectors.py`, writes through the same services the API uses. Every view is wrapped in
`desk_permission_required` (`permissions.py`); `tests/desk/test_permissions.py` checks that.
"""
