"""The sync engine: runs, leases, upserts, deletion marks and previews."""
