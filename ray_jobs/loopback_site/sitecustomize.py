"""Run by every Python process of the local stack's Ray head: see ray_jobs.loopback."""

from ray_jobs import loopback

loopback.install()
