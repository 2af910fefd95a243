"""Django settings of the tests' CAS server (tests/support/cas_server.py): django-cas-server and no more.

Everything site-specific comes from the environment the test sets: the secret, the
database file, the one test user (cas_server.auth.TestAuthUser) and the port.
"""

import os

SECRET_KEY = os.environ["CAS_TEST_SECRET"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "cas_server",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["CAS_TEST_DATABASE"]}}
STATIC_URL = "/static/"
USE_TZ = True
CAS_AUTH_CLASS = "cas_server.auth.TestAuthUser"
CAS_TEST_USER = os.environ["CAS_TEST_USER"]
CAS_TEST_PASSWORD = os.environ["CAS_TEST_PASSWORD"]
CAS_TEST_ATTRIBUTES = {}
CAS_SHOW_POWERED = False
