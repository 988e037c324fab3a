"""Delivery: the send ledger (and, to come, the channel adapters and `huitou send`)."""
