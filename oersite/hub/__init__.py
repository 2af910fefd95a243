"""The course hubs: configuration, the single-sign-on authenticator, and a local runner.

Two kinds of module live here.  ``settings``, ``configurer`` and
``authenticator`` run inside a hub (the generated ``jupyterhub_config.py``
imports them), so they import only the standard library, traitlets and
JupyterHub.  ``course_settings``, ``bundle``, ``serve``, ``check`` and ``cli`` run
where the course is built and read the validated ``Course``.
"""
