"""The pure core: statuses and drafts, rendering to each channel's limits, text limits, phone numbers. No I/O, and no Flask, RQ or Redis."""
