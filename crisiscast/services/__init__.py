"""Use cases the console, webhooks and CLI call: publishing, accounts, subscribers, inbound keywords, delivery receipts."""
