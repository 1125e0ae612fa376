"""A django-allauth provider for Canvas LMS (allauth has none)."""
