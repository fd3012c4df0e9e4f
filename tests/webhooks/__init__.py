"""Tests of the webhook receiver toolkit (``tahdah_async.webhooks``)."""
