"""The operator console: a small HTTPS web app served by the daemon (off by default).

``config`` its settings, ``passwords`` the scrypt hash, ``sessions`` logins, expiry and CSRF tokens,
``feed`` the live frame, ``journal`` passages and faults from the event stream, ``actions`` what a page
may change (through the daemon's own enrol, erase and reload paths), ``web`` the routes, ``server`` the
thread that runs it, ``commands`` ``edged console hash-password``.
"""
