from rest_framework.permissions import BasePermission


class IsChannelOrStaff(BasePermission):
    """A storefront with a valid channel API key, or a staff member logged in to the back-office."""

    message = "Authenticate with an Api-Key header or as staff."

    def has_permission(self, request, view) -> bool:
        if getattr(request.auth, "channel_id", None):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
