"""Issue a storefront API key. The key is printed once, as the last line, and only its hash is
stored, so `KEY=$(manage.py create_api_key web | tail -n1)` is the way to capture it."""

from django.core.management.base import BaseCommand, CommandError

from orders.models import ChannelAPIKey, SalesChannel


class Command(BaseCommand):
    help = "Create an API key for a sales channel and print it (the last line is the key)."

    def add_arguments(self, parser):
        parser.add_argument("channel_code", help="The sales channel's code, e.g. web.")
        parser.add_argument(
            "--name", default="cli", help="What the key is for, shown in the admin (default: cli)."
        )

    def handle(self, *args, channel_code: str, name: str, **options):
        try:
            channel = SalesChannel.objects.get(code=channel_code)
        except SalesChannel.DoesNotExist:
            known = ", ".join(SalesChannel.objects.values_list("code", flat=True))
            raise CommandError(
                f"Unknown channel {channel_code!r}. Known channels: "
                f"{known or 'none (run manage.py seed_demo or add one in the admin)'}."
            ) from None
        if not channel.is_active:
            self.stderr.write(
                self.style.WARNING(
                    f"Channel {channel.code} is inactive: the key is refused until it is active."
                )
            )
        api_key, key = ChannelAPIKey.objects.create_key(name=name, channel=channel)
        self.stdout.write(
            f"Created API key {name!r} (prefix {api_key.prefix}) for channel {channel.code}. "
            "It is shown only now; send it as `Authorization: Api-Key <key>`."
        )
        self.stdout.write(key)
