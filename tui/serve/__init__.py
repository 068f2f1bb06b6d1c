"""`comfyq serve`: the app in a browser, one app process per browser tab (textual-serve), behind an access guard.

`access` decides who may come in (token, Host and Origin checks: no Textual, no aiohttp app needed to test it);
`server` wraps textual-serve's aiohttp app with that guard, bounds the sessions and ends their processes.
"""
