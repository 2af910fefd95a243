"""The tests' CAS server answers at /cas/ (login, serviceValidate, logout)."""

from django.urls import include, path

urlpatterns = [path("cas/", include("cas_server.urls", namespace="cas_server"))]
