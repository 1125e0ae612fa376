"""The REST API for front ends (Django REST framework, OpenAPI)."""
