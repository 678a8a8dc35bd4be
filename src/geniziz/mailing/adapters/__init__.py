"""One adapter per platform, each with the same shape (base.Adapter)."""

from geniziz.mailing.adapters.base import Adapter, Connection, Person, Polled, Pushed
from geniziz.mailing.adapters.brevo import Brevo
from geniziz.mailing.adapters.klaviyo import Klaviyo
from geniziz.mailing.adapters.mailchimp import Mailchimp

PLATFORMS: dict[str, Adapter] = {adapter.name: adapter for adapter in (Mailchimp(), Brevo(), Klaviyo())}

__all__ = ["PLATFORMS", "Adapter", "Connection", "Person", "Polled", "Pushed"]
