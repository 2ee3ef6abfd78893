"""The local Azure: an HTTPS server on loopback that speaks the REST contracts amlmon uses.

Product code (everything outside this package and `amlmon.cli.emulator`) never imports it; it finds the
emulator through the state file described in `amlmon.clouds`.
"""
