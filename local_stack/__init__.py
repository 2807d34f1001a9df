"""The outermost ring: what a person runs on a laptop (the `burnout` command)."""
