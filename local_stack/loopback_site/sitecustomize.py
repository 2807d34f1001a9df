"""Run by every Python process of the local stack's Ray head: see local_stack.loopback."""

from local_stack import loopback

loopback.install()
