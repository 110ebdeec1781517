from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from orders.models import ChannelAPIKey


class ChannelClient:
    """The request.user of a storefront call: the channel, not a person."""

    is_authenticated = True
    is_staff = False
    is_superuser = False
    is_active = True
    pk = None
    id = None

    def __init__(self, channel) -> None:
        self.channel = channel

    def __str__(self) -> str:
        return f"channel:{self.channel.code}"


class ChannelAPIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`; the key is looked up by prefix and checked by hash."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The Api-Key header has no key.")
        try:
            api_key = ChannelAPIKey.objects.get_from_key(key)
        except ChannelAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        return ChannelClient(api_key.channel), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class ChannelAPIKeyScheme(OpenApiAuthenticationExtension):
    """Documents the key in the OpenAPI schema (`ApiKeyAuth`), so clients and schema-driven
    test tools know how to authenticate."""

    target_class = ChannelAPIKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: the sales channel's key.",
        }
