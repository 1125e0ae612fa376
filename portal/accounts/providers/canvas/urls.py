"""The Canvas provider's login and callback URLs (allauth's usual shape)."""

from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from portal.accounts.providers.canvas.provider import CanvasProvider

urlpatterns = default_urlpatterns(CanvasProvider)
