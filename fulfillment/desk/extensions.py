"""Extension points for panels other apps add to desk screens.

The returns app (issue 5+) is not built yet; the Customer 360 page asks `customer_panels` for
extra panels and shows "No returns" until a provider is registered. A higher app (returns sits
above fulfillment) cannot be imported from here, so it registers itself from its
`AppConfig.ready`:

    from fulfillment.desk.extensions import register_customer_panel
    register_customer_panel(
        "returns", "Open returns", "returns/desk/_open_returns.html", open_returns
    )

where `open_returns(customer) -> dict` gives what the panel's template reads as `panel`
(`{{ panel.returns }}`; `customer` is there too). Keep each provider to a
fixed number of queries: the Customer 360 query count is pinned in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from customers.models import Customer


@dataclass(frozen=True)
class PanelProvider:
    key: str
    title: str
    template: str
    context: Callable[[Customer], dict[str, Any]]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    context: dict[str, Any]


_customer_panels: dict[str, PanelProvider] = {}

# Shown where a provider is expected but none is installed yet.
PLACEHOLDERS = {
    "returns": Panel(
        key="returns",
        title="Open returns",
        template="desk/_panel_placeholder.html",
        context={"message": "No returns"},
    ),
}


def register_customer_panel(
    key: str, title: str, template: str, context: Callable[[Customer], dict[str, Any]]
) -> None:
    _customer_panels[key] = PanelProvider(key, title, template, context)


def unregister_customer_panel(key: str) -> None:
    _customer_panels.pop(key, None)


def customer_panels(customer: Customer) -> list[Panel]:
    panels = [
        Panel(p.key, p.title, p.template, p.context(customer)) for p in _customer_panels.values()
    ]
    registered = {panel.key for panel in panels}
    panels += [panel for key, panel in PLACEHOLDERS.items() if key not in registered]
    return panels
